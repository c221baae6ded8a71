#include "money.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int money_from_double(double v, int64_t *cents)
{
    if (!isfinite(v))
        return -1;
    double c = round(v * 100.0);
    if (c > (double)MONEY_MAX_CENTS || c < -(double)MONEY_MAX_CENTS)
        return -1;
    *cents = (int64_t)c;
    return 0;
}

int money_parse(const char *s, int64_t *cents)
{
    /* strtod alone would take " 1", "nan", "inf" and "0x10"; a plain decimal is wanted. */
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (!(*p >= '0' && *p <= '9') && *p != '.')
        return -1;
    if (strpbrk(s, "xXnNiI "))
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
        return -1;
    return money_from_double(v, cents);
}

int money_put(buf_t *b, int64_t cents)
{
    uint64_t mag = cents < 0 ? (uint64_t)(-(cents + 1)) + 1 : (uint64_t)cents;
    return buf_printf(b, "%s%llu.%02llu", cents < 0 ? "-" : "", (unsigned long long)(mag / 100),
                      (unsigned long long)(mag % 100));
}
