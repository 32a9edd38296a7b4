/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runnerd's files: the Prometheus metrics, the plain-text status report for a person with the
 * SD card in a laptop, and the problems appliance-setup found (read, never written). */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "daemon-report.h"
#include "job-stats.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

void output_file_init(OutputFile *o, const char *path, const char *what, bool durable) {
        *o = (OutputFile) { .path = path, .what = what, .durable = durable };
}

void output_file_done(OutputFile *o) {
        free(o->written);
        o->written = NULL;
}

static int fsync_parent(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        const char *name;
        int r;

        r = open_parent_dir(path, &name, &fd);
        if (r < 0)
                return r;
        return fsync(fd) < 0 ? -errno : 0;
}

/* Writes contents when compare differs from what was written last (always when force); a failure
 * is logged once until a write works again. */
static void output_write(OutputFile *o, const char *compare, const char *contents, bool force) {
        int r;

        if (!o->path || (!force && o->written && streq(o->written, compare)))
                return;
        r = write_file_atomic(o->path, contents, 0644);
        if (r >= 0 && o->durable)
                r = fsync_parent(o->path);
        if (r < 0) {
                if (!o->failing)
                        log_warning_errno(r, "Cannot write the %s to %s: %m", o->what, o->path);
                o->failing = true;
                return;
        }
        if (o->failing)
                log_info("Wrote the %s to %s again.", o->what, o->path);
        o->failing = false;
        (void) free_and_strdup(&o->written, compare);
}

static void metrics_write(Daemon *d, uint64_t total, uint64_t failed, bool force) {
        _cleanup_free_ MetricsImage *images = calloc(d->images.n_images + 1, sizeof(MetricsImage));
        _cleanup_free_ char *text = NULL;

        if (!d->metrics_out.path || !images)
                return;
        for (size_t i = 0; i < d->images.n_images; i++)
                images[i] = (MetricsImage) { .name = d->images.images[i].name, .bytes = d->images.images[i].bytes };
        text = metrics_format(&(Metrics) {
                .jobs_running = d->st.jobs,
                .jobs_total = total,
                .jobs_failed = failed,
                .last_refresh_success = d->last_refresh,
                .last_refresh_time = d->last_refresh_time,
                .images = images,
                .n_images = d->images.n_images,
        });
        if (text)
                output_write(&d->metrics_out, text, text, force);
}

static void status_write(Daemon *d, uint64_t total, uint64_t failed) {
        _cleanup_free_ char *body = NULL, *text = NULL;

        if (!d->status_out.path)
                return;
        body = status_report_body(&(StatusReport) {
                .status = d->status_text,
                .jobs_running = d->st.jobs,
                .jobs_total = total,
                .jobs_failed = failed,
                .images = d->images.images,
                .n_images = d->images.n_images,
                .last_refresh = d->last_refresh,
                .last_refresh_time = d->last_refresh_time,
                .disk_known = !d->st.state_dir_missing,
                .disk_percent = d->st.disk_percent,
                .state_dir = d->ctx.state_dir,
                .problems = d->problems,
        });
        if (!body)
                return;
        /* The time it was written is not compared: an unchanged state is not written again. */
        if (d->status_out.written && streq(d->status_out.written, body))
                return;
        text = status_report_file(body, time(NULL));
        if (text)
                output_write(&d->status_out, body, text, false);
}

void outputs_write(Daemon *d, bool force) {
        uint64_t total = 0, failed = 0;

        if (!d->metrics_out.path && !d->status_out.path)
                return;
        (void) job_stats_load(d->ctx.state_dir, &total, &failed);
        metrics_write(d, total, failed, force);
        status_write(d, total, failed);
}

/* ---- the problems appliance-setup found ---- */

/* At most PROBLEMS_SIZE_MAX bytes of the file; *ret_more when there is more. */
static int problems_read_text(int fd, char *buf, size_t *ret_size, bool *ret_more) {
        size_t n = 0;

        while (n <= PROBLEMS_SIZE_MAX) {
                ssize_t k = read(fd, buf + n, PROBLEMS_SIZE_MAX + 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        *ret_more = n > PROBLEMS_SIZE_MAX;
        if (*ret_more) { /* the last whole line within the limit */
                char *nl = memrchr(buf, '\n', PROBLEMS_SIZE_MAX);
                n = nl ? (size_t) (nl - buf) : 0;
        }
        *ret_size = n;
        return 0;
}

static int problems_read(const char *path, char ***ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        _cleanup_strv_free_ char **lines = NULL;
        char buf[PROBLEMS_SIZE_MAX + 1];
        struct stat st;
        size_t size = 0, n;
        bool more = false;
        int r;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        r = problems_read_text(fd, buf, &size, &more);
        if (r >= 0)
                r = problems_parse(buf, size, &lines);
        if (r < 0)
                return r;
        if (more) {
                for (n = 0; lines[n]; n++)
                        ;
                lines[n] = strprintf("(more in %s)", path); /* problems_parse() leaves room for one more */
        }
        *ret = TAKE_PTR(lines);
        return 0;
}

static bool strv_equal(char **a, char **b) {
        for (; a && b && *a && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return (!a || !*a) && (!b || !*b);
}

static void problems_set(Daemon *d, char **lines) {
        if (strv_equal(d->problems, lines)) {
                strv_freep(&lines);
                return;
        }
        strv_freep(&d->problems);
        d->problems = lines;
        d->st.problem = lines && lines[0] ? lines[0] : NULL;
        if (!d->st.problem)
                log_notice("No setup problem (any more).");
        for (char **l = lines; l && *l; l++)
                log_warning("Setup problem: %s", *l);
}

void daemon_problems_refresh(Daemon *d) {
        char **lines = NULL;
        int r;

        if (!d->problems_path)
                return;
        r = problems_read(d->problems_path, &lines);
        if (r < 0 && r != -ENOENT) {
                if (r != d->problems_error)
                        log_warning_errno(r, "Cannot read the setup problems in %s: %m", d->problems_path);
                lines = calloc(2, sizeof(char *));
                if (lines)
                        lines[0] = strprintf("%s cannot be read (%s)", d->problems_path,
                                             r == -EBADMSG ? "not text: it holds a NUL byte"
                                             : r == -EBADFD ? "not a regular file" : strerror(-r));
        }
        d->problems_error = r == -ENOENT ? 0 : r;
        problems_set(d, lines);
}

static int on_problems(sd_event_source *s _unused_, const struct inotify_event *ev, void *userdata) {
        Daemon *d = userdata;
        _cleanup_free_ char *copy = strdup(d->problems_path);

        if (copy && ev->len > 0 && streq(ev->name, basename(copy))) {
                daemon_problems_refresh(d);
                update(d);
        }
        return 0;
}

/* Watches the file's directory; where that cannot be (yet), each tick reads the file. */
void daemon_problems_watch(Daemon *d) {
        _cleanup_free_ char *dir = NULL;
        int r;

        if (!d->problems_path || d->problems_source || !(dir = strdup(d->problems_path)))
                return;
        r = sd_event_add_inotify(d->event, &d->problems_source, dirname(dir),
                                 IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR,
                                 on_problems, d);
        if (r < 0 && r != -ENOENT)
                log_debug_errno(r, "Cannot watch %s (reading it every tick instead): %m", dir);
}

void daemon_problems_done(Daemon *d) {
        d->problems_source = sd_event_source_disable_unref(d->problems_source);
        strv_freep(&d->problems);
        d->st.problem = NULL;
}
