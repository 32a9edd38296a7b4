/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runnerd: the status LED and the button. */
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "daemon.h"
#include "log.h"
#include "time-util.h"
#include "util.h"

/* A one-shot timer for the next deadline, or off when there is none. */
static void timer_arm(sd_event_source *s, uint64_t next) {
        if (!s)
                return;
        if (next == USEC_INFINITY) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(s, next);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* ---- LED ---- */

void led_refresh(Daemon *d) {
        uint64_t now = now_monotonic_usec(), next;
        bool on;

        led_animator_level(&d->anim, now, &on, &next);
        (void) led_backend_set(&d->led, on);
        timer_arm(d->led_timer, next);
}

static int on_led_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        led_refresh(userdata);
        return 0;
}

/* Where the sysfs LED's trigger is kept while the daemon has the LED: beside the control socket. */
static char *led_save_path(const char *control_socket) {
        _cleanup_free_ char *copy = strdup(control_socket);

        return copy ? path_join(dirname(copy), DAEMON_LED_SAVE_NAME) : NULL;
}

int daemon_restore_led(const char *control_socket) {
        _cleanup_free_ char *save = led_save_path(control_socket);

        return save ? led_sysfs_restore(save) : log_oom();
}

static int led_open_sysfs(Daemon *d, const char *dir) {
        _cleanup_free_ char *save = led_save_path(d->control_socket);

        if (!save)
                return log_oom();
        (void) led_sysfs_restore(save); /* what a killed daemon left: the trigger saved then is the real one */
        return led_backend_sysfs_saving(dir, save, &d->led);
}

#define LED_AUTO_DIR "/sys/class/leds/ACT"

static bool missing_errno(int r) {
        return r == -ENOENT || r == -ENODEV;
}

/* The sysfs directory of the configured LED, NULL when it is none or on a GPIO line. */
static const char *led_dir(const HwSpec *h) {
        return h->kind == HW_AUTO ? LED_AUTO_DIR : h->kind == HW_SYSFS ? h->path : NULL;
}

/* Takes the configured LED; on failure leaves the null backend. */
static int led_take(Daemon *d) {
        const HwSpec *h = &d->config.led;
        int r;

        if (h->kind == HW_GPIO)
                r = led_backend_gpio(h->gpio.chip, h->gpio.line, h->gpio.active_low, &d->led);
        else
                r = led_open_sysfs(d, led_dir(h));
        if (r < 0) /* the constructor said why, once */
                led_backend_null(&d->led);
        return r;
}

void led_open(Daemon *d) {
        const HwSpec *h = &d->config.led;
        int r;

        led_backend_null(&d->led);
        if (h->kind != HW_AUTO && h->kind != HW_SYSFS && h->kind != HW_GPIO) {
                log_notice("No status LED configured: running without one.");
                return;
        }
        /* The ACT LED's driver (leds-gpio) loads asynchronously at boot: it may come after us. */
        if (h->kind == HW_AUTO && access(LED_AUTO_DIR, F_OK) < 0) {
                log_notice("No status LED (no %s) yet: taking it when it appears.", LED_AUTO_DIR);
                d->led_pending = true;
                return;
        }
        r = led_take(d);
        d->led_pending = missing_errno(r);
        if (d->led_pending)
                log_notice("Taking the status LED when it appears.");
}

/* Starts the LED at "booting". */
int led_timer_add(Daemon *d) {
        int r;

        (void) led_animator_init(&d->anim, LED_BOOTING, now_monotonic_usec());
        r = sd_event_add_time(d->event, &d->led_timer, CLOCK_MONOTONIC, 0, LED_ACCURACY_USEC, on_led_timer, d);
        if (r < 0)
                return log_error_errno(r, "Cannot add the LED timer: %m");
        led_refresh(d);
        return 0;
}

/* ---- button ---- */

static void button_arm(Daemon *d) {
        timer_arm(d->button_timer, button_next_deadline(&d->button));
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

void button_setup(Daemon *d) {
        const HwSpec *h = &d->config.button;
        bool pressed = false;
        int r;

        if (h->kind != HW_GPIO) {
                log_notice("No button configured: running without one.");
                return;
        }
        r = gpio_button_open(h->gpio.chip, h->gpio.line, h->gpio.active_low, &d->gbutton);
        d->button_pending = missing_errno(r);
        if (d->button_pending) {
                log_notice("No button yet (GPIO %s:%s): taking it when its chip appears.", h->gpio.chip, h->gpio.line);
                return;
        }
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

/* ---- an LED or a GPIO chip that appears after the daemon started ---- */

void hw_retry(Daemon *d, bool new_chip) {
        const char *dir = led_dir(&d->config.led);

        /* A sysfs LED is looked for quietly; a GPIO chip is only tried when a new one appeared, as
         * a failing lookup logs. */
        if (d->led_pending && (dir ? access(dir, F_OK) >= 0 : new_chip)) {
                int r = led_take(d);

                d->led_pending = missing_errno(r) && !dir;
                if (r >= 0) {
                        log_notice("The status LED appeared: showing the state on it.");
                        led_refresh(d);
                }
        }
        if (d->button_pending && new_chip) {
                button_setup(d);
                if (d->gbutton)
                        log_notice("The button appeared: taking presses.");
        }
}

static int on_device(sd_device_monitor *m _unused_, sd_device *dev, void *userdata) {
        sd_device_action_t action;
        const char *subsystem;

        if (sd_device_get_action(dev, &action) >= 0 && action == SD_DEVICE_ADD &&
            sd_device_get_subsystem(dev, &subsystem) >= 0)
                hw_retry(userdata, streq(subsystem, "gpio"));
        return 0;
}

/* udev's "add" of an LED or a GPIO chip, while one is missing. Without udev (a container) the
 * tick still finds a sysfs LED. */
void hw_watch(Daemon *d) {
        int r;

        if (!d->led_pending && !d->button_pending)
                return;
        r = sd_device_monitor_new(&d->hw_monitor);
        if (r >= 0)
                r = sd_device_monitor_filter_add_match_subsystem_devtype(d->hw_monitor, "leds", NULL);
        if (r >= 0)
                r = sd_device_monitor_filter_add_match_subsystem_devtype(d->hw_monitor, "gpio", NULL);
        if (r >= 0)
                r = sd_device_monitor_attach_event(d->hw_monitor, d->event);
        if (r >= 0)
                r = sd_device_monitor_start(d->hw_monitor, on_device, d);
        if (r < 0) {
                log_debug_errno(r, "Cannot watch udev for the LED and GPIO chips (looking every tick instead): %m");
                d->hw_monitor = sd_device_monitor_unref(d->hw_monitor);
        }
}

void hw_done(Daemon *d) {
        d->hw_monitor = sd_device_monitor_unref(d->hw_monitor);
        d->led_timer = sd_event_source_disable_unref(d->led_timer);
        led_backend_close(&d->led);
        d->button_io = sd_event_source_disable_unref(d->button_io);
        d->button_timer = sd_event_source_disable_unref(d->button_timer);
        if (d->gbutton)
                gpio_button_close(d->gbutton);
        d->gbutton = NULL;
}
