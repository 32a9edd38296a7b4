/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "process.h"
#include "storage.h"

#define MACHINE_STATE_SIZE_MAX (64U * 1024U)

/* What prepare records about a job's machine, so that run and cleanup — separate processes, maybe
 * after a crash — find it again. Written atomically; a field not yet known is left unset. */
typedef struct MachineState {
        char *image;      /* the image's name */
        char *image_path; /* the directory the machine was made from */
        StorageBackend backend;
        char *unit; /* the transient systemd unit, when systemd runs the machine */
        uid_t uid_base; /* the machine's user namespace maps 0 to this (see userns.h); 0 until chosen */
        char *cache_subdir; /* the project's directory in the cache dir (cache.h), NULL: no cache */
        bool suppress_sync; /* nspawn's --suppress-sync: the job's fsync()s are no-ops */
        ProcessId nspawn;
        ProcessId init;
} MachineState;

#define MACHINE_STATE_INIT { .backend = _STORAGE_BACKEND_INVALID }

void machine_state_done(MachineState *s);
/* Parses the text of a state file; on error *ret_line says which line was bad. */
int machine_state_parse(const char *text, size_t size, MachineState *ret, unsigned *ret_line);
char *machine_state_format(const MachineState *s);
int machine_state_load(const char *path, MachineState *ret);
int machine_state_save(const char *path, const MachineState *s);
