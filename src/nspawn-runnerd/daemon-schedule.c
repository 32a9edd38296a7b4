/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runnerd: maintenance at a time of day, hourly gc (in daemon-scan.c), and the drain before a power-off. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "drain.h"
#include "job-stats.h"
#include "log.h"
#include "time-util.h"
#include "unit.h"
#include "util.h"

/* ---- drain and power-off ---- */

static void power_off(Daemon *d) {
        if (sd_booted() > 0) {
                log_notice("No job left: powering off.");
                if (unit_start("poweroff.target", "replace-irreversibly") >= 0) {
                        d->drain_deadline = USEC_INFINITY; /* systemd stops us */
                        d->st.draining = false;
                        return;
                }
        }
        log_notice("No job left: would power off now (systemd is not PID 1).");
        (void) sd_event_exit(d->event, 0);
}

void drain_check(Daemon *d) {
        if (!d->st.draining || d->drain_deadline == USEC_INFINITY)
                return;
        if (d->st.jobs == 0)
                power_off(d);
        else if (now_monotonic_usec() >= d->drain_deadline) {
                log_warning("Drain timeout reached with %u job(s) still running.", d->st.jobs);
                power_off(d);
        }
}

static int on_drain_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        update(userdata);
        return 0;
}

void begin_drain(Daemon *d, const char *why) {
        int r;

        if (d->st.draining)
                return;
        log_notice("%s: taking no new jobs, powering off when the running ones ended (at most %u s).", why,
                   d->config.drain_timeout_sec);
        d->st.draining = true;
        r = drain_flag_set(d->ctx.state_dir);
        if (r < 0)
                log_warning_errno(r, "Cannot create %s/" DRAINING_FLAG ": %m", d->ctx.state_dir);
        if (sd_booted() > 0)
                (void) unit_kill(GITLAB_RUNNER_UNIT, "main", SIGQUIT); /* finishes its jobs, takes none */
        d->drain_deadline = now_monotonic_usec() + (uint64_t) d->config.drain_timeout_sec * USEC_PER_SEC;
        (void) sd_event_add_time(d->event, &d->drain_timer, CLOCK_MONOTONIC, d->drain_deadline, USEC_PER_SEC,
                                 on_drain_timer, d);
        update(d);
}

static int on_maint_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* The next time of day minute (local time) after now, in µs of CLOCK_REALTIME. */
static uint64_t next_maintenance(int minute) {
        time_t now = time(NULL), t = now;
        struct tm tm;

        for (int day = 0; day < 2 && t <= now; day++) {
                localtime_r(&now, &tm);
                tm.tm_mday += day;
                tm.tm_hour = minute / 60;
                tm.tm_min = minute % 60;
                tm.tm_sec = 0;
                tm.tm_isdst = -1;
                t = mktime(&tm);
        }
        return (uint64_t) t * USEC_PER_SEC;
}

static void maint_arm(Daemon *d) {
        uint64_t next;
        int r;

        if (d->config.maintenance_minute < 0)
                return;
        next = next_maintenance(d->config.maintenance_minute);
        if (d->maint_timer) {
                (void) sd_event_source_set_time(d->maint_timer, next);
                (void) sd_event_source_set_enabled(d->maint_timer, SD_EVENT_ONESHOT);
                return;
        }
        r = sd_event_add_time(d->event, &d->maint_timer, CLOCK_REALTIME, next, 60 * USEC_PER_SEC, on_maint_timer, d);
        if (r < 0)
                log_warning_errno(r, "Cannot schedule maintenance: %m");
}

static int on_maint_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        Daemon *d = userdata;

        log_notice("Scheduled maintenance.");
        (void) refresh_start(d);
        maint_arm(d);
        return 0;
}

static int on_gc(sd_event_source *s, uint64_t usec _unused_, void *userdata) {
        scan_request(userdata, true);
        (void) sd_event_source_set_time_relative(s, GC_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

int schedule_setup(Daemon *d) {
        int r;

        r = sd_event_add_time_relative(d->event, &d->gc_timer, CLOCK_MONOTONIC, GC_INTERVAL_USEC, 60 * USEC_PER_SEC, on_gc, d);
        if (r < 0)
                return log_error_errno(r, "Cannot add the gc timer: %m");
        maint_arm(d);
        if (d->config.maintenance_minute < 0)
                log_info("No scheduled maintenance (maintenance_time=off).");
        return 0;
}

void schedule_done(Daemon *d) {
        d->gc_timer = sd_event_source_disable_unref(d->gc_timer);
        d->maint_timer = sd_event_source_disable_unref(d->maint_timer);
        d->drain_timer = sd_event_source_disable_unref(d->drain_timer);
}
