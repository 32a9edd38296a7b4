/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "button.h"
#include "config.h"
#include "context.h"
#include "daemon-status.h"
#include "daemon.h"
#include "fs-usage.h"
#include "gc.h"
#include "gpio.h"
#include "image.h"
#include "job-stats.h"
#include "led-backend.h"
#include "led.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "time-util.h"
#include "unit.h"
#include "util.h"

#define TICK_USEC (15 * USEC_PER_SEC)
#define GC_INTERVAL_USEC (3600 * USEC_PER_SEC)
#define LED_ACCURACY_USEC (1 * USEC_PER_MSEC)
#define REFRESH_LINE_MAX 1024
#define GITLAB_RUNNER_UNIT "gitlab-runner.service"

typedef struct Daemon {
        Config config;
        Context ctx;
        char *config_dir;
        char *machines_dir;
        char *control_socket;
        sd_event *event;

        LedBackend led;
        LedAnimator anim;
        sd_event_source *led_timer;

        GpioButton *gbutton;
        Button button;
        sd_event_source *button_io, *button_timer;

        int listen_fd;
        sd_event_source *listen_source, *inotify_source;
        sd_event_source *tick_timer, *gc_timer, *maint_timer, *drain_timer;

        pid_t refresh_pid;
        sd_event_source *refresh_child, *refresh_out;
        char line[REFRESH_LINE_MAX];
        size_t line_len;
        char refresh_image[PROTO_STAGE_MAX + 1];

        DaemonStatus st;
        int last_refresh; /* -1: none yet */
        time_t last_refresh_time;
        char status_text[PROTO_STATUS_MAX];
        char *metrics_text;
        bool metrics_failing;

        char **image_names; /* with sizes, as of the last scan */
        uint64_t *image_bytes;
        size_t n_images;

        uint64_t drain_deadline;
} Daemon;

static void update(Daemon *d);

static bool journal_attached(void) {
        return !isempty(getenv("JOURNAL_STREAM"));
}

/* Logs an event about one image or job: with a field for it when the journal takes our stderr. */
static void log_event(const char *field, const char *value, const char *format, ...) _printf_(3, 4);
static void log_event(const char *field, const char *value, const char *format, ...) {
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

/* ---- LED ---- */

static void led_refresh(Daemon *d) {
        uint64_t now = now_monotonic_usec(), next;
        bool on;

        led_animator_level(&d->anim, now, &on, &next);
        (void) led_backend_set(&d->led, on);
        if (!d->led_timer)
                return;
        if (next == USEC_INFINITY) {
                (void) sd_event_source_set_enabled(d->led_timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(d->led_timer, next);
        (void) sd_event_source_set_enabled(d->led_timer, SD_EVENT_ONESHOT);
}

static int on_led_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        led_refresh(userdata);
        return 0;
}

static void led_open(Daemon *d) {
        const HwSpec *h = &d->config.led;
        int r = 0;

        led_backend_null(&d->led);
        switch (h->kind) {
        case HW_AUTO:
                if (access("/sys/class/leds/ACT", F_OK) < 0) {
                        log_notice("No status LED (no /sys/class/leds/ACT): running without one.");
                        return;
                }
                r = led_backend_sysfs("/sys/class/leds/ACT", &d->led);
                break;
        case HW_SYSFS:
                r = led_backend_sysfs(h->path, &d->led);
                break;
        case HW_GPIO:
                r = led_backend_gpio(h->gpio.chip, h->gpio.line, h->gpio.active_low, &d->led);
                break;
        default:
                log_notice("No status LED configured: running without one.");
                return;
        }
        if (r < 0) /* the constructor said why, once */
                led_backend_null(&d->led);
}

/* ---- state ---- */

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static unsigned count_jobs(Daemon *d) {
        _cleanup_(closedirp) DIR *dir = NULL;
        struct dirent *de;
        unsigned n = 0;

        dir = opendir(d->machines_dir);
        if (!dir)
                return 0;
        while ((de = readdir(dir)))
                if (job_id_check(de->d_name) >= 0)
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

static void images_free(Daemon *d) {
        for (size_t i = 0; i < d->n_images; i++)
                free(d->image_names[i]);
        free(d->image_names);
        free(d->image_bytes);
        d->image_names = NULL;
        d->image_bytes = NULL;
        d->n_images = 0;
}

/* The images and their disk usage: after each refresh and hourly, as du takes a while. */
static void scan_images(Daemon *d) {
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0;

        images_free(d);
        if (image_list_names(&d->ctx, &names) < 0)
                return;
        while (names[n])
                n++;
        d->st.images = (unsigned) n;
        d->image_bytes = calloc(n + 1, sizeof(uint64_t));
        if (!d->image_bytes)
                return;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *link = context_image_dir(&d->ctx, names[i]), *path = NULL;
                uint64_t bytes = 0;

                if (link && (path = realpath(link, NULL)))
                        (void) fs_usage(path, &bytes);
                d->image_bytes[i] = bytes;
        }
        d->image_names = TAKE_PTR(names);
        d->n_images = n;
}

static void metrics_write(Daemon *d, bool force) {
        _cleanup_free_ MetricsImage *images = NULL;
        _cleanup_free_ char *text = NULL;
        uint64_t total = 0, failed = 0;
        int r;

        if (!d->config.metrics_file)
                return;
        (void) job_stats_load(d->ctx.state_dir, &total, &failed);
        images = calloc(d->n_images + 1, sizeof(MetricsImage));
        if (!images)
                return;
        for (size_t i = 0; i < d->n_images; i++)
                images[i] = (MetricsImage) { .name = d->image_names[i], .bytes = d->image_bytes[i] };
        text = metrics_format(&(Metrics) {
                .jobs_running = d->st.jobs,
                .jobs_total = total,
                .jobs_failed = failed,
                .last_refresh_success = d->last_refresh,
                .last_refresh_time = d->last_refresh_time,
                .images = images,
                .n_images = d->n_images,
        });
        if (!text)
                return;
        if (!force && d->metrics_text && streq(d->metrics_text, text))
                return;
        r = write_file_atomic(d->config.metrics_file, text, 0644);
        if (r < 0) {
                if (!d->metrics_failing)
                        log_warning_errno(r, "Cannot write metrics to %s: %m", d->config.metrics_file);
                d->metrics_failing = true;
                return;
        }
        d->metrics_failing = false;
        free(d->metrics_text);
        d->metrics_text = TAKE_PTR(text);
}

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

static void drain_check(Daemon *d) {
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

static void begin_drain(Daemon *d, const char *why) {
        _cleanup_free_ char *flag = path_join(d->ctx.state_dir, DRAINING_FLAG);
        int fd;

        if (d->st.draining)
                return;
        log_notice("%s: taking no new jobs, powering off when the running ones ended (at most %u s).", why,
                   d->config.drain_timeout_sec);
        d->st.draining = true;
        if (flag) {
                fd = open(flag, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
                if (fd < 0)
                        log_warning_errno(errno, "Cannot create %s: %m", flag);
                else
                        (void) close(fd);
        }
        if (sd_booted() > 0)
                (void) unit_kill(GITLAB_RUNNER_UNIT, "main", SIGQUIT); /* finishes its jobs, takes none */
        d->drain_deadline = now_monotonic_usec() + (uint64_t) d->config.drain_timeout_sec * USEC_PER_SEC;
        (void) sd_event_add_time(d->event, &d->drain_timer, CLOCK_MONOTONIC, d->drain_deadline, USEC_PER_SEC,
                                 on_drain_timer, d);
        update(d);
}

/* ---- refresh ---- */

static void refresh_parse_line(Daemon *d, const char *line) {
        char name[PROTO_STAGE_MAX + 1];
        unsigned i, n;

        if (sscanf(line, "[%u/%u] %64[^:]:", &i, &n, name) != 3)
                return;
        snprintf(d->refresh_image, sizeof(d->refresh_image), "%s", name);
        d->st.refresh_image = d->refresh_image;
        d->st.refresh_i = i;
        d->st.refresh_n = n;
        log_event("IMAGE", name, "refresh: %s", line);
}

/* Reads what the child wrote; returns 0 at EOF, 1 when more may come. */
static int refresh_read(Daemon *d, int fd) {
        for (;;) {
                ssize_t k = read(fd, d->line + d->line_len, sizeof(d->line) - 1 - d->line_len);
                char *nl;

                if (k < 0)
                        return errno == EAGAIN || errno == EINTR ? 1 : 0;
                if (k == 0)
                        return 0;
                d->line_len += (size_t) k;
                d->line[d->line_len] = 0;
                while ((nl = memchr(d->line, '\n', d->line_len))) {
                        size_t l = (size_t) (nl - d->line) + 1;
                        *nl = 0;
                        refresh_parse_line(d, d->line);
                        memmove(d->line, d->line + l, d->line_len - l);
                        d->line_len -= l;
                }
                if (d->line_len == sizeof(d->line) - 1)
                        d->line_len = 0; /* an overlong line: not one of ours */
        }
}

static int on_refresh_out(sd_event_source *s, int fd, uint32_t revents _unused_, void *userdata) {
        Daemon *d = userdata;

        if (refresh_read(d, fd) == 0) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        update(d);
        return 0;
}

static int on_refresh_exit(sd_event_source *s _unused_, const siginfo_t *si, void *userdata) {
        Daemon *d = userdata;
        bool ok = si->si_code == CLD_EXITED && si->si_status == 0;

        if (d->refresh_out) {
                (void) refresh_read(d, sd_event_source_get_io_fd(d->refresh_out));
                d->refresh_out = sd_event_source_disable_unref(d->refresh_out);
        }
        d->refresh_child = sd_event_source_disable_unref(d->refresh_child);
        d->refresh_pid = 0;
        d->line_len = 0;
        d->last_refresh = ok;
        d->last_refresh_time = time(NULL);
        d->st.refreshing = false;
        d->st.refresh_image = NULL;
        d->st.refresh_failed = !ok;
        if (ok)
                log_notice("Refresh succeeded.");
        else if (si->si_code == CLD_EXITED)
                log_error("Refresh failed with exit status %d.", si->si_status);
        else
                log_error("Refresh killed by signal %d.", si->si_status);
        scan_images(d);
        update(d);
        metrics_write(d, true);
        return 0;
}

static RefreshResult refresh_start(Daemon *d) {
        _cleanup_free_ char *dir = NULL, *exe = NULL;
        _cleanup_close_ int out_fd = -EBADF;
        int p[2], r;
        pid_t pid;

        if (d->st.refreshing)
                return REFRESH_ALREADY_RUNNING;
        if (d->st.draining)
                return REFRESH_REFUSED;
        r = self_exe_dir(&dir);
        if (r < 0 || !(exe = path_join(dir, "nspawn-runner"))) {
                log_error_errno(r < 0 ? r : ENOMEM, "Cannot find the nspawn-runner binary: %m");
                goto failed;
        }
        if (access(exe, X_OK) < 0) {
                log_error_errno(errno, "Cannot run %s: %m", exe);
                goto failed;
        }
        if (pipe2(p, O_CLOEXEC) < 0) {
                log_error_errno(errno, "Cannot make a pipe: %m");
                goto failed;
        }
        pid = fork();
        if (pid < 0) {
                log_error_errno(errno, "Cannot fork: %m");
                (void) close(p[0]);
                (void) close(p[1]);
                goto failed;
        }
        if (pid == 0) {
                sigset_t all;
                int null = open("/dev/null", O_RDONLY | O_NOCTTY);

                if (null >= 0)
                        (void) dup2(null, STDIN_FILENO);
                (void) dup2(p[1], STDOUT_FILENO);
                sigemptyset(&all);
                (void) signal(SIGPIPE, SIG_DFL);
                (void) sigprocmask(SIG_SETMASK, &all, NULL);
                execl(exe, exe, "--state-dir", d->ctx.state_dir, "--config-dir", d->config_dir, "chroot-maintenance",
                      (char *) NULL);
                _exit(127);
        }
        (void) close(p[1]);
        out_fd = p[0];
        (void) fcntl(out_fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_io(d->event, &d->refresh_out, out_fd, EPOLLIN, on_refresh_out, d);
        if (r >= 0) {
                (void) sd_event_source_set_io_fd_own(d->refresh_out, true);
                TAKE_FD(out_fd);
        }
        r = sd_event_add_child(d->event, &d->refresh_child, pid, WEXITED, on_refresh_exit, d);
        if (r < 0) {
                log_error_errno(r, "Cannot watch the refresh process: %m");
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                d->refresh_out = sd_event_source_disable_unref(d->refresh_out);
                goto failed;
        }
        d->refresh_pid = pid;
        d->st.refreshing = true;
        d->st.refresh_image = NULL;
        log_notice("Refresh started (%s chroot-maintenance, pid %d).", exe, (int) pid);
        update(d);
        return REFRESH_STARTED;

failed:
        d->last_refresh = 0;
        d->last_refresh_time = time(NULL);
        d->st.refresh_failed = true;
        update(d);
        return REFRESH_FAILED;
}

static int on_maint_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* The next time of day minute (local time) after now, in µs of CLOCK_REALTIME. */
static uint64_t next_maintenance(int minute) {
        time_t now = time(NULL), t;
        struct tm tm;

        localtime_r(&now, &tm);
        tm.tm_hour = minute / 60;
        tm.tm_min = minute % 60;
        tm.tm_sec = 0;
        tm.tm_isdst = -1;
        t = mktime(&tm);
        if (t <= now) {
                localtime_r(&now, &tm);
                tm.tm_mday++;
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

/* ---- button ---- */

static void button_arm(Daemon *d) {
        uint64_t next = button_next_deadline(&d->button);

        if (!d->button_timer)
                return;
        if (next == USEC_INFINITY) {
                (void) sd_event_source_set_enabled(d->button_timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(d->button_timer, next);
        (void) sd_event_source_set_enabled(d->button_timer, SD_EVENT_ONESHOT);
}

static void button_event(Daemon *d, ButtonEvent e) {
        RefreshResult r;

        if (e == BUTTON_SHORT_PRESS) {
                r = refresh_start(d);
                if (r == REFRESH_ALREADY_RUNNING)
                        log_info("Short press: a refresh is already running.");
                led_animator_ack(&d->anim, now_monotonic_usec());
                led_refresh(d);
        } else if (e == BUTTON_LONG_PRESS) {
                led_animator_ack(&d->anim, now_monotonic_usec());
                led_refresh(d);
                begin_drain(d, "Long press");
                update(d);
        }
}

static int on_button_io(sd_event_source *s _unused_, int fd _unused_, uint32_t revents _unused_, void *userdata) {
        Daemon *d = userdata;
        GpioEdge edges[16];
        int n;

        n = gpio_button_read(d->gbutton, edges, ELEMENTSOF(edges));
        for (int i = 0; i < n; i++)
                button_event(d, button_feed(&d->button, edges[i].pressed, edges[i].usec));
        button_arm(d);
        return 0;
}

static int on_button_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        Daemon *d = userdata;

        button_event(d, button_tick(&d->button, now_monotonic_usec()));
        button_arm(d);
        return 0;
}

static void button_setup(Daemon *d) {
        const HwSpec *h = &d->config.button;
        bool pressed = false;
        int r;

        if (h->kind != HW_GPIO) {
                log_notice("No button configured: running without one.");
                return;
        }
        r = gpio_button_open(h->gpio.chip, h->gpio.line, h->gpio.active_low, &d->gbutton);
        if (r < 0) {
                log_notice("Running without a button (GPIO %s:%s: %s).", h->gpio.chip, h->gpio.line, strerror(-r));
                return;
        }
        (void) button_init(&d->button, BUTTON_DEBOUNCE_USEC_DEFAULT, (uint64_t) d->config.button_hold_sec * USEC_PER_SEC);
        if (gpio_button_get(d->gbutton, &pressed) >= 0)
                (void) button_feed(&d->button, pressed, now_monotonic_usec());
        r = sd_event_add_io(d->event, &d->button_io, gpio_button_fd(d->gbutton), EPOLLIN, on_button_io, d);
        if (r >= 0)
                r = sd_event_add_time(d->event, &d->button_timer, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_MSEC,
                                      on_button_timer, d);
        if (r < 0) {
                log_warning_errno(r, "Cannot watch the button: %m");
                return;
        }
        button_arm(d);
}

/* ---- control socket ---- */

static int on_client(sd_event_source *s, int fd, uint32_t revents _unused_, void *userdata) {
        Daemon *d = userdata;
        int fds[_RUN_FD_MAX];
        size_t n_fds;
        Msg m;
        int r;

        r = msg_recv(fd, &m, fds, &n_fds);
        if (r == MSG_DAEMON_POWEROFF)
                begin_drain(d, "Asked to power off");
        if (r == MSG_DAEMON_STATUS || r == MSG_DAEMON_POWEROFF) {
                msg_init(&m, (MsgType) (r + 1));
                m.status_reply.jobs_running = d->st.jobs;
                m.status_reply.images = d->st.images;
                m.status_reply.last_refresh = d->last_refresh;
                m.status_reply.refreshing = d->st.refreshing;
                m.status_reply.last_refresh_time = d->last_refresh_time;
                snprintf(m.status_reply.status, sizeof(m.status_reply.status), "%s", d->status_text);
                (void) msg_send(fd, &m, NULL, 0);
        } else if (r == MSG_DAEMON_REFRESH) {
                RefreshResult res = refresh_start(d);
                msg_init(&m, MSG_DAEMON_REFRESH_REPLY);
                m.refresh_reply.result = res;
                (void) msg_send(fd, &m, NULL, 0);
        } else if (r != -EAGAIN)
                log_warning("Control socket: refused a malformed or unexpected request.");
        if (r == -EAGAIN)
                return 0;
        sd_event_source_disable_unref(s); /* closes fd */
        return 0;
}

static int on_accept(sd_event_source *s _unused_, int fd, uint32_t revents _unused_, void *userdata) {
        Daemon *d = userdata;
        _cleanup_close_ int c = -EBADF;
        sd_event_source *cs = NULL;
        struct ucred cred = { .uid = UINT_MAX };
        int r;

        c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0)
                return 0;
        if (socket_peer(c, &cred) < 0 || cred.uid != 0) {
                log_warning("Control socket: refused a connection from uid %u (only root may use it).", (unsigned) cred.uid);
                return 0;
        }
        r = sd_event_add_io(d->event, &cs, c, EPOLLIN, on_client, d);
        if (r < 0)
                return 0;
        (void) sd_event_source_set_io_fd_own(cs, true);
        (void) sd_event_source_set_floating(cs, true);
        sd_event_source_unref(cs);
        TAKE_FD(c);
        return 0;
}

static int control_socket_open(Daemon *d) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *parent = strdup(d->control_socket);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r;

        if (!parent)
                return log_oom();
        if (strlen(d->control_socket) >= sizeof(sa.sun_path))
                return log_error_errno(EINVAL, "Control socket path %s is too long.", d->control_socket);
        strcpy(sa.sun_path, d->control_socket);
        (void) mkdir_p(dirname(parent), 0755);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "Cannot make the control socket: %m");
        (void) unlink(d->control_socket);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(errno, "Cannot bind the control socket %s: %m", d->control_socket);
        /* Anyone may connect; only root is answered (SO_PEERCRED), and says so in the log. */
        (void) chmod(d->control_socket, 0666);
        if (listen(fd, 16) < 0)
                return log_error_errno(errno, "Cannot listen on %s: %m", d->control_socket);
        r = sd_event_add_io(d->event, &d->listen_source, fd, EPOLLIN, on_accept, d);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the control socket: %m");
        d->listen_fd = TAKE_FD(fd);
        return 0;
}

/* ---- jobs ---- */

static int on_machines(sd_event_source *s _unused_, const struct inotify_event *ev, void *userdata) {
        Daemon *d = userdata;

        if (ev->len > 0 && job_id_check(ev->name) >= 0) {
                if (ev->mask & (IN_CREATE | IN_MOVED_TO))
                        log_event("JOB_ID", ev->name, "Job %s started.", ev->name);
                else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
                        log_event("JOB_ID", ev->name, "Job %s ended.", ev->name);
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

static void update(Daemon *d) {
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
        metrics_write(d, false);
        drain_check(d);
}

static int on_tick(sd_event_source *s, uint64_t usec _unused_, void *userdata) {
        Daemon *d = userdata;

        machines_watch(d);
        check_disk(d);
        count_images(d);
        update(d);
        metrics_write(d, true);
        (void) sd_event_source_set_time_relative(s, TICK_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_gc(sd_event_source *s, uint64_t usec _unused_, void *userdata) {
        Daemon *d = userdata;
        GcStats st;

        if (!d->st.refreshing && !d->st.state_dir_missing && gc_run(&d->ctx, d->config.gc_threshold, &st) >= 0 &&
            (st.machines || st.generations || st.caches))
                log_notice("gc: removed %u leftover machine(s), %u unused generation(s), %u cache dir(s); freed %.1f MiB",
                           st.machines, st.generations, st.caches, (double) st.freed / (1 << 20));
        scan_images(d);
        update(d);
        (void) sd_event_source_set_time_relative(s, GC_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void daemon_done(Daemon *d) {
        if (d->refresh_pid > 0) {
                log_notice("Stopping the running refresh (pid %d).", (int) d->refresh_pid);
                (void) kill(d->refresh_pid, SIGTERM);
        }
        d->refresh_child = sd_event_source_disable_unref(d->refresh_child);
        d->refresh_out = sd_event_source_disable_unref(d->refresh_out);
        d->led_timer = sd_event_source_disable_unref(d->led_timer);
        led_backend_close(&d->led);
        d->button_io = sd_event_source_disable_unref(d->button_io);
        d->button_timer = sd_event_source_disable_unref(d->button_timer);
        if (d->gbutton)
                gpio_button_close(d->gbutton);
        d->listen_source = sd_event_source_disable_unref(d->listen_source);
        if (d->listen_fd >= 0) {
                (void) close(d->listen_fd);
                (void) unlink(d->control_socket);
        }
        d->inotify_source = sd_event_source_disable_unref(d->inotify_source);
        d->tick_timer = sd_event_source_disable_unref(d->tick_timer);
        d->gc_timer = sd_event_source_disable_unref(d->gc_timer);
        d->maint_timer = sd_event_source_disable_unref(d->maint_timer);
        d->drain_timer = sd_event_source_disable_unref(d->drain_timer);
        d->event = sd_event_unref(d->event);
        images_free(d);
        free(d->metrics_text);
        free(d->config_dir);
        free(d->machines_dir);
        free(d->control_socket);
        config_done(&d->config);
}

int daemon_run(const DaemonOptions *o) {
        _cleanup_(daemon_done) Daemon d = { .listen_fd = -EBADF, .last_refresh = -1 };
        _cleanup_free_ char *conf = strdup(o->config_file), *flag = NULL;
        sigset_t mask;
        int r;

        config_init(&d.config);
        led_backend_null(&d.led);
        if (!conf)
                return log_oom();
        r = config_load(o->config_file, &d.config);
        if (r < 0)
                return r;
        if (o->state_dir) {
                if (o->state_dir[0] != '/')
                        return log_error_errno(EINVAL, "The state directory must be an absolute path, not '%s'.", o->state_dir);
                free(d.config.state_dir);
                d.config.state_dir = strdup(o->state_dir);
        }
        d.config_dir = strdup(dirname(conf));
        d.control_socket = strdup(o->control_socket);
        if (!d.config.state_dir || !d.config_dir || !d.control_socket)
                return log_oom();
        d.ctx = (Context) {
                .state_dir = d.config.state_dir,
                .config_dir = d.config_dir,
                .build_failure_exit_code = 1,
                .system_failure_exit_code = 2,
        };
        d.machines_dir = context_machines_dir(&d.ctx);
        flag = path_join(d.ctx.state_dir, DRAINING_FLAG);
        if (!d.machines_dir || !flag)
                return log_oom();
        if (unlink(flag) >= 0)
                log_notice("Removed %s: taking jobs again.", flag);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Cannot block signals: %m");
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&d.event);
        if (r < 0)
                return log_error_errno(r, "Cannot make the event loop: %m");
        r = sd_event_add_signal(d.event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(d.event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_set_watchdog(d.event, true);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the event loop: %m");

        led_open(&d);
        (void) led_animator_init(&d.anim, LED_BOOTING, now_monotonic_usec());
        r = sd_event_add_time(d.event, &d.led_timer, CLOCK_MONOTONIC, 0, LED_ACCURACY_USEC, on_led_timer, &d);
        if (r < 0)
                return log_error_errno(r, "Cannot add the LED timer: %m");
        led_refresh(&d);

        r = control_socket_open(&d);
        if (r < 0)
                return r;
        button_setup(&d);
        machines_watch(&d);
        r = sd_event_add_time_relative(d.event, &d.tick_timer, CLOCK_MONOTONIC, TICK_USEC, USEC_PER_SEC, on_tick, &d);
        if (r >= 0)
                r = sd_event_add_time_relative(d.event, &d.gc_timer, CLOCK_MONOTONIC, GC_INTERVAL_USEC, 60 * USEC_PER_SEC,
                                               on_gc, &d);
        if (r < 0)
                return log_error_errno(r, "Cannot add timers: %m");
        maint_arm(&d);
        if (d.config.maintenance_minute < 0)
                log_info("No scheduled maintenance (maintenance_time=off).");

        check_disk(&d);
        scan_images(&d);
        d.st.ready = true;
        update(&d);
        metrics_write(&d, true);
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s", d.status_text);
        log_notice("Ready: %s (state dir %s, control socket %s).", d.status_text, d.ctx.state_dir, d.control_socket);

        r = sd_event_loop(d.event);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        log_notice("Stopped.");
        return 0;
}
