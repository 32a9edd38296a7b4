/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

#include "context.h"

#define BUILDS_DIR "/builds"
#define CACHE_DIR "/cache"

/* Writes s as a JSON string literal (quotes included). */
void json_write_string(FILE *f, const char *s);
/* Writes s as a TOML basic string (quotes included). */
void toml_write_string(FILE *f, const char *s);

/* config_exec: the JSON gitlab-runner reads. */
int gitlab_config_write(const Context *c, FILE *f);
/* A [[runners]] section that runs this executor; self is the absolute path of this program. */
int gitlab_toml_write(const Context *c, const char *self, FILE *f);
