/*
 * version — herd's version, one for every program and file it writes (-V/--version, the
 * JSON and HTML reports). A build may set it with -DHERD_VERSION='"..."'.
 */
#ifndef HERD_VERSION_H
#define HERD_VERSION_H

#ifndef HERD_VERSION
#define HERD_VERSION "0.1.0"
#endif

#endif
