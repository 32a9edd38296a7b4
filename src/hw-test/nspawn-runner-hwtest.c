/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runner-hwtest: drives the status LED and reads the button with the daemon's own code, for
 * a person checking the wiring of a real board (see tests/hw/README.md). */
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>

#include "button.h"
#include "gpio-spec.h"
#include "gpio.h"
#include "led-backend.h"
#include "led-sysfs.h"
#include "led.h"
#include "log.h"
#include "time-util.h"
#include "util.h"

enum {
        ARG_SYSFS = 0x100,
        ARG_GPIO,
        ARG_ACK,
        ARG_HOLD,
        ARG_DEBOUNCE,
        ARG_RAW,
};

typedef struct Args {
        const char *sysfs, *gpio;
        bool ack, raw;
        uint64_t hold_usec, debounce_usec;
        bool led_options, button_options; /* given: to refuse them with the other command */
} Args;

static void help(void) {
        printf("Usage: nspawn-runner-hwtest COMMAND [OPTIONS] [ARGS]\n\n"
               "Checks the status LED and the button of an nspawn-runner appliance.\n\n"
               "Commands:\n"
               "  led [--sysfs DIR] [--gpio CHIP:LINE[:active-low]] [--ack] STATE SECONDS\n"
               "                     Show STATE's pattern for SECONDS (--ack: the ack halfway through).\n"
               "                     Without an LED the changes are printed.\n"
               "  button --gpio CHIP:LINE[:active-high] [--hold SECONDS] [--debounce MS] [--raw]\n"
               "                     Print presses as they come (--raw: every edge, too), until Ctrl-C.\n"
               "                     The button is taken to connect the line to ground: active-low.\n"
               "  patterns           Print the LED patterns as a Markdown table\n\n"
               "CHIP is a label (pinctrl-bcm2711), name (gpiochip0), number or path, LINE an offset (17)\n"
               "or name (GPIO17). STATE is one of: booting, idle, busy, refreshing, attention.\n");
}

static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "sysfs", required_argument, NULL, ARG_SYSFS },
        { "gpio", required_argument, NULL, ARG_GPIO },
        { "ack", no_argument, NULL, ARG_ACK },
        { "hold", required_argument, NULL, ARG_HOLD },
        { "debounce", required_argument, NULL, ARG_DEBOUNCE },
        { "raw", no_argument, NULL, ARG_RAW },
        {},
};

/* Whole or fractional seconds, at most an hour. */
static int parse_seconds(const char *s, uint64_t *ret_usec) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || *end != 0 || !isfinite(v) || v <= 0 || v > 3600)
                return -EINVAL;
        *ret_usec = (uint64_t) (v * (double) USEC_PER_SEC);
        return 0;
}

static int parse_options(int argc, char **argv, Args *a) {
        uint64_t ms;
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case ARG_SYSFS:
                        a->sysfs = optarg;
                        a->led_options = true;
                        break;
                case ARG_GPIO:
                        a->gpio = optarg;
                        break;
                case ARG_ACK:
                        a->ack = a->led_options = true;
                        break;
                case ARG_HOLD:
                        if (parse_seconds(optarg, &a->hold_usec) < 0)
                                return log_error_errno(EINVAL, "--hold takes seconds, not %s.", optarg);
                        a->button_options = true;
                        break;
                case ARG_DEBOUNCE:
                        if (safe_atou64(optarg, &ms) < 0 || ms > 1000)
                                return log_error_errno(EINVAL, "--debounce takes milliseconds up to 1000, not %s.", optarg);
                        a->debounce_usec = ms * USEC_PER_MSEC;
                        a->button_options = true;
                        break;
                case ARG_RAW:
                        a->raw = a->button_options = true;
                        break;
                default:
                        return log_error_errno(EINVAL, "Unknown option %s (see --help).", argv[optind - 1]);
                }
        return 0;
}

static void on_signal(int sig _unused_) {
        /* Only interrupts ppoll(): the signals are blocked everywhere else. */
}

/* SIGINT and SIGTERM end the wait below instead of the program, so that the LED goes back to its
 * kernel trigger and the GPIO lines are released. */
static int setup_signals(void) {
        struct sigaction sa = { .sa_handler = on_signal };
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
            sigaction(SIGTERM, &sa, NULL) < 0)
                return log_error_errno(errno, "Cannot set up signal handling: %m");
        return 0;
}

/* Waits for fd (when ≥ 0) to become readable or until deadline. Returns 1 when fd is readable, 0
 * at the deadline, -EINTR on SIGINT or SIGTERM. */
static int wait_until(int fd, uint64_t deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        struct timespec ts, *timeout = NULL;
        sigset_t none;
        int r;

        if (deadline != USEC_INFINITY) {
                uint64_t now = now_monotonic_usec(), left = deadline > now ? deadline - now : 0;

                ts = (struct timespec) { (time_t) (left / USEC_PER_SEC), (long) (left % USEC_PER_SEC * NSEC_PER_USEC) };
                timeout = &ts;
        }
        sigemptyset(&none);
        r = ppoll(&p, fd >= 0 ? 1 : 0, timeout, &none);
        if (r < 0)
                return -errno;
        return r > 0;
}

static double seconds_since(uint64_t start, uint64_t t) {
        return (double) (t - start) / (double) USEC_PER_SEC;
}

static uint64_t min3(uint64_t a, uint64_t b, uint64_t c) {
        uint64_t m = a < b ? a : b;
        return m < c ? m : c;
}

static int play(LedBackend *backends, size_t n, LedState state, uint64_t duration, bool ack) {
        uint64_t start = now_monotonic_usec(), end = start + duration,
                 ack_at = ack ? start + duration / 2 : USEC_INFINITY;
        LedAnimator anim;
        int last = -1, r;

        r = led_animator_init(&anim, state, start);
        if (r < 0)
                return r;
        for (;;) {
                uint64_t now = now_monotonic_usec(), next;
                bool on;

                if (now >= end)
                        return 0;
                if (now >= ack_at) {
                        led_animator_ack(&anim, now);
                        ack_at = USEC_INFINITY;
                        printf("%7.3f s  ack: %s\n", seconds_since(start, now), led_ack_pattern()->description);
                }
                led_animator_level(&anim, now, &on, &next);
                if (on != last) {
                        for (size_t i = 0; i < n; i++)
                                (void) led_backend_set(&backends[i], on);
                        if (n == 0)
                                printf("%7.3f s  %s\n", seconds_since(start, now), on ? "on" : "off");
                        last = on;
                }
                fflush(stdout);
                r = wait_until(-1, min3(next, ack_at, end));
                if (r < 0)
                        return r == -EINTR ? 0 : r;
        }
}

static int cmd_led(const Args *a, int argc, char **argv) {
        LedBackend backends[2];
        size_t n = 0;
        LedState state;
        uint64_t duration;
        int r = 0;

        if (argc != 2)
                return log_error_errno(EINVAL, "led takes a state and a number of seconds (see --help).");
        state = led_state_from_string(argv[0]);
        if (state < 0)
                return log_error_errno(EINVAL, "Unknown state %s (see --help).", argv[0]);
        if (parse_seconds(argv[1], &duration) < 0)
                return log_error_errno(EINVAL, "Not a number of seconds: %s", argv[1]);

        if (a->sysfs) {
                r = led_backend_sysfs(a->sysfs, &backends[n]);
                n += r >= 0;
        }
        if (r >= 0 && a->gpio) {
                GpioSpec spec;

                r = gpio_spec_parse(a->gpio, false, &spec);
                if (r < 0)
                        log_error_errno(r, "Not CHIP:LINE[:active-low]: %s", a->gpio);
                else {
                        r = led_backend_gpio(spec.chip, spec.line, spec.active_low, &backends[n]);
                        n += r >= 0;
                        gpio_spec_done(&spec);
                }
        }

        if (r >= 0) {
                printf("%s (%s): %s, for %s s%s.\n", led_state_to_string(state), led_state_meaning(state),
                       led_pattern_describe(state), argv[1], a->ack ? ", an ack halfway through" : "");
                r = play(backends, n, state, duration, a->ack);
        }
        for (size_t i = 0; i < n; i++)
                led_backend_close(&backends[i]);
        return r;
}

static void report(uint64_t start, uint64_t t, ButtonEvent e) {
        if (e != BUTTON_NONE)
                printf("%9.3f s  %s\n", seconds_since(start, t), button_event_to_string(e));
}

static int watch(GpioButton *gb, Button *b, bool raw) {
        uint64_t start = now_monotonic_usec();
        bool pressed;
        int r;

        r = gpio_button_get(gb, &pressed);
        if (r < 0)
                return r;
        if (pressed)
                printf("The button is pressed now: a press counts from here.\n");
        report(start, start, button_feed(b, pressed, start));

        for (;;) {
                GpioEdge edges[16];

                fflush(stdout);
                r = wait_until(gpio_button_fd(gb), button_next_deadline(b));
                if (r == -EINTR)
                        return 0;
                if (r < 0)
                        return log_error_errno(r, "Cannot wait for the button: %m");
                if (r == 0) {
                        uint64_t now = now_monotonic_usec();
                        report(start, now, button_tick(b, now));
                        continue;
                }

                r = gpio_button_read(gb, edges, ELEMENTSOF(edges));
                if (r < 0)
                        return r;
                for (int i = 0; i < r; i++) {
                        uint64_t t = edges[i].usec > start ? edges[i].usec : start;

                        if (raw)
                                printf("%9.3f s  raw %s\n", seconds_since(start, t), edges[i].pressed ? "pressed" : "released");
                        report(start, t, button_feed(b, edges[i].pressed, t));
                }
        }
}

static int cmd_button(const Args *a, int argc, char **argv _unused_) {
        GpioButton *gb = NULL;
        GpioSpec spec;
        Button b;
        int r;

        if (argc != 0 || !a->gpio)
                return log_error_errno(EINVAL, "button takes --gpio CHIP:LINE and nothing else (see --help).");
        if (button_init(&b, a->debounce_usec, a->hold_usec) < 0)
                return log_error_errno(EINVAL, "The hold time must be longer than the debounce time.");
        r = gpio_spec_parse(a->gpio, true, &spec);
        if (r < 0)
                return log_error_errno(r, "Not CHIP:LINE[:active-high]: %s", a->gpio);

        r = gpio_button_open(spec.chip, spec.line, spec.active_low, &gb);
        if (r >= 0) {
                printf("Watching %s line %s (%s), debounce %llu ms, long press after %.1f s. Ctrl-C ends.\n",
                       spec.chip, spec.line, spec.active_low ? "active-low" : "active-high",
                       (unsigned long long) (b.debounce_usec / USEC_PER_MSEC), seconds_since(0, b.hold_usec));
                r = watch(gb, &b, a->raw);
                gpio_button_close(gb);
        }
        gpio_spec_done(&spec);
        return r;
}

static void cmd_patterns(void) {
        printf("| LED | means | state |\n|---|---|---|\n");
        for (LedState s = 0; s < _LED_STATE_MAX; s++)
                printf("| %s | %s | %s |\n", led_pattern_describe(s), led_state_meaning(s), led_state_to_string(s));
        printf("| %s, over any of these | a button press was taken (or ignored: a refresh is running) | — |\n",
               led_ack_pattern()->description);
}

static int dispatch(const Args *a, const char *cmd, int argc, char **argv) {
        if (streq(cmd, "patterns") && argc == 0) {
                cmd_patterns();
                return 0;
        }
        if (!streq(cmd, "led") && !streq(cmd, "button"))
                return log_error_errno(EINVAL, "Unknown command or arguments: %s (see --help).", cmd);
        if (streq(cmd, "led") ? a->button_options : a->led_options)
                return log_error_errno(EINVAL, "Options that %s does not take (see --help).", cmd);
        if (setup_signals() < 0)
                return -EIO;
        return streq(cmd, "led") ? cmd_led(a, argc, argv) : cmd_button(a, argc, argv);
}

int main(int argc, char **argv) {
        Args a = { .hold_usec = BUTTON_HOLD_USEC_DEFAULT, .debounce_usec = BUTTON_DEBOUNCE_USEC_DEFAULT };
        int r;

        log_set_prefix("nspawn-runner-hwtest");
        r = parse_options(argc, argv, &a);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        if (optind >= argc) {
                help();
                return EXIT_FAILURE;
        }
        r = dispatch(&a, argv[optind], argc - optind - 1, argv + optind + 1);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
