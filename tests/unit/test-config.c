/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "gc.h"
#include "util.h"
#include "log.h"
#include "tap.h"

static int parse(const char *text, Config *c) {
        config_done(c);
        config_init(c);
        return config_parse("nspawn-runner.conf", text, strlen(text), c);
}

int main(void) {
        Config c;
        HwSpec h;

        log_set_max_level(LOG_LEVEL_ERROR);
        config_init(&c);
        CHECK(c.led.kind == HW_AUTO && c.button.kind == HW_NONE && c.button_hold_sec == 5 && c.maintenance_minute == 210,
              "defaults: LED auto, no button, hold 5 s, maintenance 03:30");

        CHECK(parse("# the appliance\r\nLED = gpio:pinctrl-bcm2711:GPIO27\r\nbutton=gpio:pinctrl-bcm2711:GPIO17:active-low\r\n"
                    "Button_Hold_Seconds=3\nmaintenance_time=23:05\ngc_threshold=80\nmetrics_file=off\n"
                    "state_dir=/srv/nspawn-runner\ndrain_timeout_seconds=0\n",
                    &c) == 0,
              "a full file with CRLF and mixed-case keys parses");
        CHECK(c.led.kind == HW_GPIO && strcmp(c.led.gpio.chip, "pinctrl-bcm2711") == 0 &&
                      strcmp(c.led.gpio.line, "GPIO27") == 0 && !c.led.gpio.active_low,
              "LED on a GPIO line, active-high by default");
        CHECK(c.button.kind == HW_GPIO && c.button.gpio.active_low && strcmp(c.button.gpio.line, "GPIO17") == 0,
              "active-low button");
        CHECK(c.button_hold_sec == 3 && c.maintenance_minute == 23 * 60 + 5 && c.gc_threshold == 80 && !c.metrics_file &&
                      strcmp(c.state_dir, "/srv/nspawn-runner") == 0 && c.drain_timeout_sec == 0,
              "numbers, time of day, off and paths");
        CHECK(parse("led=sysfs:/sys/class/leds/ACT\nmaintenance_time=off\n", &c) == 0 && c.led.kind == HW_SYSFS &&
                      strcmp(c.led.path, "/sys/class/leds/ACT") == 0 && c.maintenance_minute == -1,
              "sysfs LED, no scheduled maintenance");

        CHECK(parse("colour=blue\n", &c) == -EINVAL, "an unknown key is refused");
        CHECK(parse("led\n", &c) == -EINVAL, "a line without '=' is refused");
        CHECK(parse("button_hold_seconds=0\n", &c) == -EINVAL, "hold of zero is refused");
        CHECK(parse("button_hold_seconds=61\n", &c) == -EINVAL, "hold 61 is refused");
        CHECK(parse("button_hold_seconds=five\n", &c) == -EINVAL, "hold 'five' is refused");
        CHECK(parse("maintenance_time=24:00\n", &c) == -EINVAL, "24:00 is refused");
        CHECK(parse("maintenance_time=3:30\n", &c) == -EINVAL, "3:30 is refused (HH:MM)");
        CHECK(parse("maintenance_time= 03:3x\n", &c) == -EINVAL, "03:3x is refused");
        CHECK(parse("gc_threshold=101\n", &c) == -EINVAL, "101 percent is refused");
        CHECK(parse("state_dir=relative\n", &c) == -EINVAL, "a relative state dir is refused");
        CHECK(parse("button=sysfs:/sys/class/leds/ACT\n", &c) == -EINVAL, "a button cannot be a sysfs LED");
        CHECK(parse("led=gpio:chip\n", &c) == -EINVAL, "a GPIO without line is refused");
        CHECK(parse("led=gpio:chip:17:inverted\n", &c) == -EINVAL, "an unknown GPIO flag is refused");
        CHECK(parse("led=sysfs:/sys/class/leds/../../etc\n", &c) == -EINVAL, "a sysfs path with .. is refused");
        CHECK(parse("led=gpio:a b:1\n", &c) == -EINVAL, "a chip name with a blank is refused");

        CHECK(hw_spec_parse("none", false, false, &h) == 0 && h.kind == HW_NONE, "none");
        CHECK(hw_spec_parse("auto", false, false, &h) == -EINVAL, "auto only where allowed");
        CHECK(hw_spec_parse("gpio:gpiochip0:17", false, true, &h) == 0 && h.gpio.active_low, "a button defaults to active-low");
        hw_spec_done(&h);
        config_done(&c);

        {
                char dir[] = "/tmp/test-config-XXXXXX";
                Context ctx = { .config_dir = mkdtemp(dir) };
                char *path = path_join(dir, CONFIG_FILE_NAME);

                CHECK(gc_threshold_configured(&ctx) == GC_THRESHOLD_DEFAULT, "gc threshold without a file: the default");
                write_file_atomic(path, "gc_threshold=42\n", 0644);
                CHECK(gc_threshold_configured(&ctx) == 42, "gc threshold from the file");
                write_file_atomic(path, "gc_threshold=420\n", 0644);
                CHECK(gc_threshold_configured(&ctx) == GC_THRESHOLD_DEFAULT, "a bad file: the default");
                unlink(path);
                rmdir(dir);
                free(path);
        }
        return tap_done();
}
