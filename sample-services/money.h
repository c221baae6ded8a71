/*
 * money — amounts are integer cents everywhere inside the sample services; this module is
 * the only place that converts between cents and what clients send or read ("12.34", 12.34).
 */
#ifndef HERD_SVC_MONEY_H
#define HERD_SVC_MONEY_H

#include <stdint.h>

#include "../common/buf.h"

/* Largest amount accepted from a client, in cents (one trillion currency units). */
#define MONEY_MAX_CENTS 100000000000000LL

/* A decimal string ("12.34", "18.525000000000002", "-3") rounded to cents: 0, or -1 when it
 * is not a plain finite decimal number within MONEY_MAX_CENTS. */
int money_parse(const char *s, int64_t *cents);
/* A JSON number rounded to cents: 0, or -1 when out of range or not finite. */
int money_from_double(double v, int64_t *cents);
/* Append cents as a 2-decimal string without quotes: 1234 -> 12.34, -5 -> -0.05. */
int money_put(buf_t *b, int64_t cents);

#endif
