/* A tiny test harness: each tests/test_*.c is one executable, built with
 * ASan+UBSan; it prints one line per failure and closes with
 * "N passed, N failed", exiting non-zero on any failure. */
#ifndef CAIRN_TEST_H
#define CAIRN_TEST_H
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static int t_passed, t_failed;

#define CHECK(cond) do { \
    if (cond) t_passed++; \
    else { t_failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_STR(a, b) do { \
    const char *_a = (a), *_b = (b); \
    if (_a && _b && strcmp(_a, _b) == 0) t_passed++; \
    else { t_failed++; fprintf(stderr, "FAIL %s:%d: %s == \"%s\", expected \"%s\"\n", \
                               __FILE__, __LINE__, #a, _a ? _a : "(null)", _b ? _b : "(null)"); } \
} while (0)

#define CHECK_INT(a, b) do { \
    long long _a = (long long)(a), _b = (long long)(b); \
    if (_a == _b) t_passed++; \
    else { t_failed++; fprintf(stderr, "FAIL %s:%d: %s == %lld, expected %lld\n", \
                               __FILE__, __LINE__, #a, _a, _b); } \
} while (0)

#define TEST_MAIN_END() do { \
    printf("%s: %d passed, %d failed\n", __FILE__, t_passed, t_failed); \
    return t_failed ? 1 : 0; \
} while (0)
#endif
