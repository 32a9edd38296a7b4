/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runnerd: gc and the images' disk usage, which can take minutes on big images, run in a
 * child that reports back over a pipe (daemon-scan-report.h), never in the event loop. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "fs-usage.h"
#include "gc.h"
#include "image.h"
#include "log.h"
#include "util.h"

#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_WHO_PROCESS 1

static void scan_images_into(Daemon *d, ScanReport *r) {
        _cleanup_strv_free_ char **names = NULL;

        if (image_list_names(&d->ctx, &names) < 0)
                return;
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *link = context_image_dir(&d->ctx, *n), *path = NULL;
                uint64_t bytes = 0;

                if (link && (path = realpath(link, NULL)))
                        (void) fs_usage(path, &bytes);
                if (daemon_scan_report_add(r, *n, bytes) == -E2BIG)
                        break;
        }
}

/* In the child: gently, as jobs may be running. */
static int scan_child(Daemon *d, const void *arg) {
        const bool *gc = arg;
        _cleanup_free_ char *text = NULL;
        ScanReport r = {};

        (void) setpriority(PRIO_PROCESS, 0, 10);
        (void) syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT);
        if (*gc) {
                (void) gc_run(&d->ctx, d->config.gc_threshold, GC_FULL, &r.gc);
                r.has_gc = true;
        }
        scan_images_into(d, &r);
        text = daemon_scan_report_format(&r);
        return text && loop_write(STDOUT_FILENO, text, strlen(text)) >= 0 ? 0 : 1;
}

static void on_scan_line(Daemon *d, const char *line, size_t n) {
        if (d->scan_error == 0)
                d->scan_error = daemon_scan_report_feed(&d->scan_report, line, n);
}

static void scan_apply(Daemon *d) {
        const GcStats *g = &d->scan_report.gc;

        if (g->machines || g->generations || g->caches)
                log_notice("gc: removed %u leftover machine(s), %u unused generation(s), %u cache dir(s); freed %.1f MiB",
                           g->machines, g->generations, g->caches, (double) g->freed / (1 << 20));
        daemon_scan_report_done(&d->images);
        d->images = d->scan_report;
        d->scan_report = (ScanReport) {};
        d->st.images = (unsigned) d->images.n_images;
}

/* One line for each scan that went wrong, from here only. */
static void on_scan_exit(Daemon *d, const siginfo_t *si) {
        int r = d->scan_error;
        char how[64];

        if (r == 0 && d->scan.overlong)
                r = -EBADMSG;
        if (r == 0)
                r = daemon_scan_report_finish(&d->scan_report);
        if (si->si_code != CLD_EXITED || si->si_status != 0)
                log_warning("The image scan%s failed (%s); sizes are from the last good one.", d->scan_gc ? " and gc" : "",
                            daemon_child_exit_describe(si, how, sizeof(how)));
        else if (r < 0)
                log_warning_errno(r, "The image scan sent a report that does not parse (%m); ignored.");
        else
                scan_apply(d);
        daemon_scan_report_done(&d->scan_report);
        d->scan_error = 0;
        daemon_update(d);
        daemon_outputs_write(d, true);
        if (d->scan_pending) {
                d->scan_pending = false;
                daemon_scan_request(d, d->scan_pending_gc);
        }
}

void daemon_scan_request(Daemon *d, bool gc) {
        if (!d->scan.daemon)
                daemon_child_init(&d->scan, d, "image scan", on_scan_line, on_scan_exit);
        if (d->scan.pid > 0) {
                log_info("An image scan is running: one more follows it.");
                d->scan_pending_gc = d->scan_pending ? d->scan_pending_gc || gc : gc;
                d->scan_pending = true;
                return;
        }
        /* gc must not take generations from under a refresh, nor look for a missing state dir. */
        d->scan_gc = gc && !d->st.refreshing && !d->st.state_dir_missing;
        daemon_scan_report_done(&d->scan_report);
        d->scan_error = 0;
        if (daemon_child_start(&d->scan, scan_child, &d->scan_gc) >= 0)
                log_info("Image scan%s started (pid %d).", d->scan_gc ? " and gc" : "", (int) d->scan.pid);
}

void daemon_scan_done(Daemon *d) {
        daemon_child_stop(&d->scan);
        daemon_scan_report_done(&d->scan_report);
        daemon_scan_report_done(&d->images);
}
