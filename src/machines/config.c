/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "context.h"
#include "gc.h"
#include "image-name.h"
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
                .concurrent = 1,
                .job_limits = JOB_LIMITS_DEFAULT,
                .job_suppress_sync = true,
        };
        (void) network_pool_parse(NETWORK_POOL_DEFAULT, &c->network_pool);
}

void config_done(Config *c) {
        free(c->state_dir);
        free(c->metrics_file);
        free(c->gitlab_url);
        if (c->runner_token)
                explicit_bzero(c->runner_token, strlen(c->runner_token));
        free(c->runner_token);
        for (size_t i = 0; i < c->n_images; i++) {
                free(c->images[i].name);
                free(c->images[i].suite);
        }
        free(c->hostname);
        for (size_t i = 0; i < c->n_ssh_keys; i++)
                free(c->ssh_keys[i]);
        free(c->data_disk);
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

static bool is_alnum(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* http(s)://HOST[:PORT][/PATH], HOST a DNS name, an IPv4 address or a bracketed IPv6 address. */
static bool url_valid(const char *v) {
        const char *p;
        size_t n = 0;

        if (strlen(v) > CONFIG_URL_MAX)
                return false;
        if (strncasecmp(v, "https://", 8) == 0)
                p = v + 8;
        else if (strncasecmp(v, "http://", 7) == 0)
                p = v + 7;
        else
                return false;
        if (*p == '[') {
                for (p++; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'; p++)
                        n++;
                if (*p++ != ']')
                        return false;
        } else {
                if (*p == '.' || *p == '-')
                        return false;
                for (; is_alnum(*p) || *p == '.' || *p == '-'; p++)
                        n++;
        }
        if (n == 0)
                return false;
        if (*p == ':') {
                uint64_t port = 0;
                size_t digits = 0;
                for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
                        port = port * 10 + (uint64_t) (*p - '0');
                if (digits == 0 || port == 0 || port > 65535)
                        return false;
        }
        if (*p && *p != '/')
                return false;
        for (; *p; p++)
                if (*p <= ' ' || *p >= 0x7f || strchr("\"\\<>`{}|^", *p))
                        return false;
        return true;
}

/* A runner authentication token (glrt-…) or an older token: letters, digits, '.', '_', '-'. */
static bool token_valid(const char *v) {
        size_t n = strlen(v);

        if (n < CONFIG_TOKEN_MIN || n > CONFIG_TOKEN_MAX)
                return false;
        for (const char *p = v; *p; p++)
                if (!is_alnum(*p) && *p != '.' && *p != '_' && *p != '-')
                        return false;
        return true;
}

/* RFC 1123: dot-separated labels of letters, digits and '-', none starting or ending with '-'. */
static bool hostname_valid(const char *v) {
        size_t label = 0, n = strlen(v);

        if (n == 0 || n > CONFIG_HOSTNAME_MAX)
                return false;
        for (size_t i = 0; i <= n; i++) {
                char ch = v[i];
                if (ch == '.' || ch == 0) {
                        if (label == 0 || label > 63 || v[i - 1] == '-')
                                return false;
                        label = 0;
                } else if (is_alnum(ch) || ch == '-') {
                        if (label == 0 && ch == '-')
                                return false;
                        label++;
                } else
                        return false;
        }
        return true;
}

static bool disk_valid(const char *v) {
        const char *rest = startswith(v, "/dev/");

        if (!rest || !*rest || strlen(v) > CONFIG_DISK_MAX || strstr(v, "..") || strstr(v, "//") || v[strlen(v) - 1] == '/')
                return false;
        for (; *rest; rest++)
                if (!is_alnum(*rest) && !strchr("/_.:+@-", *rest))
                        return false;
        return true;
}

static int b64_value(char ch) {
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* The key blob starts with its own type as an SSH string (a 32-bit length, then the bytes). */
static bool ssh_blob_matches(const char *b64, size_t n, const char *type, size_t type_len) {
        uint8_t buf[96];
        size_t out = 0;

        n = n / 4 * 4;
        if (n > 128)
                n = 128;
        for (size_t i = 0; i + 4 <= n; i += 4) {
                int v[4];
                for (size_t k = 0; k < 4; k++)
                        v[k] = b64_value(b64[i + k]);
                if (v[0] < 0 || v[1] < 0)
                        break;
                buf[out++] = (uint8_t) (v[0] << 2 | v[1] >> 4);
                if (v[2] < 0)
                        break;
                buf[out++] = (uint8_t) ((v[1] & 15) << 4 | v[2] >> 2);
                if (v[3] < 0)
                        break;
                buf[out++] = (uint8_t) ((v[2] & 3) << 6 | v[3]);
        }
        return out >= 4 + type_len &&
               ((size_t) buf[0] << 24 | (size_t) buf[1] << 16 | (size_t) buf[2] << 8 | buf[3]) == type_len &&
               memcmp(buf + 4, type, type_len) == 0;
}

int ssh_key_parse(const char *s, char **ret) {
        const char *type = s, *b64, *comment;
        size_t type_len, b64_len, pad = 0;

        if (strlen(s) > CONFIG_SSH_KEY_MAX)
                return -EINVAL;
        type_len = strcspn(type, " \t");
        b64 = type + type_len + strspn(type + type_len, " \t");
        b64_len = strcspn(b64, " \t");
        comment = b64 + b64_len + strspn(b64 + b64_len, " \t");
        if (type_len == 0 || type_len > 64 || b64_len < 16 || b64_len % 4 != 0)
                return -EINVAL;
        for (size_t i = 0; i < type_len; i++)
                if (!(type[i] >= 'a' && type[i] <= 'z') && !(type[i] >= '0' && type[i] <= '9') && !strchr("@.-", type[i]))
                        return -EINVAL;
        for (size_t i = 0; i < b64_len; i++) {
                if (b64[i] == '=' && i + 2 >= b64_len && pad < 2) {
                        pad++;
                        continue;
                }
                if (pad > 0 || b64_value(b64[i]) < 0)
                        return -EINVAL;
        }
        for (const char *p = comment; *p; p++)
                if ((unsigned char) *p < ' ' && *p != '\t')
                        return -EINVAL;
        if (!ssh_blob_matches(b64, b64_len, type, type_len))
                return -EINVAL;
        *ret = strprintf("%.*s %.*s%s%s", (int) type_len, type, (int) b64_len, b64, *comment ? " " : "", comment);
        return *ret ? 0 : -ENOMEM;
}

typedef struct ConfigKey {
        const char *name;
        const char *expect; /* what a bad value is told it should be */
        int (*parse)(Config *c, const char *v);
        bool secret;        /* the value is never repeated in a message */
        unsigned max_count; /* repeatable keys: how often */
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

static int p_gitlab_url(Config *c, const char *v) {
        return url_valid(v) ? free_and_strdup(&c->gitlab_url, v) : -EINVAL;
}
static int p_runner_token(Config *c, const char *v) {
        if (!token_valid(v))
                return -EINVAL;
        if (c->runner_token)
                explicit_bzero(c->runner_token, strlen(c->runner_token));
        return free_and_strdup(&c->runner_token, v);
}
static int p_concurrent(Config *c, const char *v) {
        return parse_uint(v, 1, CONFIG_CONCURRENT_MAX, &c->concurrent);
}
static int p_image(Config *c, const char *v) {
        const char *colon = strchr(v, ':');
        size_t name_len = colon ? (size_t) (colon - v) : strlen(v);
        _cleanup_free_ char *name = NULL, *suite = NULL;

        if (image_name_check(v, name_len) != IMAGE_NAME_OK || (colon && image_name_check(colon + 1, strlen(colon + 1)) != IMAGE_NAME_OK))
                return -EINVAL;
        name = strndup(v, name_len);
        if (!name || (colon && !(suite = strdup(colon + 1))))
                return -ENOMEM;
        if (config_find_image(c, name))
                return -EEXIST;
        if (c->n_images >= CONFIG_IMAGES_MAX)
                return -E2BIG;
        c->images[c->n_images++] = (ConfigImage) { .name = TAKE_PTR(name), .suite = TAKE_PTR(suite) };
        return 0;
}
static int p_hostname(Config *c, const char *v) {
        return hostname_valid(v) ? free_and_strdup(&c->hostname, v) : -EINVAL;
}
static int p_ssh_key(Config *c, const char *v) {
        char *key;
        int r = ssh_key_parse(v, &key);
        if (r < 0)
                return r;
        if (c->n_ssh_keys >= CONFIG_SSH_KEYS_MAX) {
                free(key);
                return -E2BIG;
        }
        c->ssh_keys[c->n_ssh_keys++] = key;
        return 0;
}
static int p_suppress_sync(Config *c, const char *v) {
        static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
                        c->job_suppress_sync = strcasecmp(v, yes[i]) == 0;
                        return 0;
                }
        return -EINVAL;
}
static int p_data_disk(Config *c, const char *v) {
        if (strcasecmp(v, "none") == 0) {
                free(c->data_disk);
                c->data_disk = NULL;
                return 0;
        }
        return disk_valid(v) ? free_and_strdup(&c->data_disk, v) : -EINVAL;
}

static int p_network(Config *c, const char *v) {
        NetworkMode m = network_mode_from_string(v);
        if (m < 0)
                return -EINVAL;
        c->network = m;
        return 0;
}
static int p_network_pool(Config *c, const char *v) {
        return network_pool_parse(v, &c->network_pool);
}
static int p_network_allow(Config *c, const char *v) {
        if (c->n_network_allow >= NETWORK_ALLOW_MAX)
                return -E2BIG;
        if (network_cidr_parse(v, &c->network_allow[c->n_network_allow]) < 0)
                return -EINVAL;
        c->n_network_allow++;
        return 0;
}
#define P_JOB_LIMIT(name, l) \
        static int name(Config *c, const char *v) { \
                return job_limit_parse(l, v, &c->job_limits.value[l]); \
        }
P_JOB_LIMIT(p_job_memory, JOB_LIMIT_MEMORY)
P_JOB_LIMIT(p_job_swap, JOB_LIMIT_SWAP)
P_JOB_LIMIT(p_job_tasks, JOB_LIMIT_TASKS)
P_JOB_LIMIT(p_job_cpu_weight, JOB_LIMIT_CPU_WEIGHT)
P_JOB_LIMIT(p_job_cpu_quota, JOB_LIMIT_CPU_QUOTA)
P_JOB_LIMIT(p_job_disk, JOB_LIMIT_DISK)

const ConfigImage *config_find_image(const Config *c, const char *name) {
        for (size_t i = 0; i < c->n_images; i++)
                if (streq(c->images[i].name, name))
                        return &c->images[i];
        return NULL;
}

static const ConfigKey keys[] = {
        { "state_dir", "an absolute path", p_state_dir },
        { "led", "none, auto, sysfs:/sys/class/leds/NAME or gpio:CHIP:LINE[:active-low|:active-high]", p_led },
        { "button", "none or gpio:CHIP:LINE[:active-low|:active-high]", p_button },
        { "button_hold_seconds", "a number of seconds from 1 to 60", p_hold },
        { "maintenance_time", "HH:MM (24 h, local time) or off", p_maintenance },
        { "gc_threshold", "a percentage from 1 to 100", p_gc },
        { "job_suppress_sync", "yes or no", p_suppress_sync },
        { "disk_attention_percent", "a percentage from 1 to 100", p_attention },
        { "drain_timeout_seconds", "a number of seconds up to a week", p_drain },
        { "metrics_file", "an absolute path or off", p_metrics_file },
        { "gitlab_url", "an http:// or https:// URL of up to 512 characters", p_gitlab_url },
        { "runner_token", "8 to 256 letters, digits, '.', '_' or '-' (glrt-…)", p_runner_token, .secret = true },
        { "concurrent", "a number of jobs from 1 to 64", p_concurrent },
        { "image", "NAME or NAME:SUITE (letters, digits, '.', '_', '+', '-'; up to 64 each)", p_image,
          .max_count = CONFIG_IMAGES_MAX },
        { "hostname", "a host name (RFC 1123) of up to 64 characters", p_hostname },
        { "ssh_authorized_key", "an ssh public key line: TYPE BASE64 [comment]", p_ssh_key,
          .max_count = CONFIG_SSH_KEYS_MAX },
        { "data_disk", "none or a device path under /dev/", p_data_disk },
        { "network", "isolated, host or none", p_network },
        { "network_pool", "an IPv4 prefix from /8 to /30, e.g. " NETWORK_POOL_DEFAULT, p_network_pool },
        { "network_allow", "an address or prefix with an optional port: A.B.C.D[/N][:PORT] or [IPV6[/N]]:PORT",
          p_network_allow, .max_count = NETWORK_ALLOW_MAX },
        { "job_memory_max", "a size (512M, 2G) or off", p_job_memory },
        { "job_swap_max", "a size (512M, 2G) or off", p_job_swap },
        { "job_tasks_max", "a number of tasks from 16 up, or off", p_job_tasks },
        { "job_cpu_weight", "a weight from 1 to 10000 (100 is the default share)", p_job_cpu_weight },
        { "job_cpu_quota", "a percentage of one CPU (150%) or off", p_job_cpu_quota },
        { "job_disk_max", "a size from 16M (512M, 10G) or off", p_job_disk },
};

typedef struct ParseContext {
        const char *file;
        Config *config;
        char *error; /* the line logged, for a caller that shows it elsewhere */
} ParseContext;

/* Logs one line and keeps it in pc->error; returns -error. */
_printf_(3, 4) static int parse_error(ParseContext *pc, int error, const char *format, ...) {
        va_list ap;
        char *msg = NULL;

        va_start(ap, format);
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return log_oom();
        log_error("%s", msg);
        free(pc->error);
        pc->error = msg;
        return -error;
}

static int assignment(const char *key, const char *value, unsigned line, void *userdata) {
        ParseContext *pc = userdata;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const ConfigKey *k = &keys[i];
                int r;

                if (strcasecmp(key, k->name) != 0)
                        continue;
                r = k->parse(pc->config, value);
                if (r == -ENOMEM)
                        return log_oom();
                if (r == -E2BIG)
                        return parse_error(pc, EINVAL, "%s:%u: %s: at most %u of them.", pc->file, line, k->name, k->max_count);
                if (r == -EEXIST)
                        return parse_error(pc, EINVAL, "%s:%u: %s: '%.60s' is listed twice.", pc->file, line, k->name, value);
                if (r < 0 && k->secret)
                        /* Not even a part of it: a token that is almost right is almost a token. */
                        return parse_error(pc, EINVAL, "%s:%u: %s: not a valid token (it must be %s).", pc->file, line,
                                           k->name, k->expect);
                if (r < 0)
                        return parse_error(pc, EINVAL, "%s:%u: %s must be %s, not '%.60s'.", pc->file, line, k->name,
                                           k->expect, value);
                return 0;
        }
        return parse_error(pc, EINVAL, "%s:%u: unknown key '%.60s'.", pc->file, line, key);
}

static int parse_full(const char *file, const char *text, size_t size, Config *c, char **ret_error) {
        ParseContext pc = { .file = file, .config = c };
        unsigned line = 0;
        int r;

        if (size > CONFIG_SIZE_MAX)
                r = parse_error(&pc, EFBIG, "%s: larger than %u KiB.", file, CONFIG_SIZE_MAX / 1024);
        else {
                r = kv_parse(text, size, assignment, &pc, &line);
                if (r == -EBADMSG)
                        r = parse_error(&pc, EINVAL, "%s:%u: expected key=value.", file, line);
                else if (r == -E2BIG)
                        r = parse_error(&pc, EINVAL, "%s:%u: line too long.", file, line);
        }
        if (ret_error && r < 0 && pc.error)
                *ret_error = TAKE_PTR(pc.error);
        free(pc.error);
        return r;
}

int config_parse(const char *file, const char *text, size_t size, Config *c) {
        return parse_full(file, text, size, c, NULL);
}

int config_load_full(const char *path, Config *c, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file_logged(path, CONFIG_SIZE_MAX, true, &text, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                if (ret_error)
                        *ret_error = strprintf("Cannot read %s: %s", path, strerror(-r));
                return r;
        }
        r = parse_full(path, text, size, c, ret_error);
        explicit_bzero(text, size);
        return r;
}

int config_load(const char *path, Config *c) {
        return config_load_full(path, c, NULL);
}

void config_load_dir(const char *config_dir, Config *c) {
        _cleanup_free_ char *path = path_join(config_dir, CONFIG_FILE_NAME);

        config_init(c);
        if (!path || config_load(path, c) < 0) {
                config_done(c);
                config_init(c);
        }
}
