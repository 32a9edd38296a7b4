/* SPDX-License-Identifier: GPL-2.0-or-later */
/* conf/nspawn-runner.conf, the commented template the package installs: it parses, and with every
 * "#key = value" line of a key that has a default uncommented it still parses and changes nothing,
 * so the defaults it shows are the code's. (tests/package/check-docs.sh checks that it lists every
 * key.) */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "util.h"
#include "tap.h"

#define TEMPLATE "conf/nspawn-runner.conf"

static bool streq_null(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

static bool hw_spec_equal(const HwSpec *a, const HwSpec *b) {
        return a->kind == b->kind && streq_null(a->path, b->path) && streq_null(a->gpio.chip, b->gpio.chip) &&
               streq_null(a->gpio.line, b->gpio.line) && a->gpio.active_low == b->gpio.active_low;
}

/* Keys without a default: the template shows an example. */
static const char *const no_default[] = { "gitlab_url", "runner_token", "image", "hostname", "ssh_authorized_key",
                                          "network_allow" };

static bool has_default(const char *key, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(no_default); i++)
                if (strlen(no_default[i]) == len && strncmp(key, no_default[i], len) == 0)
                        return false;
        return true;
}

/* Drops the '#' of the lines that show a key with its default: "#key = value". Returns how many. */
static unsigned uncomment(char *text) {
        unsigned n = 0;
        char *p = text, *out = text;

        while (*p) {
                size_t eol = strcspn(p, "\n"), len = eol + (p[eol] == '\n');
                const char *eq = memmem(p, len, " = ", 3);
                bool key = p[0] == '#' && p[1] >= 'a' && p[1] <= 'z' && eq && has_default(p + 1, (size_t) (eq - p - 1));

                if (key) {
                        p++, len--;
                        n++;
                }
                memmove(out, p, len);
                out += len;
                p += len;
        }
        *out = 0;
        return n;
}

int main(void) {
        _cleanup_free_ char *text = NULL;
        Config defaults, c;
        size_t size;
        unsigned n;

        log_set_max_level(LOG_LEVEL_ERROR);
        if (read_full_file(TEMPLATE, CONFIG_SIZE_MAX, &text, &size) < 0) {
                CHECK(false, "read %s (run from the source tree)", TEMPLATE);
                return tap_done();
        }
        config_init(&defaults);

        config_init(&c);
        CHECK(config_parse(TEMPLATE, text, size, &c) == 0, "the template parses as it is");
        config_done(&c);

        n = uncomment(text);
        CHECK(n >= 11, "the template shows %u keys with a default", n);
        config_init(&c);
        CHECK(config_parse(TEMPLATE, text, strlen(text), &c) == 0, "the template parses with every key uncommented");
        CHECK(streq_null(c.state_dir, defaults.state_dir), "state_dir: %s", c.state_dir);
        CHECK(hw_spec_equal(&c.led, &defaults.led), "led: the default");
        CHECK(hw_spec_equal(&c.button, &defaults.button), "button: the default");
        CHECK(c.button_hold_sec == defaults.button_hold_sec, "button_hold_seconds: %u", c.button_hold_sec);
        CHECK(c.maintenance_minute == defaults.maintenance_minute, "maintenance_time: minute %d", c.maintenance_minute);
        CHECK(c.gc_threshold == defaults.gc_threshold, "gc_threshold: %u", c.gc_threshold);
        CHECK(c.job_suppress_sync == defaults.job_suppress_sync, "job_suppress_sync: %d", c.job_suppress_sync);
        CHECK(c.disk_attention_percent == defaults.disk_attention_percent, "disk_attention_percent: %u",
              c.disk_attention_percent);
        CHECK(c.drain_timeout_sec == defaults.drain_timeout_sec, "drain_timeout_seconds: %u", c.drain_timeout_sec);
        CHECK(streq_null(c.metrics_file, defaults.metrics_file), "metrics_file: %s", c.metrics_file ?: "off");
        CHECK(c.concurrent == defaults.concurrent, "concurrent: %u", c.concurrent);
        CHECK(streq_null(c.data_disk, defaults.data_disk), "data_disk: %s", c.data_disk ?: "none");
        CHECK(c.network == defaults.network, "network: %s", network_mode_to_string(c.network));
        CHECK(memcmp(&c.network_pool, &defaults.network_pool, sizeof(NetworkCidr)) == 0, "network_pool: the default");
        CHECK(!c.gitlab_url && !c.runner_token && c.n_network_allow == 0 && c.n_images == 0 && !c.hostname && c.n_ssh_keys == 0,
              "the examples of keys without default stay comments");
        config_done(&c);
        config_done(&defaults);
        return tap_done();
}
