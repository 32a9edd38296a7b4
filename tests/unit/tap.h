/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A tiny TAP producer for the unit tests: each CHECK is one test point. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned tap_n, tap_failed;

#define CHECK(cond, ...)                                                       \
        do {                                                                   \
                tap_n++;                                                       \
                if (cond)                                                      \
                        printf("ok %u - ", tap_n);                             \
                else {                                                         \
                        tap_failed++;                                          \
                        printf("not ok %u - %s:%d: ", tap_n, __FILE__, __LINE__); \
                }                                                              \
                printf(__VA_ARGS__);                                           \
                printf("\n");                                                  \
        } while (0)

#define CHECK_STREQ(a, b, ...) CHECK((a) && (b) && strcmp((a), (b)) == 0, __VA_ARGS__)

static inline int tap_done(void) {
        printf("1..%u\n", tap_n);
        return tap_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
