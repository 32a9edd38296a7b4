/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "gpio-spec.h"
#include "util.h"

/* Chip labels, names, /dev paths and line names: printable, no blanks, bounded. */
static bool name_ok(const char *s, size_t n) {
        if (n == 0 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] > '~')
                        return false;
        return true;
}

int gpio_spec_parse(const char *s, bool active_low_default, GpioSpec *ret) {
        const char *colon = strchr(s, ':'), *polarity;
        _cleanup_free_ char *chip = NULL, *line = NULL;
        bool active_low = active_low_default;

        if (!colon || colon == s || colon[1] == 0 || colon[1] == ':')
                return -EINVAL;
        polarity = strchr(colon + 1, ':');
        if (polarity) {
                if (streq(polarity + 1, "active-low"))
                        active_low = true;
                else if (streq(polarity + 1, "active-high"))
                        active_low = false;
                else
                        return -EINVAL;
        }

        if (!name_ok(s, (size_t) (colon - s)) ||
            !name_ok(colon + 1, polarity ? (size_t) (polarity - colon - 1) : strlen(colon + 1)))
                return -EINVAL;
        chip = strndup(s, (size_t) (colon - s));
        line = polarity ? strndup(colon + 1, (size_t) (polarity - colon - 1)) : strdup(colon + 1);
        if (!chip || !line)
                return -ENOMEM;
        *ret = (GpioSpec) { .chip = TAKE_PTR(chip), .line = TAKE_PTR(line), .active_low = active_low };
        return 0;
}

void gpio_spec_done(GpioSpec *spec) {
        free(spec->chip);
        free(spec->line);
        *spec = (GpioSpec) {};
}
