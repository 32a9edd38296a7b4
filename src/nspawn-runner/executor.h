/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "context.h"
#include "storage.h"

/* The custom executor's stages. Each returns the process exit status gitlab-runner expects, having
 * logged one line on failure. */
int executor_prepare(const Context *c, const char *image_arg, const char *id_arg, const char *default_image,
                     StorageBackend storage);
int executor_run(const Context *c, const char *id_arg, const char *script, const char *stage);
int executor_cleanup(const Context *c, const char *id_arg);
