/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Config c;

        log_set_max_level(_LOG_LEVEL_INVALID);
        config_init(&c);
        if (config_parse("fuzz.conf", (const char *) data, size, &c) >= 0) {
                if (c.button_hold_sec < 1 || c.button_hold_sec > 60 || c.maintenance_minute >= 24 * 60 ||
                    (c.led.kind == HW_GPIO && (!c.led.gpio.chip || !c.led.gpio.line)) || !c.state_dir || c.state_dir[0] != '/')
                        __builtin_trap();
                if (c.concurrent < 1 || c.concurrent > CONFIG_CONCURRENT_MAX || c.n_images > CONFIG_IMAGES_MAX ||
                    c.n_ssh_keys > CONFIG_SSH_KEYS_MAX || (c.data_disk && strncmp(c.data_disk, "/dev/", 5) != 0) ||
                    (c.hostname && strlen(c.hostname) > CONFIG_HOSTNAME_MAX) ||
                    (c.runner_token && strlen(c.runner_token) > CONFIG_TOKEN_MAX) ||
                    (c.gitlab_url && strlen(c.gitlab_url) > CONFIG_URL_MAX))
                        __builtin_trap();
                for (size_t i = 0; i < c.n_images; i++)
                        if (!c.images[i].name || strchr(c.images[i].name, '/') || (c.images[i].suite && strchr(c.images[i].suite, '/')))
                                __builtin_trap();
                for (size_t i = 0; i < c.n_ssh_keys; i++)
                        if (strlen(c.ssh_keys[i]) > CONFIG_SSH_KEY_MAX || strchr(c.ssh_keys[i], '\n'))
                                __builtin_trap();
        }
        config_done(&c);
        return 0;
}
