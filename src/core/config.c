/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "context.h"
#include "gc.h"
#include "kv.h"
#include "log.h"
#include "util.h"

#define DEFAULT_METRICS_FILE "/var/lib/prometheus/node-exporter/nspawn-runner.prom"

void hw_spec_done(HwSpec *h) {
        free(h->path);
        gpio_spec_done(&h->gpio);
        *h = (HwSpec) { .kind = HW_NONE };
}

void config_init(Config *c) {
        *c = (Config) {
                .state_dir = strdup(DEFAULT_STATE_DIR),
                .led = { .kind = HW_AUTO },
                .button = { .kind = HW_NONE },
                .button_hold_sec = 5,
                .maintenance_minute = 3 * 60 + 30,
                .gc_threshold = GC_THRESHOLD_DEFAULT,
                .disk_attention_percent = 95,
                .drain_timeout_sec = 3600,
                .metrics_file = strdup(DEFAULT_METRICS_FILE),
        };
}

void config_done(Config *c) {
        free(c->state_dir);
        free(c->metrics_file);
        hw_spec_done(&c->led);
        hw_spec_done(&c->button);
        *c = (Config) {};
}

int hw_spec_parse(const char *s, bool allow_sysfs, bool active_low_default, HwSpec *ret) {
        const char *rest;
        int r;

        if (strcasecmp(s, "none") == 0) {
                *ret = (HwSpec) { .kind = HW_NONE };
                return 0;
        }
        if (allow_sysfs && strcasecmp(s, "auto") == 0) {
                *ret = (HwSpec) { .kind = HW_AUTO };
                return 0;
        }
        if (allow_sysfs && (rest = startswith(s, "sysfs:"))) {
                if (rest[0] != '/' || strstr(rest, "..") || strlen(rest) > 256)
                        return -EINVAL;
                *ret = (HwSpec) { .kind = HW_SYSFS, .path = strdup(rest) };
                return ret->path ? 0 : -ENOMEM;
        }
        rest = startswith(s, "gpio:");
        if (!rest)
                return -EINVAL;
        *ret = (HwSpec) { .kind = HW_GPIO };
        r = gpio_spec_parse(rest, active_low_default, &ret->gpio);
        if (r < 0)
                *ret = (HwSpec) { .kind = HW_NONE };
        return r;
}

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *ret) {
        uint64_t u;
        if (safe_atou64(v, &u) < 0 || u < min || u > max)
                return -EINVAL;
        *ret = (unsigned) u;
        return 0;
}

static int parse_time_of_day(const char *v, int *ret) {
        int h, m;

        if (strcasecmp(v, "off") == 0) {
                *ret = -1;
                return 0;
        }
        if (strlen(v) != 5 || v[2] != ':')
                return -EINVAL;
        for (size_t i = 0; i < 5; i++)
                if (i != 2 && (v[i] < '0' || v[i] > '9'))
                        return -EINVAL;
        h = (v[0] - '0') * 10 + (v[1] - '0');
        m = (v[3] - '0') * 10 + (v[4] - '0');
        if (h > 23 || m > 59)
                return -EINVAL;
        *ret = h * 60 + m;
        return 0;
}

static int set_path(char **field, const char *v, bool allow_off) {
        if (allow_off && strcasecmp(v, "off") == 0) {
                free(*field);
                *field = NULL;
                return 0;
        }
        if (v[0] != '/' || strlen(v) > 1024)
                return -EINVAL;
        return free_and_strdup(field, v);
}

typedef struct ConfigKey {
        const char *name;
        const char *expect; /* what a bad value is told it should be */
        int (*parse)(Config *c, const char *v);
} ConfigKey;

static int p_state_dir(Config *c, const char *v) {
        return set_path(&c->state_dir, v, false);
}
static int p_metrics_file(Config *c, const char *v) {
        return set_path(&c->metrics_file, v, true);
}
static int p_led(Config *c, const char *v) {
        HwSpec h;
        int r = hw_spec_parse(v, true, false, &h);
        if (r >= 0) {
                hw_spec_done(&c->led);
                c->led = h;
        }
        return r;
}
static int p_button(Config *c, const char *v) {
        HwSpec h;
        /* A button is wired to ground with the pull-up on: pressed reads low. */
        int r = hw_spec_parse(v, false, true, &h);
        if (r >= 0) {
                hw_spec_done(&c->button);
                c->button = h;
        }
        return r;
}
static int p_hold(Config *c, const char *v) {
        return parse_uint(v, 1, 60, &c->button_hold_sec);
}
static int p_maintenance(Config *c, const char *v) {
        return parse_time_of_day(v, &c->maintenance_minute);
}
static int p_gc(Config *c, const char *v) {
        return parse_uint(v, 1, 100, &c->gc_threshold);
}
static int p_attention(Config *c, const char *v) {
        return parse_uint(v, 1, 100, &c->disk_attention_percent);
}
static int p_drain(Config *c, const char *v) {
        return parse_uint(v, 0, 7 * 24 * 3600, &c->drain_timeout_sec);
}

static const ConfigKey keys[] = {
        { "state_dir", "an absolute path", p_state_dir },
        { "led", "none, auto, sysfs:/sys/class/leds/NAME or gpio:CHIP:LINE[:active-low|:active-high]", p_led },
        { "button", "none or gpio:CHIP:LINE[:active-low|:active-high]", p_button },
        { "button_hold_seconds", "a number of seconds from 1 to 60", p_hold },
        { "maintenance_time", "HH:MM (24 h, local time) or off", p_maintenance },
        { "gc_threshold", "a percentage from 1 to 100", p_gc },
        { "disk_attention_percent", "a percentage from 1 to 100", p_attention },
        { "drain_timeout_seconds", "a number of seconds up to a week", p_drain },
        { "metrics_file", "an absolute path or off", p_metrics_file },
};

typedef struct ParseContext {
        const char *file;
        Config *config;
} ParseContext;

static int assignment(const char *key, const char *value, unsigned line, void *userdata) {
        ParseContext *pc = userdata;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                int r;
                if (strcasecmp(key, keys[i].name) != 0)
                        continue;
                r = keys[i].parse(pc->config, value);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return log_error_errno(EINVAL, "%s:%u: %s must be %s, not '%.60s'.", pc->file, line, keys[i].name,
                                               keys[i].expect, value);
                return 0;
        }
        return log_error_errno(EINVAL, "%s:%u: unknown key '%.60s'.", pc->file, line, key);
}

int config_parse(const char *file, const char *text, size_t size, Config *c) {
        ParseContext pc = { .file = file, .config = c };
        unsigned line = 0;
        int r;

        if (size > CONFIG_SIZE_MAX)
                return log_error_errno(EFBIG, "%s: larger than %u KiB.", file, CONFIG_SIZE_MAX / 1024);
        r = kv_parse(text, size, assignment, &pc, &line);
        if (r == -EBADMSG)
                return log_error_errno(EINVAL, "%s:%u: expected key=value.", file, line);
        if (r == -E2BIG)
                return log_error_errno(EINVAL, "%s:%u: line too long.", file, line);
        return r;
}

int config_load(const char *path, Config *c) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file_logged(path, CONFIG_SIZE_MAX, true, &text, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        return config_parse(path, text, size, c);
}
