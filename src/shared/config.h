/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "gpio-spec.h"
#include "job-limits.h"
#include "network-util.h"

/* /etc/nspawn-runner/nspawn-runner.conf: key=value lines, '#' comments, keys case-insensitive, CRLF
 * accepted (the file may be edited on a laptop). An unknown key or a bad value is an error naming
 * the line: the daemon refuses to start rather than guess. */

#define CONFIG_FILE_NAME "nspawn-runner.conf"
#define CONFIG_SIZE_MAX (64U * 1024U)
/* gc_threshold: above this share of the state dir's filesystem in use, old cache dirs go. */
#define GC_THRESHOLD_DEFAULT 90

typedef enum HwKind {
        HW_NONE,  /* not present: run on without it */
        HW_AUTO,  /* the Pi 4's on-board LED when there is one */
        HW_SYSFS, /* a kernel LED class directory */
        HW_GPIO,  /* a GPIO line through libgpiod */
        _HW_KIND_MAX,
        _HW_KIND_INVALID = -EINVAL,
} HwKind;

typedef struct HwSpec {
        HwKind kind;
        char *path;    /* HW_SYSFS: the LED's directory */
        GpioSpec gpio; /* HW_GPIO */
} HwSpec;

/* The appliance's keys (used by appliance-setup and chroot-maintenance; the daemon accepts them). */
#define CONFIG_URL_MAX 512
#define CONFIG_TOKEN_MIN 8
#define CONFIG_TOKEN_MAX 256
#define CONFIG_CONCURRENT_MAX 64
#define CONFIG_IMAGES_MAX 16
#define CONFIG_HOSTNAME_MAX 64 /* what sethostname() takes */
#define CONFIG_SSH_KEYS_MAX 16
#define CONFIG_SSH_KEY_MAX 3072
#define CONFIG_DISK_MAX 256

typedef struct ConfigImage {
        char *name;
        char *suite; /* NULL: the image's name (or its playbook's suite) */
} ConfigImage;

typedef struct Config {
        char *state_dir;
        HwSpec led;
        HwSpec button;
        unsigned button_hold_sec;
        int maintenance_minute; /* minutes after local midnight; -1: no scheduled maintenance */
        unsigned gc_threshold;  /* percent */
        unsigned disk_attention_percent;
        unsigned drain_timeout_sec;
        char *metrics_file; /* NULL: none */

        char *gitlab_url;   /* NULL: not set */
        char *runner_token; /* NULL: not set; a secret: never logged, never in a message */
        unsigned concurrent;
        ConfigImage images[CONFIG_IMAGES_MAX];
        size_t n_images;
        char *hostname; /* NULL: leave it */
        char *ssh_keys[CONFIG_SSH_KEYS_MAX];
        size_t n_ssh_keys;
        char *data_disk; /* NULL: none (never format anything) */

        NetworkMode network; /* the jobs' network, unless an image's playbook says otherwise */
        NetworkCidr network_pool;
        NetworkCidr network_allow[NETWORK_ALLOW_MAX];
        size_t n_network_allow;
        JobLimits job_limits;
        bool job_suppress_sync; /* jobs' machines run with nspawn's --suppress-sync */
} Config;

void config_init(Config *c);
void config_done(Config *c);
/* Parses the text of a configuration file over the defaults in *c. On error, logs one line
 * "FILE:LINE: …" and returns -EINVAL. */
int config_parse(const char *file, const char *text, size_t size, Config *c);
/* Checks the shape of one authorized key, "TYPE BASE64 [comment]", and returns it with single blanks. */
int config_ssh_key_parse(const char *s, char **ret);
/* Loads path; a missing file leaves the defaults. */
int config_load(const char *path, Config *c);
/* config_load() of CONFIG_FILE_NAME in config_dir; a bad file is said once and leaves the defaults. */
void config_load_dir(const char *config_dir, Config *c);
/* config_load() that also hands the logged line to *ret_error (when not NULL) if it fails. */
int config_load_full(const char *path, Config *c, char **ret_error);
/* The configured image called name, or NULL. */
const ConfigImage *config_find_image(const Config *c, const char *name);
/* Parses "none", "auto", "sysfs:DIR" (where allow_sysfs) or "gpio:CHIP:LINE[:active-low|:active-high]";
 * active_low_default is what a GPIO line is without a flag. */
int config_hw_spec_parse(const char *s, bool allow_sysfs, bool active_low_default, HwSpec *ret);
void config_hw_spec_done(HwSpec *h);
