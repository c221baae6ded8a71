#!/bin/sh
# Installs the Debian packages herd builds and tests with, only when something is missing.
# Called by `make deps` (and so by `make`, `make test`, `make demo`); safe to run again.
set -e
PKGS="build-essential pkg-config libzmq3-dev libcurl4-openssl-dev libprotobuf-c-dev \
protobuf-c-compiler uuid-dev libssl-dev libyaml-dev libjansson-dev libmicrohttpd-dev libczmq-dev libcmocka-dev libpcre2-dev zlib1g-dev \
python3 python3-pytest curl libjs-chart.js help2man"
[ -n "$HERD_DEPS_EXTRA" ] && PKGS="$PKGS $HERD_DEPS_EXTRA"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "make deps: installing$missing"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
