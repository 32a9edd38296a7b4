/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A kernel LED class device (/sys/class/leds/NAME): taken from its trigger while the daemon runs
 * and handed back afterwards, so that e.g. the Pi's ACT LED shows SD card activity again. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "kv.h"
#include "led-backend.h"
#include "log.h"
#include "util.h"

/* The trigger file lists every trigger the kernel knows, which can be more than a page. */
#define ATTRIBUTE_SIZE_MAX (64U * 1024U)

typedef struct LedSysfs {
        char *dir;
        char *save_path;      /* NULL: nothing saved */
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
        free(l->save_path);
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

/* Writing the brightness removes any trigger, so the trigger goes back last. */
static int hand_back(int dir_fd, const char *dir, const char *trigger, uint64_t brightness) {
        int r;

        r = write_attribute_u64(dir_fd, "brightness", brightness);
        if (r >= 0)
                r = write_attribute(dir_fd, "trigger", trigger);
        if (r < 0)
                return log_warning_errno(r, "Failed to hand LED %s back to its trigger %s: %m", dir, trigger);
        return 0;
}

static void sysfs_close(void *data) {
        LedSysfs *l = data;

        if (hand_back(l->dir_fd, l->dir, l->trigger, l->brightness) >= 0 && l->save_path)
                (void) unlink(l->save_path);
        led_sysfs_free(l);
}

static void led_save(const LedSysfs *l, const char *save_path) {
        _cleanup_free_ char *text = led_saved_format(&(LedSaved) { .dir = l->dir, .trigger = l->trigger, .brightness = l->brightness });
        int r;

        r = text ? write_file_atomic(save_path, text, 0600) : -ENOMEM;
        if (r < 0)
                log_warning_errno(r, "Cannot save LED %s's trigger to %s (a crash leaves it dark): %m", l->dir, save_path);
}

int led_backend_sysfs(const char *dir, LedBackend *ret) {
        return led_backend_sysfs_saving(dir, NULL, ret);
}

int led_backend_sysfs_saving(const char *dir, const char *save_path, LedBackend *ret) {
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

        if (save_path) {
                led_save(l, save_path);
                l->save_path = strdup(save_path);
                if (!l->save_path)
                        return log_oom();
        }
        r = write_attribute(l->dir_fd, "trigger", "none");
        if (r < 0)
                return log_error_errno(r, "Failed to take LED %s over from its trigger: %m", dir);

        *ret = (LedBackend) { .set = sysfs_set, .close = sysfs_close, .data = TAKE_PTR(l) };
        return 0;
}

void led_saved_done(LedSaved *s) {
        free(s->dir);
        free(s->trigger);
        *s = (LedSaved) {};
}

char *led_saved_format(const LedSaved *s) {
        return strprintf("# nspawn-runnerd took this LED over; nspawn-runnerd --restore-led hands it back.\n"
                         "dir=%s\ntrigger=%s\nbrightness=%" PRIu64 "\n",
                         s->dir, s->trigger, s->brightness);
}

static bool trigger_name_ok(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= LED_TRIGGER_NAME_MAX &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:+-") == n;
}

static int saved_assign(const char *key, const char *value, unsigned line _unused_, void *userdata) {
        LedSaved *s = userdata;

        if (streq(key, "dir") && !s->dir && value[0] == '/' && strlen(value) < PATH_MAX)
                return (s->dir = strdup(value)) ? 0 : -ENOMEM;
        if (streq(key, "trigger") && !s->trigger && trigger_name_ok(value))
                return (s->trigger = strdup(value)) ? 0 : -ENOMEM;
        if (streq(key, "brightness") && s->brightness == UINT64_MAX)
                return safe_atou64(value, &s->brightness) < 0 || s->brightness == UINT64_MAX ? -EBADMSG : 0;
        return -EBADMSG;
}

int led_saved_parse(const char *text, size_t size, LedSaved *ret) {
        LedSaved s = { .brightness = UINT64_MAX };
        unsigned line;
        int r;

        r = size > LED_SAVED_SIZE_MAX ? -EBADMSG : kv_parse(text, size, saved_assign, &s, &line);
        if (r >= 0 && (!s.dir || !s.trigger || s.brightness == UINT64_MAX))
                r = -EBADMSG;
        if (r < 0) {
                led_saved_done(&s);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        *ret = s;
        return 0;
}

static int saved_read(const char *save_path, LedSaved *ret) {
        _cleanup_close_ int fd = open(save_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        _cleanup_free_ char *text = NULL;
        struct stat st;
        size_t size;
        int r;

        if (fd < 0)
                return errno == ENOENT ? 0 : log_error_errno(errno, "Cannot open %s: %m", save_path);
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Cannot stat %s: %m", save_path);
        if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0022))
                return log_error_errno(EPERM, "%s is not a file only root may write: not taken.", save_path);
        r = read_full_fd(fd, LED_SAVED_SIZE_MAX, &text, &size);
        if (r >= 0)
                r = led_saved_parse(text, size, ret);
        if (r < 0)
                return log_error_errno(r, "%s does not say which LED to hand back: %m", save_path);
        return 1;
}

int led_sysfs_restore(const char *save_path) {
        _cleanup_(led_saved_done) LedSaved s = {};
        _cleanup_close_ int dir_fd = -EBADF;
        int r;

        r = saved_read(save_path, &s);
        if (r <= 0)
                return r;
        dir_fd = open(s.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return log_error_errno(errno, "Cannot open LED %s: %m", s.dir);
        r = hand_back(dir_fd, s.dir, s.trigger, s.brightness);
        if (r < 0)
                return r;
        log_info("LED %s handed back to its trigger %s.", s.dir, s.trigger);
        if (unlink(save_path) < 0)
                return log_error_errno(errno, "Cannot remove %s: %m", save_path);
        return 0;
}
