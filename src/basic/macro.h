/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))

static inline void freep(void *p) {
        free(*(void **) p);
}

/* Also ends the variable's (or struct field's) hold on the number: a closed fd that still looks
 * valid would be closed a second time, or written to, once the kernel hands the number out again. */
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
        *fd = -EBADF;
}

static inline void closedirp(DIR **d) {
        if (*d) {
                int saved = errno;
                (void) closedir(*d);
                errno = saved;
        }
        *d = NULL;
}

static inline void strv_freep(char ***p) {
        if (!*p)
                return;
        for (char **s = *p; *s; s++)
                free(*s);
        free(*p);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_closedir_ _cleanup_(closedirp)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Hand ownership over explicitly: the variable no longer frees what it held. */
#define TAKE_PTR(p)                           \
        ({                                    \
                __typeof__(p) _taken_ = (p); \
                (p) = NULL;                   \
                _taken_;                      \
        })

#define TAKE_FD(fd)                \
        ({                         \
                int _taken_ = (fd); \
                (fd) = -EBADF;     \
                _taken_;           \
        })

#define RET_NERRNO(expr)                        \
        ({                                      \
                __typeof__(expr) _r_ = (expr);  \
                _r_ < 0 ? -errno : _r_;         \
        })

static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}
