/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"

void argv_done(Argv *a) {
        for (size_t i = 0; i < a->n; i++)
                free(a->v[i]);
        free(a->v);
        *a = ARGV_INIT;
}

/* Takes s (freeing it on failure). */
static int argv_consume(Argv *a, char *s) {
        char **grown;

        if (a->error >= 0 && !s)
                a->error = -ENOMEM;
        if (a->error >= 0 && a->n >= ARGV_ENTRIES_MAX)
                a->error = -E2BIG;
        if (a->error < 0) {
                free(s);
                return a->error;
        }
        grown = reallocarray(a->v, a->n + 2, sizeof(char *));
        if (!grown) {
                free(s);
                return a->error = -ENOMEM;
        }
        a->v = grown;
        a->v[a->n++] = s;
        a->v[a->n] = NULL;
        return 0;
}

int argv_add(Argv *a, const char *s) {
        assert(s);
        return argv_consume(a, a->error < 0 ? NULL : strdup(s));
}

int argv_addf(Argv *a, const char *format, ...) {
        char *s = NULL;
        va_list ap;

        if (a->error < 0)
                return a->error;
        va_start(ap, format);
        if (vasprintf(&s, format, ap) < 0)
                s = NULL;
        va_end(ap);
        return argv_consume(a, s);
}

int argv_add_strv(Argv *a, char *const *strv) {
        for (char *const *s = strv; *s; s++)
                (void) argv_add(a, *s);
        return a->error;
}
