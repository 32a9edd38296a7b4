/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon-status.h"
#include "tap.h"

int main(void) {
        char buf[200];

        /* Every combination of the inputs that matter: the LED state follows the documented order. */
        for (unsigned bits = 0; bits < 256; bits++) {
                DaemonStatus s = {
                        .ready = bits & 1,
                        .refreshing = bits & 2,
                        .refresh_failed = bits & 4,
                        .state_dir_missing = bits & 8,
                        .disk_full = bits & 16,
                        .jobs = (bits & 32) ? 2 : 0,
                        .draining = bits & 64,
                        .problem = (bits & 128) ? "no data disk" : NULL,
                        .images = 3,
                };
                LedState want = !s.ready                                                   ? LED_BOOTING
                                : s.refreshing                                             ? LED_REFRESHING
                                : s.problem || s.refresh_failed || s.state_dir_missing || s.disk_full ? LED_ATTENTION
                                : s.jobs > 0                                               ? LED_BUSY
                                                                                           : LED_IDLE;
                LedState got = daemon_status_led_state(&s);
                CHECK(got == want, "combination %u: LED %s", bits, led_state_to_string(got));
                daemon_status_format(&s, buf, sizeof(buf));
                CHECK(buf[0] != 0 && strlen(buf) < sizeof(buf), "combination %u: status '%s'", bits, buf);
        }

        DaemonStatus s = { .ready = true, .images = 3 };
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "idle, 3 images") == 0, "idle text");
        s.images = 1;
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "idle, 1 image") == 0, "singular image");
        s.images = 3;
        s.jobs = 2;
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "2 jobs running, 3 images") == 0, "jobs text");
        s.jobs = 1;
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "1 job running, 3 images") == 0, "one job text");
        s.refreshing = true;
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "refreshing") == 0, "refresh before the first image");
        s.refresh_image = "bookworm";
        s.refresh_i = 2;
        s.refresh_n = 3;
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "refreshing bookworm 2/3") == 0, "refresh text");
        s.draining = true;
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "draining: 1 job left before power-off") == 0, "draining text");
        s = (DaemonStatus) { .ready = true, .images = 3, .refresh_failed = true };
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "attention: refresh failed; idle, 3 images") == 0, "attention text");
        s = (DaemonStatus) { .ready = true, .images = 0, .disk_full = true, .disk_percent = 97 };
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "attention: disk 97% full; idle, 0 images") == 0, "disk text");
        s = (DaemonStatus) { .ready = true, .state_dir_missing = true };
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "attention: state dir missing; idle, 0 images") == 0, "missing state dir text");
        s = (DaemonStatus) { .ready = true, .problem = "no data disk", .refresh_failed = true, .images = 0 };
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "attention: no data disk; idle, 0 images") == 0, "a setup problem comes first (%s)", buf);
        CHECK(daemon_status_led_state(&s) == LED_ATTENTION, "and asks for attention");
        s = (DaemonStatus) {};
        daemon_status_format(&s, buf, sizeof(buf));
        CHECK(strcmp(buf, "starting") == 0, "before ready");
        s = (DaemonStatus) { .ready = true, .refreshing = true, .refresh_image = "a-very-long-image-name", .refresh_i = 1, .refresh_n = 9 };
        daemon_status_format(&s, buf, 8);
        CHECK(strcmp(buf, "refresh") == 0, "truncated to the buffer");
        return tap_done();
}
