/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>

#include "daemon-status.h"

static bool attention(const DaemonStatus *s) {
        return s->problem || s->refresh_failed || s->state_dir_missing || s->disk_full;
}

LedState daemon_status_led_state(const DaemonStatus *s) {
        if (!s->ready)
                return LED_BOOTING;
        if (s->refreshing)
                return LED_REFRESHING;
        if (attention(s))
                return LED_ATTENTION;
        if (s->jobs > 0)
                return LED_BUSY;
        return LED_IDLE;
}

static const char *plural(unsigned n) {
        return n == 1 ? "" : "s";
}

void daemon_status_format(const DaemonStatus *s, char *buf, size_t size) {
        char base[64];

        if (size == 0)
                return;
        if (s->jobs == 0)
                snprintf(base, sizeof(base), "idle, %u image%s", s->images, plural(s->images));
        else
                snprintf(base, sizeof(base), "%u job%s running, %u image%s", s->jobs, plural(s->jobs), s->images,
                         plural(s->images));

        if (!s->ready)
                snprintf(buf, size, "starting");
        else if (s->draining)
                snprintf(buf, size, "draining: %u job%s left before power-off", s->jobs, plural(s->jobs));
        else if (s->refreshing && s->refresh_image)
                snprintf(buf, size, "refreshing %s %u/%u", s->refresh_image, s->refresh_i, s->refresh_n);
        else if (s->refreshing)
                snprintf(buf, size, "refreshing");
        else if (s->problem)
                snprintf(buf, size, "attention: %s; %s", s->problem, base);
        else if (s->state_dir_missing)
                snprintf(buf, size, "attention: state dir missing; %s", base);
        else if (s->refresh_failed)
                snprintf(buf, size, "attention: refresh failed; %s", base);
        else if (s->disk_full)
                snprintf(buf, size, "attention: disk %u%% full; %s", s->disk_percent, base);
        else
                snprintf(buf, size, "%s", base);
}
