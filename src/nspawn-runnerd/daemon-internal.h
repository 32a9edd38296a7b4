/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* What the parts of nspawn-runnerd share: the daemon's whole state, what main.c calls
 * (daemon_run(), daemon_hw_restore_led()) and the calls between its files. Private to
 * src/nspawn-runnerd/. */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-device.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "button.h"
#include "config.h"
#include "context.h"
#include "daemon-scan-report.h"
#include "daemon-status.h"
#include "gpio.h"
#include "led-backend.h"
#include "led.h"
#include "macro.h"
#include "proto.h"

#define TICK_USEC (15 * USEC_PER_SEC)
#define GC_INTERVAL_USEC (3600 * USEC_PER_SEC)
#define LED_ACCURACY_USEC (1 * USEC_PER_MSEC)
#define CHILD_LINE_MAX 1024
#define GITLAB_RUNNER_UNIT "gitlab-runner.service"

typedef struct Daemon Daemon;

/* A child process whose stdout the daemon reads line by line without ever blocking on it. */
typedef struct DaemonChild {
        Daemon *daemon;
        const char *what; /* "refresh", "image scan": for the log */
        void (*on_line)(Daemon *d, const char *line, size_t n);
        void (*on_exit)(Daemon *d, const siginfo_t *si);
        pid_t pid;        /* 0: none running */
        sd_event_source *exit_source, *out_source;
        char line[CHILD_LINE_MAX];
        size_t line_len;
        bool overlong;    /* a line did not fit: dropped, and said here */
} DaemonChild;

/* A file written whole on change only, whose failures are logged once. */
typedef struct OutputFile {
        const char *path; /* NULL: none */
        const char *what; /* "metrics", "status report": for the log */
        bool durable;     /* fsync the directory after the rename: for a card pulled any time */
        char *written;    /* what was compared when it was last written */
        bool failing;
} OutputFile;

struct Daemon {
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
        bool led_pending, button_pending; /* configured, but not there yet: taken when it appears */
        sd_device_monitor *hw_monitor;    /* when one was pending at start */

        int listen_fd;
        sd_event_source *listen_source, *inotify_source;
        sd_event_source *tick_timer, *gc_timer, *maint_timer, *drain_timer;

        DaemonChild refresh;
        char refresh_image[PROTO_STAGE_MAX + 1];

        DaemonChild scan;
        bool scan_gc;                /* the running scan runs gc first */
        bool scan_pending, scan_pending_gc; /* asked for while one ran: runs once after it */
        int scan_error;              /* the first bad line of the running scan's report */
        ScanReport scan_report;      /* what the running scan said so far */
        ScanReport images;           /* the images with their sizes, as of the last good scan */

        DaemonStatus st;
        int last_refresh; /* -1: none yet */
        time_t last_refresh_time;
        char status_text[PROTO_STATUS_MAX];
        OutputFile metrics_out, status_out;

        const char *problems_path; /* NULL: none */
        char **problems;           /* its lines, NULL or empty for none */
        int problems_error;        /* why it could not be read last time, or 0 */
        sd_event_source *problems_source;

        uint64_t drain_deadline;
};

/* daemon.c: the state and the loop */
typedef struct DaemonOptions {
        const char *config_file;
        const char *state_dir; /* NULL: from the config */
        const char *control_socket;
        const char *problems_file; /* NULL or "": none */
        const char *status_file;   /* NULL or "": none */
} DaemonOptions;

/* Runs until SIGTERM or SIGINT; returns 0 then, or a negative errno when it cannot start (logged). */
int daemon_run(const DaemonOptions *o);
/* Brings the LED, the status text, the output files and a drain up to date with the state. */
void daemon_update(Daemon *d);
void daemon_log_event(const char *field, const char *value, const char *format, ...) _printf_(3, 4);

/* daemon-outputs.c: the metrics and status files, the problems file */
void daemon_output_file_init(OutputFile *o, const char *path, const char *what, bool durable);
void daemon_output_file_done(OutputFile *o);
/* Writes what changed (the metrics also when force). */
void daemon_outputs_write(Daemon *d, bool force);
void daemon_problems_refresh(Daemon *d);
void daemon_problems_watch(Daemon *d);
void daemon_problems_done(Daemon *d);

/* daemon-hw.c: the status LED and the button */
/* After the daemon was killed (ExecStopPost=): hands the sysfs LED back to the trigger it had,
 * as saved beside the control socket. Nothing saved: 0. */
int daemon_hw_restore_led(const char *control_socket);
void daemon_hw_led_open(Daemon *d);
int daemon_hw_led_timer_add(Daemon *d);
void daemon_hw_led_refresh(Daemon *d);
void daemon_hw_button_setup(Daemon *d);
/* Watches for a pending LED or button to appear (udev); daemon_hw_retry() looks again, also each tick. */
void daemon_hw_watch(Daemon *d);
void daemon_hw_retry(Daemon *d, bool new_chip);
void daemon_hw_done(Daemon *d);

/* daemon-child.c: children with a pipe on their stdout. run() runs in the child, its return
 * value is the exit status. Returns a negative errno, logged, when the child cannot start. */
void daemon_child_init(DaemonChild *c, Daemon *d, const char *what,
                void (*on_line)(Daemon *d, const char *line, size_t n),
                void (*on_exit)(Daemon *d, const siginfo_t *si));
int daemon_child_start(DaemonChild *c, int (*run)(Daemon *d, const void *arg), const void *arg);
/* Sends SIGTERM to a running child and forgets it. */
void daemon_child_stop(DaemonChild *c);
/* "exit status 3", "signal 9" into buf. */
const char *daemon_child_exit_describe(const siginfo_t *si, char *buf, size_t size);

/* daemon-scan.c: gc and the images' disk usage, in a child */
/* Starts a scan (with gc first when asked and possible), or queues one run after the running one. */
void daemon_scan_request(Daemon *d, bool gc);
void daemon_scan_done(Daemon *d);

/* daemon-refresh.c: the refresh child and its progress */
RefreshResult daemon_refresh_start(Daemon *d);
void daemon_refresh_done(Daemon *d);

/* daemon-control.c: the control socket */
int daemon_control_socket_open(Daemon *d);
void daemon_control_socket_close(Daemon *d);

/* daemon-schedule.c: maintenance time, gc, drain and power-off */
int daemon_schedule_setup(Daemon *d);
void daemon_schedule_done(Daemon *d);
void daemon_drain_begin(Daemon *d, const char *why);
void daemon_drain_check(Daemon *d);
