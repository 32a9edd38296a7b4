/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

#include "macro.h"

/* More entries than any command line we build; past it argv_add() fails with -E2BIG rather than
 * drop the rest of the command line. */
#define ARGV_ENTRIES_MAX 1024U

/* A NULL-terminated vector of strings it owns (a command line or an environment), grown as needed.
 * The first failure sticks: every later add returns it and adds nothing, so a caller may add a run
 * of entries and look at the last result only. v is NULL until the first entry is added. */
typedef struct Argv {
        char **v;
        size_t n;
        int error;
} Argv;

#define ARGV_INIT ((Argv) {})

void argv_done(Argv *a);
/* Appends a copy of s. Returns 0, or the first error of this or an earlier add (-ENOMEM, -E2BIG). */
int argv_add(Argv *a, const char *s);
int argv_addf(Argv *a, const char *format, ...) _printf_(2, 3);
/* Appends a copy of each string of the NULL-terminated strv. */
int argv_add_strv(Argv *a, char *const *strv);
