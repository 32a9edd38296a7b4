/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* What the parts of nspawn-runnerd share: the daemon's whole state and the calls between its
 * files. Private to src/core/daemon*.c. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "button.h"
#include "config.h"
#include "context.h"
#include "daemon-status.h"
#include "gpio.h"
#include "led-backend.h"
#include "led.h"
#include "macro.h"
#include "proto.h"

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

/* daemon.c: the state and the loop */
void update(Daemon *d);
void log_event(const char *field, const char *value, const char *format, ...) _printf_(3, 4);
void scan_images(Daemon *d);
void images_free(Daemon *d);
void metrics_write(Daemon *d, bool force);

/* daemon-hw.c: the status LED and the button */
void led_open(Daemon *d);
int led_timer_add(Daemon *d);
void led_refresh(Daemon *d);
void button_setup(Daemon *d);
void hw_done(Daemon *d);

/* daemon-refresh.c: the refresh child and its progress */
RefreshResult refresh_start(Daemon *d);
void refresh_done(Daemon *d);

/* daemon-control.c: the control socket */
int control_socket_open(Daemon *d);
void control_socket_close(Daemon *d);

/* daemon-schedule.c: maintenance time, gc, drain and power-off */
int schedule_setup(Daemon *d);
void schedule_done(Daemon *d);
void begin_drain(Daemon *d, const char *why);
void drain_check(Daemon *d);
