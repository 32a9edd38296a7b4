/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static LogLevel max_level = LOG_LEVEL_NOTICE;
static const char *log_prefix = "nspawn-runner";

void log_set_max_level(LogLevel level) {
        max_level = level;
}

void log_raise_max_level(LogLevel level) {
        if (max_level < level)
                max_level = level;
}

LogLevel log_get_max_level(void) {
        return max_level;
}

void log_set_prefix(const char *prefix) {
        log_prefix = prefix;
}

int log_internal(LogLevel level, int error, const char *file, int line, const char *format, ...) {
        int saved = errno;
        int e = abs(error);

        if (level <= max_level) {
                char buf[2048];
                va_list ap;

                errno = e;
                va_start(ap, format);
                vsnprintf(buf, sizeof(buf), format, ap);
                va_end(ap);

                /* One line per message, whatever the message contains. */
                for (char *p = buf; *p; p++)
                        if (*p == '\n' || *p == '\r')
                                *p = ' ';

                if (max_level >= LOG_LEVEL_DEBUG)
                        fprintf(stderr, "%s: %s (%s:%d)\n", log_prefix, buf, file, line);
                else
                        fprintf(stderr, "%s: %s\n", log_prefix, buf);
        }

        errno = saved;
        return -e;
}
