/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A kernel LED class device (/sys/class/leds/NAME): taken from its trigger while the daemon runs
 * and handed back afterwards, so that e.g. the Pi's ACT LED shows SD card activity again. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

#include "led-backend.h"
#include "log.h"
#include "util.h"

/* The trigger file lists every trigger the kernel knows, which can be more than a page. */
#define ATTRIBUTE_SIZE_MAX (64U * 1024U)

typedef struct LedSysfs {
        char *dir;
        int dir_fd;
        char *trigger;        /* the active one when we came, to hand the LED back to */
        uint64_t brightness;  /* as we found it, which matters when that trigger is "none" */
        uint64_t max_brightness;
} LedSysfs;

static void led_sysfs_free(LedSysfs *l) {
        if (!l)
                return;
        closep(&l->dir_fd);
        free(l->trigger);
        free(l->dir);
        free(l);
}

static void led_sysfs_freep(LedSysfs **l) {
        led_sysfs_free(*l);
}

static int read_attribute(int dir_fd, const char *name, char **ret) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        char *s;
        int r;

        if (fd < 0)
                return -errno;
        r = read_full_fd(fd, ATTRIBUTE_SIZE_MAX, &s, NULL);
        if (r < 0)
                return r;
        s[strcspn(s, "\n")] = 0;
        *ret = s;
        return 0;
}

static int read_attribute_u64(int dir_fd, const char *name, uint64_t *ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_attribute(dir_fd, name, &s);
        return r < 0 ? r : safe_atou64(s, ret);
}

/* In a single write(): sysfs takes a value only whole. */
static int write_attribute(int dir_fd, const char *name, const char *value) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        size_t n = strlen(value);
        ssize_t k;

        if (fd < 0)
                return -errno;
        k = write(fd, value, n);
        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

static int write_attribute_u64(int dir_fd, const char *name, uint64_t value) {
        char buf[sizeof("18446744073709551615")];

        snprintf(buf, sizeof(buf), "%" PRIu64, value);
        return write_attribute(dir_fd, name, buf);
}

/* "none [heartbeat] mmc0": the one in brackets is active. */
static int active_trigger(const char *list, char **ret) {
        const char *start = strchr(list, '['), *end;
        char *s;

        if (!start)
                return -EBADMSG;
        start++;
        end = strchr(start, ']');
        if (!end || end == start)
                return -EBADMSG;
        s = strndup(start, (size_t) (end - start));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int sysfs_set(void *data, bool on) {
        LedSysfs *l = data;

        return write_attribute_u64(l->dir_fd, "brightness", on ? l->max_brightness : 0);
}

static void sysfs_close(void *data) {
        LedSysfs *l = data;
        int r;

        /* Writing the brightness removes any trigger, so the trigger goes back last. */
        r = write_attribute_u64(l->dir_fd, "brightness", l->brightness);
        if (r >= 0)
                r = write_attribute(l->dir_fd, "trigger", l->trigger);
        if (r < 0)
                log_warning_errno(r, "Failed to hand LED %s back to its trigger %s: %m", l->dir, l->trigger);
        led_sysfs_free(l);
}

int led_backend_sysfs(const char *dir, LedBackend *ret) {
        _cleanup_(led_sysfs_freep) LedSysfs *l = NULL;
        _cleanup_free_ char *triggers = NULL;
        int r;

        l = calloc(1, sizeof(*l));
        if (!l)
                return log_oom();
        l->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (l->dir_fd < 0) {
                if (errno == ENOENT)
                        return log_error_errno(errno, "LED %s not found.", dir);
                return log_error_errno(errno, "Failed to open LED %s: %m", dir);
        }
        l->dir = strdup(dir);
        if (!l->dir)
                return log_oom();

        r = read_attribute_u64(l->dir_fd, "max_brightness", &l->max_brightness);
        if (r >= 0 && l->max_brightness == 0)
                r = -EINVAL;
        if (r >= 0)
                r = read_attribute_u64(l->dir_fd, "brightness", &l->brightness);
        if (r >= 0)
                r = read_attribute(l->dir_fd, "trigger", &triggers);
        if (r >= 0)
                r = active_trigger(triggers, &l->trigger);
        if (r < 0)
                return log_error_errno(r, "%s is not a usable LED class device: %m", dir);

        r = write_attribute(l->dir_fd, "trigger", "none");
        if (r < 0)
                return log_error_errno(r, "Failed to take LED %s over from its trigger: %m", dir);

        *ret = (LedBackend) { .set = sysfs_set, .close = sysfs_close, .data = TAKE_PTR(l) };
        return 0;
}
