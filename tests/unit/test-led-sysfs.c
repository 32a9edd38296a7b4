/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel LED class backend on a temporary directory laid out like /sys/class/leds/ACT. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "led-sysfs.h"
#include "log.h"
#include "rm-rf.h"
#include "tap.h"
#include "util.h"

static const char *dir;

static void put(const char *name, const char *contents) {
        _cleanup_free_ char *p = path_join(dir, name);

        if (!p || write_file_atomic(p, contents, 0644) < 0)
                abort();
}

/* The attribute's first line, "(missing)" when it cannot be read. */
static char *get(const char *name) {
        static char buf[256];
        _cleanup_free_ char *p = path_join(dir, name), *s = NULL;

        snprintf(buf, sizeof(buf), "%s", p && read_one_line_file(p, &s) >= 0 ? s : "(missing)");
        return buf;
}

static void lay_out(const char *trigger, const char *max_brightness) {
        put("trigger", trigger);
        put("brightness", "0\n");
        put("max_brightness", max_brightness);
}

static void test_takeover(void) {
        LedBackend b;

        lay_out("none [heartbeat] mmc0\n", "255\n");
        CHECK(led_backend_sysfs(dir, &b) == 0, "open");
        CHECK_STREQ(get("trigger"), "none", "open switches the trigger to none");
        CHECK(led_backend_set(&b, true) == 0, "set on");
        CHECK_STREQ(get("brightness"), "255", "on writes max_brightness");
        CHECK(led_backend_set(&b, false) == 0, "set off");
        CHECK_STREQ(get("brightness"), "0", "off writes 0");
        CHECK(led_backend_set(&b, true) == 0, "on again before closing");
        led_backend_close(&b);
        CHECK_STREQ(get("trigger"), "heartbeat", "close restores heartbeat");
        CHECK_STREQ(get("brightness"), "0", "and the brightness found at open");
        CHECK(led_backend_set(&b, true) == 0 && !b.close, "a closed backend is the null backend");
        CHECK_STREQ(get("brightness"), "0", "which writes nothing");

        lay_out("[none] timer\n", "1\n");
        put("brightness", "1\n");
        CHECK(led_backend_sysfs(dir, &b) == 0 && led_backend_set(&b, false) == 0, "an LED without a trigger");
        CHECK_STREQ(get("brightness"), "0", "max_brightness 1: off is 0");
        led_backend_close(&b);
        CHECK_STREQ(get("trigger"), "none", "goes back to none");
        CHECK_STREQ(get("brightness"), "1", "and to being lit, as it was");
}

/* Sets the LED n times with stderr going to a file; returns how many lines were logged. */
static int count_warnings(LedBackend *b, unsigned n) {
        char tmpl[] = "/tmp/test-led-sysfs-log-XXXXXX";
        _cleanup_close_ int fd = mkostemp(tmpl, O_CLOEXEC), saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        _cleanup_free_ char *text = NULL;
        int lines = 0;

        if (fd < 0 || saved < 0 || unlink(tmpl) < 0)
                return -errno;
        log_set_max_level(LOG_LEVEL_WARNING);
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        for (unsigned i = 0; i < n; i++)
                if (led_backend_set(b, i % 2 == 0) >= 0)
                        lines = -EIO;
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        log_set_max_level(LOG_LEVEL_ERROR);

        if (lines < 0 || lseek(fd, 0, SEEK_SET) < 0 || read_full_fd(fd, 4096, &text, NULL) < 0)
                return -EIO;
        for (const char *p = text; (p = strchr(p, '\n')); p++)
                lines++;
        return lines;
}

static void test_failures(void) {
        _cleanup_free_ char *missing = path_join(dir, "no-such-led"), *brightness = path_join(dir, "brightness");
        LedBackend b;

        CHECK(led_backend_sysfs(missing, &b) == -ENOENT, "a missing LED directory is -ENOENT");

        lay_out("none heartbeat mmc0\n", "255\n");
        CHECK(led_backend_sysfs(dir, &b) == -EBADMSG, "no active trigger in brackets: -EBADMSG");
        CHECK_STREQ(get("trigger"), "none heartbeat mmc0", "the trigger is left alone");

        lay_out("none [heartbeat]\n", "0\n");
        CHECK(led_backend_sysfs(dir, &b) == -EINVAL, "max_brightness 0: -EINVAL");
        lay_out("none [heartbeat]\n", "bright\n");
        CHECK(led_backend_sysfs(dir, &b) == -EINVAL, "max_brightness not a number: -EINVAL");
        CHECK_STREQ(get("trigger"), "none [heartbeat]", "the trigger is left alone");

        lay_out("none [heartbeat]\n", "255\n");
        CHECK(brightness && unlink(brightness) == 0, "remove brightness");
        CHECK(led_backend_sysfs(dir, &b) == -ENOENT, "no brightness attribute: -ENOENT");

        lay_out("none [heartbeat]\n", "255\n");
        CHECK(led_backend_sysfs(dir, &b) == 0, "open");
        (void) unlink(brightness);
        CHECK(count_warnings(&b, 3) == 1 && b.failing, "failing writes are logged once");
        put("brightness", "0\n");
        CHECK(led_backend_set(&b, true) == 0 && !b.failing, "until a write works again");
        (void) unlink(brightness);
        CHECK(count_warnings(&b, 2) == 1, "then the next failure is logged again");
        put("brightness", "0\n");
        led_backend_close(&b);
        CHECK_STREQ(get("trigger"), "heartbeat", "close restores heartbeat");

        led_backend_null(&b);
        CHECK(led_backend_set(&b, true) == 0 && led_backend_set(&b, false) == 0, "the null backend takes anything");
        led_backend_close(&b);
}

static int saved_parse(const char *text, LedSaved *ret) {
        return led_saved_parse(text, strlen(text), ret);
}

static void test_saved(void) {
        _cleanup_free_ char *save = path_join(dir, "saved");
        LedBackend b;
        LedSaved ls;

        lay_out("none [heartbeat] mmc0\n", "255\n");
        put("brightness", "7\n");
        CHECK(save && led_backend_sysfs_saving(dir, save, &b) == 0, "open, saving the trigger");
        CHECK(access(save, F_OK) == 0, "the save file is there");
        CHECK(led_backend_set(&b, true) == 0, "set");
        /* A SIGKILL: the backend is not closed before the restore. */
        CHECK_STREQ(get("trigger"), "none", "the LED is ours");
        CHECK(led_sysfs_restore(save) == 0, "restore");
        CHECK_STREQ(get("trigger"), "heartbeat", "restore brings heartbeat back");
        CHECK_STREQ(get("brightness"), "7", "and the brightness");
        CHECK(access(save, F_OK) < 0 && errno == ENOENT, "and removes the save file");
        CHECK(led_sysfs_restore(save) == 0, "nothing saved: nothing to do");
        led_backend_close(&b); /* the test's own cleanup of the "killed" backend */

        lay_out("none [heartbeat] mmc0\n", "255\n");
        CHECK(led_backend_sysfs_saving(dir, save, &b) == 0, "open again");
        led_backend_close(&b);
        CHECK(access(save, F_OK) < 0, "a clean close removes the save file");

        put("saved", "dir=/x\ntrigger=heartbeat\n");
        CHECK(led_sysfs_restore(save) == -EBADMSG && access(save, F_OK) == 0, "a save file without brightness is kept");
        CHECK(chmod(save, 0666) == 0 && led_sysfs_restore(save) == -EPERM, "a world-writable one is refused");
        (void) unlink(save);

        CHECK(saved_parse("dir=/sys/class/leds/ACT\ntrigger=mmc0\nbrightness=0\n", &ls) == 0 &&
              strcmp(ls.trigger, "mmc0") == 0 && ls.brightness == 0, "parse");
        led_saved_done(&ls);
        CHECK(saved_parse("dir=rel\ntrigger=mmc0\nbrightness=0\n", &ls) == -EBADMSG, "a relative dir is refused");
        CHECK(saved_parse("dir=/a\ntrigger=mm c0\nbrightness=0\n", &ls) == -EBADMSG, "a blank in the trigger");
        CHECK(saved_parse("dir=/a\ntrigger=x/y\nbrightness=0\n", &ls) == -EBADMSG, "a slash in the trigger");
        CHECK(saved_parse("dir=/a\ndir=/b\ntrigger=x\nbrightness=0\n", &ls) == -EBADMSG, "a key twice");
        CHECK(saved_parse("dir=/a\ntrigger=x\nbrightness=-1\n", &ls) == -EBADMSG, "a negative brightness");
        CHECK(saved_parse("dir=/a\ntrigger=x\nbrightness=1\ncolour=red\n", &ls) == -EBADMSG, "an unknown key");
}

int main(void) {
        char tmpl[] = "/tmp/test-led-sysfs-XXXXXX";

        log_set_max_level(LOG_LEVEL_ERROR);
        dir = mkdtemp(tmpl);
        CHECK(dir != NULL, "temporary LED directory");
        if (!dir)
                return tap_done();
        test_takeover();
        test_failures();
        test_saved();
        CHECK(rm_rf(dir) == 0, "clean up");
        return tap_done();
}
