/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "macro.h"

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        return a && b ? streq(a, b) : a == b;
}

static inline const char *strempty(const char *s) {
        return s ?: "";
}

static inline bool isempty(const char *s) {
        return !s || !*s;
}

/* qsort() comparison of two char *. */
int strcmp_ptr(const void *a, const void *b);

/* Returns the rest of s after prefix, or NULL when s does not start with it. */
const char *startswith(const char *s, const char *prefix);

/* Parses a whole decimal number (no sign, no spaces); -EINVAL or -ERANGE otherwise. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi(const char *s, int *ret);

/* Replaces the string *field with a copy of s. */
int free_and_strdup(char **field, const char *s);

/* asprintf() that returns NULL on failure. */
char *strprintf(const char *format, ...) _printf_(1, 2);
char *path_join(const char *a, const char *b);

/* Reads a whole file, refusing ones larger than max_size (-EFBIG). The result is NUL-terminated. */
int read_full_fd(int fd, size_t max_size, char **ret, size_t *ret_size);
int read_full_file(const char *path, size_t max_size, char **ret, size_t *ret_size);
/* A string built with stdio: open_memstream() and its closing. m must stay where it is until
 * memstream_finish(), which returns the text, or NULL when building it failed. */
typedef struct MemStream {
        FILE *f;
        char *buf;
        size_t size;
} MemStream;
FILE *memstream_open(MemStream *m);
char *memstream_finish(MemStream *m);

/* The n lines, each followed by a newline, in one new string ("" for none). */
char *lines_join(char *const *lines, size_t n);
/* Writes a file through a temporary name and rename(), so readers see the old or the new file. */
int write_file_atomic(const char *path, const char *contents, mode_t mode);
/* Reads the first line of a small file into a new string, without the newline. */
int read_one_line_file(const char *path, char **ret);

int mkdir_p(const char *path, mode_t mode);
/* flock()s fd, a directory opened at path, with op; -ENOENT when the holder we waited for removed
 * it (path is now another one, or nothing). */
int flock_still_linked(int fd, const char *path, int op);
/* Removes the directory that holds path if it is empty. */
int rmdir_parent(const char *path);
/* Opens the directory that holds path; *ret_name points at path's last component. */
int open_parent_dir(const char *path, const char **ret_name, int *ret_fd);
/* Writes all of buf, retrying on EINTR and short writes. */
int loop_write(int fd, const void *buf, size_t n);

/* Reads a configuration-like file, logging why it cannot (too large, unreadable). A missing file is
 * -ENOENT, logged only when !missing_ok. */
int read_full_file_logged(const char *path, size_t max_size, bool missing_ok, char **ret, size_t *ret_size);

struct ucred;
/* The credentials of the peer of a connected unix socket. */
int socket_peer(int fd, struct ucred *ret);
/* Connects a SOCK_SEQPACKET socket to path; *ret_peer_uid is who listens at the other end. */
int seqpacket_connect(const char *path, uid_t *ret_peer_uid, int *ret_fd);
/* The same, and checks that root is at the other end (-EPERM if not). */
int seqpacket_connect_root(const char *path, int *ret_fd);

/* The program's absolute path in $PATH (only absolute entries count), or -ENOENT. */
int find_in_path(const char *name, char **ret);

/* name in the directory of the running executable (/proc/self/exe): the project's other binaries
 * and files installed beside it. Does not check that the file exists. */
int sibling_binary_path(const char *name, char **ret);
