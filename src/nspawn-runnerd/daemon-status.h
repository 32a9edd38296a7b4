/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* What nspawn-runnerd shows: the LED state and the STATUS= line, decided from what it knows. Pure. */

#include <stdbool.h>
#include <stddef.h>

#include "led.h"

typedef struct DaemonStatus {
        bool ready;             /* the event loop runs */
        bool draining;          /* a long press asked for a power-off */
        bool refreshing;        /* a refresh runs */
        const char *refresh_image; /* the image being refreshed, NULL before the first one */
        unsigned refresh_i, refresh_n;
        bool refresh_failed;    /* the last refresh failed */
        bool state_dir_missing;
        bool disk_full;         /* the state dir's filesystem is fuller than disk_attention_percent */
        unsigned disk_percent;
        const char *problem;    /* the first line of appliance-setup's problems, NULL for none */
        unsigned jobs;
        unsigned images;
} DaemonStatus;

/* BOOTING until ready; then REFRESHING while a refresh runs; ATTENTION when something needs a
 * person (a setup problem, a failed refresh, a missing state dir, a full disk); BUSY with jobs; else IDLE. */
LedState daemon_status_led_state(const DaemonStatus *s);
/* The STATUS= text: "idle, 3 images", "2 jobs running, 3 images", "refreshing bookworm 2/3",
 * "draining: 1 job left before power-off", "attention: refresh failed; idle, 3 images", "attention: no data disk; idle, 0 images". Always
 * NUL-terminated, truncated to size. */
void daemon_status_format(const DaemonStatus *s, char *buf, size_t size);
