/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* "key=value" text, one assignment per line; blank lines and lines starting with '#' are skipped,
 * blanks around key and value are dropped, and CRLF line ends are accepted. */

#define KV_LINE_MAX 4096

typedef int (*kv_callback_t)(const char *key, const char *value, unsigned line, void *userdata);

/* Calls cb for each assignment; stops at the first error (a line without '=', an empty key, a line
 * longer than KV_LINE_MAX, a NUL byte, or what cb returns) and reports its line in *ret_line. */
int kv_parse(const char *text, size_t size, kv_callback_t cb, void *userdata, unsigned *ret_line);

/* kv_parse() of a whole file of at most max_size bytes. */
int kv_parse_file(const char *path, size_t max_size, kv_callback_t cb, void *userdata, unsigned *ret_line);
