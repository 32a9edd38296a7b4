/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "gpio-spec.h"
#include "tap.h"

static bool parses(const char *s, bool active_low_default, const char *chip, const char *line, bool active_low) {
        GpioSpec spec;
        bool ok;

        if (gpio_spec_parse(s, active_low_default, &spec) < 0)
                return false;
        ok = strcmp(spec.chip, chip) == 0 && strcmp(spec.line, line) == 0 && spec.active_low == active_low;
        gpio_spec_done(&spec);
        return ok;
}

int main(void) {
        GpioSpec spec;

        CHECK(parses("gpiochip0:17", false, "gpiochip0", "17", false), "chip and offset");
        CHECK(parses("pinctrl-bcm2711:GPIO17", true, "pinctrl-bcm2711", "GPIO17", true), "label and line name, default polarity");
        CHECK(parses("/dev/gpiochip0:4:active-low", false, "/dev/gpiochip0", "4", true), "path, active-low");
        CHECK(parses("0:GPIO27:active-high", true, "0", "GPIO27", false), "number, active-high over the default");

        CHECK(gpio_spec_parse("gpiochip0", false, &spec) == -EINVAL, "no line: -EINVAL");
        CHECK(gpio_spec_parse(":17", false, &spec) == -EINVAL, "no chip: -EINVAL");
        CHECK(gpio_spec_parse("gpiochip0:", false, &spec) == -EINVAL, "empty line: -EINVAL");
        CHECK(gpio_spec_parse("gpiochip0::active-low", false, &spec) == -EINVAL, "empty line before polarity: -EINVAL");
        CHECK(gpio_spec_parse("gpiochip0:17:inverted", false, &spec) == -EINVAL, "unknown polarity: -EINVAL");
        CHECK(gpio_spec_parse("gpiochip0:17:active-low:x", false, &spec) == -EINVAL, "trailing field: -EINVAL");
        return tap_done();
}
