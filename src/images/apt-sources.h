/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define APT_SOURCES_SIZE_MAX (1024U * 1024U)

/* Finds the Debian mirror in the text of an apt sources file: the first enabled "deb" source that
 * is not a security archive. deb822 selects the .sources format (else one-line .list). Returns 0 and
 * a new string, -ENOENT when the text names none, -EFBIG when it is too large. */
int apt_sources_find_mirror(const char *text, size_t size, bool deb822, char **ret);

/* The mirror of this host: /etc/apt/sources.list, then sources.list.d/ in order. root is the
 * directory that holds etc/ (normally "/"). */
int apt_host_mirror(const char *root, char **ret);
