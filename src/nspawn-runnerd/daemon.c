/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runnerd: the daemon's state, what it shows of it, and the run loop. The other parts are
 * daemon-hw.c (LED, button), daemon-refresh.c, daemon-control.c and daemon-schedule.c. */
#include <dirent.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "daemon.h"
#include "image.h"
#include "drain.h"
#include "job-stats.h"
#include "log.h"
#include "time-util.h"
#include "util.h"

static bool journal_attached(void) {
        return !isempty(getenv("JOURNAL_STREAM"));
}

/* Logs an event about one image or job: with a field for it when the journal takes our stderr. */
void log_event(const char *field, const char *value, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return;
        if (journal_attached() &&
            sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", 6, "%s=%s", field, value, "SYSLOG_IDENTIFIER=nspawn-runnerd",
                            NULL) >= 0)
                return;
        log_info("%s", msg);
}

/* ---- state ---- */

static unsigned count_jobs(Daemon *d) {
        _cleanup_closedir_ DIR *dir = NULL;
        struct dirent *de;
        unsigned n = 0;

        dir = opendir(d->machines_dir);
        if (!dir)
                return 0;
        while ((de = readdir(dir)))
                if (machine_key_check(de->d_name) >= 0)
                        n++;
        return n;
}

static void check_disk(Daemon *d) {
        struct statvfs sv;

        d->st.state_dir_missing = false;
        d->st.disk_full = false;
        if (statvfs(d->ctx.state_dir, &sv) < 0) {
                d->st.state_dir_missing = true;
                return;
        }
        if (sv.f_blocks > 0 && sv.f_blocks >= sv.f_bfree) {
                uint64_t used = sv.f_blocks - sv.f_bfree, avail = sv.f_bavail, total = used + avail;
                unsigned percent = total > 0 ? (unsigned) ((used * 100 + total - 1) / total) : 0;
                d->st.disk_percent = percent;
                d->st.disk_full = percent > d->config.disk_attention_percent;
        }
}

static void count_images(Daemon *d) {
        _cleanup_strv_free_ char **names = NULL;
        unsigned n = 0;

        if (image_list_names(&d->ctx, &names) < 0)
                return;
        while (names[n])
                n++;
        d->st.images = n;
}

/* ---- jobs ---- */

static int on_machines(sd_event_source *s _unused_, const struct inotify_event *ev, void *userdata) {
        Daemon *d = userdata;

        if (ev->len > 0 && machine_key_check(ev->name) >= 0) {
                if (ev->mask & (IN_CREATE | IN_MOVED_TO))
                        log_event("JOB_ID", ev->name, "Job %s started.", ev->name);
                else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
                        log_event("JOB_ID", ev->name, "Job %s ended.", ev->name);
                        scan_request(d, true); /* gc after jobs */
                }
        }
        update(d);
        return 0;
}

static void machines_watch(Daemon *d) {
        int r;

        if (d->inotify_source)
                return;
        if (access(d->ctx.state_dir, F_OK) < 0)
                return;
        (void) mkdir(d->machines_dir, 0755);
        r = sd_event_add_inotify(d->event, &d->inotify_source, d->machines_dir,
                                 IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR, on_machines, d);
        if (r < 0)
                log_warning_errno(r, "Cannot watch %s (counting jobs every %u s instead): %m", d->machines_dir,
                                  (unsigned) (TICK_USEC / USEC_PER_SEC));
}

/* ---- the whole state ---- */

void update(Daemon *d) {
        char text[PROTO_STATUS_MAX];
        LedState state;

        d->st.jobs = count_jobs(d);
        state = daemon_status_led_state(&d->st);
        if (led_animator_set_state(&d->anim, state, now_monotonic_usec()) > 0) {
                log_info("LED: %s.", led_state_to_string(state));
                led_refresh(d);
        }
        daemon_status_format(&d->st, text, sizeof(text));
        if (!streq(text, d->status_text)) {
                snprintf(d->status_text, sizeof(d->status_text), "%s", text);
                log_notice("Status: %s", text);
                (void) sd_notifyf(false, "STATUS=%s", text);
        }
        outputs_write(d, false);
        drain_check(d);
}

static int on_tick(sd_event_source *s, uint64_t usec _unused_, void *userdata) {
        Daemon *d = userdata;

        machines_watch(d);
        daemon_problems_watch(d);
        daemon_problems_refresh(d);
        hw_retry(d, false);
        check_disk(d);
        count_images(d);
        update(d);
        outputs_write(d, true);
        (void) sd_event_source_set_time_relative(s, TICK_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void daemon_done(Daemon *d) {
        refresh_done(d);
        hw_done(d);
        control_socket_close(d);
        schedule_done(d);
        scan_done(d);
        d->inotify_source = sd_event_source_disable_unref(d->inotify_source);
        d->tick_timer = sd_event_source_disable_unref(d->tick_timer);
        d->event = sd_event_unref(d->event);
        daemon_problems_done(d);
        output_file_done(&d->metrics_out);
        output_file_done(&d->status_out);
        free(d->config_dir);
        free(d->machines_dir);
        free(d->control_socket);
        config_done(&d->config);
}

/* The configuration, the command line over it, and the paths that follow from them. */
static int daemon_configure(Daemon *d, const DaemonOptions *o) {
        _cleanup_free_ char *conf = strdup(o->config_file);
        int r;

        if (!conf)
                return log_oom();
        r = config_load(o->config_file, &d->config);
        if (r < 0)
                return r;
        if (o->state_dir) {
                if (o->state_dir[0] != '/')
                        return log_error_errno(EINVAL, "The state directory must be an absolute path, not '%s'.", o->state_dir);
                r = free_and_strdup(&d->config.state_dir, o->state_dir);
                if (r < 0)
                        return log_oom();
        }
        d->config_dir = strdup(dirname(conf));
        d->control_socket = strdup(o->control_socket);
        if (!d->config.state_dir || !d->config_dir || !d->control_socket)
                return log_oom();
        d->ctx = (Context) {
                .state_dir = d->config.state_dir,
                .config_dir = d->config_dir,
                .build_failure_exit_code = 1,
                .system_failure_exit_code = 2,
        };
        d->machines_dir = context_machines_dir(&d->ctx);
        if (!d->machines_dir)
                return log_oom();
        d->problems_path = isempty(o->problems_file) ? NULL : o->problems_file;
        output_file_init(&d->metrics_out, d->config.metrics_file, "metrics", false);
        output_file_init(&d->status_out, isempty(o->status_file) ? NULL : o->status_file, "status report", true);
        return 0;
}

/* A drain flag left by an earlier run (power-off, crash) must not keep refusing jobs. */
static int drain_flag_clear(Daemon *d) {
        _cleanup_free_ char *flag = path_join(d->ctx.state_dir, DRAINING_FLAG);

        if (!flag)
                return log_oom();
        if (unlink(flag) >= 0)
                log_notice("Removed %s: taking jobs again.", flag);
        return 0;
}

static int event_setup(Daemon *d) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Cannot block signals: %m");
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "Cannot make the event loop: %m");
        r = sd_event_add_signal(d->event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_set_watchdog(d->event, true);
        if (r >= 0)
                r = sd_event_add_time_relative(d->event, &d->tick_timer, CLOCK_MONOTONIC, TICK_USEC, USEC_PER_SEC, on_tick, d);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the event loop: %m");
        return 0;
}

static int daemon_start(Daemon *d, const DaemonOptions *o) {
        int r;

        r = daemon_configure(d, o);
        if (r >= 0)
                r = drain_flag_clear(d);
        if (r >= 0)
                r = event_setup(d);
        if (r < 0)
                return r;
        led_open(d);
        r = led_timer_add(d);
        if (r >= 0)
                r = control_socket_open(d);
        if (r < 0)
                return r;
        button_setup(d);
        hw_watch(d);
        machines_watch(d);
        daemon_problems_watch(d);
        daemon_problems_refresh(d);
        r = schedule_setup(d);
        if (r < 0)
                return r;
        check_disk(d);
        count_images(d);
        scan_request(d, false);
        d->st.ready = true;
        update(d);
        outputs_write(d, true);
        return 0;
}

int daemon_run(const DaemonOptions *o) {
        _cleanup_(daemon_done) Daemon d = { .listen_fd = -EBADF, .last_refresh = -1 };
        int r;

        config_init(&d.config);
        led_backend_null(&d.led);
        r = daemon_start(&d, o);
        if (r < 0)
                return r;
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s", d.status_text);
        log_notice("Ready: %s (state dir %s, control socket %s).", d.status_text, d.ctx.state_dir, d.control_socket);

        r = sd_event_loop(d.event);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        log_notice("Stopped.");
        return 0;
}
