/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#define IMAGE_NAME_MAX 64

typedef enum ImageNameError {
        IMAGE_NAME_OK,
        IMAGE_NAME_EMPTY,
        IMAGE_NAME_TOO_LONG,
        IMAGE_NAME_HAS_SLASH,
        IMAGE_NAME_HAS_DOTDOT,
        IMAGE_NAME_LEADING_DOT,
        IMAGE_NAME_HAS_NUL,
        IMAGE_NAME_BAD_CHAR,
        _IMAGE_NAME_ERROR_MAX,
        _IMAGE_NAME_ERROR_INVALID = -EINVAL,
} ImageNameError;

const char *image_name_error_to_string(ImageNameError e);

/* Reduces what a job asks for ("debian:bookworm", "registry.example:5000/x/base:unstable@sha256:…",
 * "docker.io/library/debian") to the name of a chroot ("bookworm", "unstable", "debian"): the digest
 * is dropped, then the last path component is taken, then its tag when it has one.
 * ref has length n and may contain NUL bytes (they are refused). On success *ret is a new string;
 * -ENOMEM when out of memory. */
ImageNameError image_name_reduce(const char *ref, size_t n, char **ret);

/* Whether name may name a chroot directory in the state dir. */
ImageNameError image_name_check(const char *name, size_t n);
/* image_name_check() of a string, saying why it fails in one line. Returns 0 or -EINVAL. */
int image_name_check_log(const char *name);
