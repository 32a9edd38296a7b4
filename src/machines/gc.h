/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "context.h"

/* Above this share of the state dir's filesystem in use, old cache dirs go. */
#define GC_THRESHOLD_DEFAULT 90
/* A cache dir used this recently may belong to a running job: never removed. */
#define GC_CACHE_MIN_AGE_SEC (15 * 60)

typedef struct GcStats {
        unsigned machines, generations, caches;
        uint64_t freed;
} GcStats;

/* Removes leftovers of crashed jobs (machines whose init is gone and that no prepare is making),
 * generations of images that are neither current nor used, and — while the state dir's filesystem
 * is fuller than threshold percent (0: never) — least recently used cache dirs. Never removes
 * anything a running job uses. */
int gc_run(const Context *c, unsigned threshold, GcStats *ret);
/* gc_threshold of the configuration file in the config dir, or the default (a bad file says why). */
unsigned gc_threshold_configured(const Context *c);
