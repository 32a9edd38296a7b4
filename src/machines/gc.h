/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdint.h>

#include "context.h"

/* A cache dir used this recently may belong to a running job: never removed. */
#define GC_CACHE_MIN_AGE_SEC (15 * 60)

typedef struct GcStats {
        unsigned machines, generations, caches;
        uint64_t freed;
} GcStats;

typedef enum GcScope {
        GC_AFTER_JOB, /* the cleanup of a job: keeps what the next job would make again */
        GC_FULL,
        _GC_SCOPE_MAX,
        _GC_SCOPE_INVALID = -EINVAL,
} GcScope;

/* Removes leftovers of crashed jobs (machines whose init is gone and that no prepare is making),
 * generations of images that are neither current nor used, and — while the state dir's filesystem
 * is fuller than threshold percent (0: never) — least recently used cache dirs; GC_FULL also the
 * isolated machines' firewall when none is left. Never removes anything a running job uses. */
int gc_run(const Context *c, unsigned threshold, GcScope scope, GcStats *ret);
/* gc_threshold of the configuration file in the config dir, or the default (a bad file says why). */
unsigned gc_threshold_configured(const Context *c);
