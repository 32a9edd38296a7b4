/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "gc.h"
#include "util.h"
#include "log.h"
#include "tap.h"

#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAtnPj6xNnTIVpqXpWLa4yiTvMGMV4k9uiI4KT0gaeu3"
#define TOKEN "glrt-t3_SeCrEtVaLuE-0123456789"

/* Parses text and returns what was logged on stderr (one line per error). */
static int parse_logged(const char *text, Config *c, char **ret_log) {
        FILE *f = tmpfile();
        int saved = dup(STDERR_FILENO), r;
        long n;

        fflush(stderr);
        dup2(fileno(f), STDERR_FILENO);
        config_done(c);
        config_init(c);
        r = config_parse("nspawn-runner.conf", text, strlen(text), c);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        n = ftell(f);
        *ret_log = calloc(1, (size_t) n + 1);
        rewind(f);
        if (fread(*ret_log, 1, (size_t) n, f) != (size_t) n)
                (*ret_log)[0] = 0;
        fclose(f);
        return r;
}

static unsigned count_lines(const char *s) {
        unsigned n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

/* A bad value: refused with exactly one line naming the line and the key, never echoing the token. */
static void check_bad(const char *text, const char *what) {
        Config c;
        char *log = NULL;
        int r;

        config_init(&c);
        r = parse_logged(text, &c, &log);
        CHECK(r == -EINVAL && count_lines(log) == 1 && strstr(log, "nspawn-runner.conf:") && !strstr(log, "SeCrEt") &&
                      !strstr(log, "glrt-t3"),
              "%s is refused in one line (%.*s)", what, (int) strcspn(log, "\n"), log);
        free(log);
        config_done(&c);
}

/* A line "PREFIXaaaa…" of len characters in all is refused. */
static void check_too_long(const char *prefix, size_t len, const char *what) {
        char line[4000];

        memset(line, 'a', len);
        memcpy(line, prefix, strlen(prefix));
        line[len] = '\n';
        line[len + 1] = 0;
        check_bad(line, what);
}

static void test_appliance_keys(void) {
        Config c;
        char *log = NULL;

        config_init(&c);
        CHECK(c.concurrent == 1 && !c.gitlab_url && !c.runner_token && c.n_images == 0 && !c.hostname && c.n_ssh_keys == 0 &&
                      !c.data_disk,
              "appliance defaults: concurrent 1, nothing else set");
        CHECK(parse_logged("GitLab_URL = https://gitlab.example.com\r\nrunner_token = " TOKEN "\r\nconcurrent=4\n"
                           "image = bookworm\nimage=ci:trixie\nhostname=ci-box.lan\nssh_authorized_key = " KEY " me@laptop\n"
                           "ssh_authorized_key=" KEY "\ndata_disk=/dev/disk/by-id/usb-Samsung_SSD_T7-0:0\nled=auto\n",
                           &c, &log) == 0 && !*log,
              "a file with every appliance key parses, quietly");
        CHECK_STREQ(c.gitlab_url, "https://gitlab.example.com", "gitlab_url");
        CHECK_STREQ(c.runner_token, TOKEN, "runner_token is kept");
        CHECK(c.concurrent == 4, "concurrent");
        CHECK(c.n_images == 2 && strcmp(c.images[0].name, "bookworm") == 0 && !c.images[0].suite &&
                      strcmp(c.images[1].name, "ci") == 0 && strcmp(c.images[1].suite, "trixie") == 0,
              "image NAME and NAME:SUITE");
        CHECK(config_find_image(&c, "ci") == &c.images[1] && !config_find_image(&c, "sid"), "config_find_image");
        CHECK_STREQ(c.hostname, "ci-box.lan", "hostname");
        CHECK(c.n_ssh_keys == 2 && strcmp(c.ssh_keys[0], KEY " me@laptop") == 0 && strcmp(c.ssh_keys[1], KEY) == 0,
              "ssh keys, blanks reduced to one");
        CHECK_STREQ(c.data_disk, "/dev/disk/by-id/usb-Samsung_SSD_T7-0:0", "data_disk");
        free(log);
        CHECK(parse_logged("data_disk=/dev/sda\ndata_disk=NONE\ngitlab_url=http://[fd00::1]:8080/gitlab/\n"
                           "hostname=7box\n",
                           &c, &log) == 0 && !c.data_disk && strcmp(c.gitlab_url, "http://[fd00::1]:8080/gitlab/") == 0,
              "data_disk none; an IPv6 URL with port and path; a host name starting with a digit");
        free(log);

        check_bad("runner_token = glrt-t3_SeCrEt with a blank\n", "a token with a blank");
        check_bad("runner_token = glrt-t3_SeCrEt\"\n", "a token with a quote");
        check_bad("runner_token = glrt\n", "a token shorter than 8");
        check_too_long("runner_token=glrt-t3_SeCrEt", 300, "a token longer than 256");
        CHECK(parse_logged("runner_token = glrt-t3_SeCrEt;x\n", &c, &log) == -EINVAL &&
                      strstr(log, "nspawn-runner.conf:1: runner_token: not a valid token"),
              "the token error says which line and that it is not a valid token (%.*s)", (int) strcspn(log, "\n"), log);
        free(log);
        check_bad("gitlab_url = ftp://gitlab.example.com\n", "an ftp URL");
        check_bad("gitlab_url = https://\n", "a URL without host");
        check_bad("gitlab_url = https://gitlab example.com\n", "a URL with a blank");
        check_bad("gitlab_url = https://gitlab.example.com:99999/\n", "a URL with port 99999");
        check_bad("gitlab_url = https://-gitlab.example.com/\n", "a host starting with '-'");
        check_too_long("gitlab_url=https://", 700, "a URL longer than 512");
        check_bad("concurrent=0\n", "concurrent 0");
        check_bad("concurrent=65\n", "concurrent 65");
        check_bad("concurrent=two\n", "concurrent 'two'");
        check_bad("image=../etc\n", "an image with '..'");
        check_bad("image=.hidden\n", "an image with a leading dot");
        check_bad("image=ci:\n", "an image with an empty suite");
        check_bad("image=a/b:trixie\n", "an image with '/'");
        check_bad("image=ci:tri/xie\n", "a suite with '/'");
        check_bad("image=bookworm\nimage=bookworm:trixie\n", "an image listed twice");
        {
                char many[4096] = "";
                for (int i = 0; i <= CONFIG_IMAGES_MAX; i++)
                        snprintf(many + strlen(many), sizeof(many) - strlen(many), "image=i%d\n", i);
                check_bad(many, "17 images");
                many[0] = 0;
                for (int i = 0; i <= CONFIG_SSH_KEYS_MAX; i++)
                        snprintf(many + strlen(many), sizeof(many) - strlen(many), "ssh_authorized_key=%s\n", KEY);
                check_bad(many, "17 ssh keys");
        }
        check_bad("hostname=-box\n", "a host name starting with '-'");
        check_bad("hostname=box-\n", "a host name ending with '-'");
        check_bad("hostname=ci_box\n", "a host name with '_'");
        check_bad("hostname=a..b\n", "a host name with an empty label");
        check_bad("hostname=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", "a host name of 65 characters");
        check_bad("ssh_authorized_key=ssh-ed25519\n", "a key without base64");
        check_bad("ssh_authorized_key=ssh-ed25519 AAAA!!!!AAAAAAAAAAAA\n", "a key with bad base64");
        check_bad("ssh_authorized_key=ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAtnPj6xNnTIVpqXpWLa4yiTvMGMV4k9uiI4KT0gaeu3\n",
                  "a key whose blob is of another type");
        check_bad("ssh_authorized_key=AAAAC3NzaC1lZDI1NTE5AAAAIAtnPj6xNnTIVpqXpWLa4yiTvMGMV4k9uiI4KT0gaeu3\n", "a key without type");
        check_bad("ssh_authorized_key=from=\"10.0.0.1\" " KEY "\n", "a key with options");
        check_bad("data_disk=sda\n", "a relative data disk");
        check_bad("data_disk=/etc/passwd\n", "a data disk outside /dev");
        check_bad("data_disk=/dev/../etc/passwd\n", "a data disk with '..'");
        check_bad("data_disk=/dev/\n", "/dev/ as a data disk");
        check_bad("data_disk=/dev/sd a\n", "a data disk with a blank");
        config_done(&c);
}

static int parse(const char *text, Config *c) {
        config_done(c);
        config_init(c);
        return config_parse("nspawn-runner.conf", text, strlen(text), c);
}

int main(void) {
        Config c;
        HwSpec h;

        log_set_max_level(LOG_LEVEL_ERROR);
        config_init(&c);
        CHECK(c.led.kind == HW_AUTO && c.button.kind == HW_NONE && c.button_hold_sec == 5 && c.maintenance_minute == 210,
              "defaults: LED auto, no button, hold 5 s, maintenance 03:30");

        CHECK(parse("# the appliance\r\nLED = gpio:pinctrl-bcm2711:GPIO27\r\nbutton=gpio:pinctrl-bcm2711:GPIO17:active-low\r\n"
                    "Button_Hold_Seconds=3\nmaintenance_time=23:05\ngc_threshold=80\nmetrics_file=off\n"
                    "state_dir=/srv/nspawn-runner\ndrain_timeout_seconds=0\n",
                    &c) == 0,
              "a full file with CRLF and mixed-case keys parses");
        CHECK(c.led.kind == HW_GPIO && strcmp(c.led.gpio.chip, "pinctrl-bcm2711") == 0 &&
                      strcmp(c.led.gpio.line, "GPIO27") == 0 && !c.led.gpio.active_low,
              "LED on a GPIO line, active-high by default");
        CHECK(c.button.kind == HW_GPIO && c.button.gpio.active_low && strcmp(c.button.gpio.line, "GPIO17") == 0,
              "active-low button");
        CHECK(c.button_hold_sec == 3 && c.maintenance_minute == 23 * 60 + 5 && c.gc_threshold == 80 && !c.metrics_file &&
                      strcmp(c.state_dir, "/srv/nspawn-runner") == 0 && c.drain_timeout_sec == 0,
              "numbers, time of day, off and paths");
        CHECK(parse("led=sysfs:/sys/class/leds/ACT\nmaintenance_time=off\n", &c) == 0 && c.led.kind == HW_SYSFS &&
                      strcmp(c.led.path, "/sys/class/leds/ACT") == 0 && c.maintenance_minute == -1,
              "sysfs LED, no scheduled maintenance");

        CHECK(c.job_limits.value[JOB_LIMIT_MEMORY] == 1536ULL << 20 && c.job_limits.value[JOB_LIMIT_TASKS] == 1024 &&
                      c.job_limits.value[JOB_LIMIT_CPU_QUOTA] == 0,
              "job limits default to the Pi 4's");
        CHECK(parse("job_memory_max=2G\njob_swap_max=off\njob_tasks_max=16\njob_cpu_weight=10000\njob_cpu_quota=150%\n", &c) == 0 &&
                      c.job_limits.value[JOB_LIMIT_MEMORY] == 2ULL << 30 && c.job_limits.value[JOB_LIMIT_SWAP] == 0 &&
                      c.job_limits.value[JOB_LIMIT_TASKS] == 16 && c.job_limits.value[JOB_LIMIT_CPU_WEIGHT] == 10000 &&
                      c.job_limits.value[JOB_LIMIT_CPU_QUOTA] == 150,
              "job limits: sizes, off, counts, weights, percentages");
        CHECK(parse("job_memory_max=512K\njob_cpu_quota=50\n", &c) == 0 && c.job_limits.value[JOB_LIMIT_MEMORY] == 512 << 10 &&
                      c.job_limits.value[JOB_LIMIT_CPU_QUOTA] == 50,
              "job limits: K, a percentage without %%");
        CHECK(parse("job_memory_max=0\n", &c) == -EINVAL, "memory 0 is refused (off says none)");
        CHECK(parse("job_memory_max=1.5G\n", &c) == -EINVAL, "a fraction is refused");
        CHECK(parse("job_memory_max=2X\n", &c) == -EINVAL, "an unknown unit is refused");
        CHECK(parse("job_memory_max=99999999999T\n", &c) == -EINVAL, "a size that overflows is refused");
        CHECK(parse("job_tasks_max=15\n", &c) == -EINVAL, "fewer than 16 tasks is refused");
        CHECK(c.job_limits.value[JOB_LIMIT_DISK] == 0, "no disk cap by default");
        CHECK(parse("job_disk_max=10G\n", &c) == 0 && c.job_limits.value[JOB_LIMIT_DISK] == 10ULL << 30 &&
                      parse("job_disk_max=16M\n", &c) == 0 && c.job_limits.value[JOB_LIMIT_DISK] == 16ULL << 20 &&
                      parse("job_disk_max=off\n", &c) == 0 && c.job_limits.value[JOB_LIMIT_DISK] == 0,
              "job_disk_max: a size, the smallest, off");
        check_bad("job_disk_max=15M\n", "a disk cap below 16M");
        check_bad("job_disk_max=-1G\n", "a negative disk cap");
        check_bad("job_disk_max=2P\n", "a disk cap in an unknown unit");
        check_bad("job_disk_max=1048577T\n", "a disk cap above 1 PiB");
        check_bad("job_disk_max=99999999999999999999\n", "a disk cap that overflows");
        check_bad("job_disk_max=\n", "an empty disk cap");
        check_bad("job_disk_max=0\n", "a disk cap of 0");
        CHECK(parse("job_cpu_weight=off\n", &c) == -EINVAL, "a weight cannot be off");
        CHECK(parse("job_cpu_weight=10001\n", &c) == -EINVAL, "a weight above 10000 is refused");
        CHECK(parse("job_cpu_quota=%\n", &c) == -EINVAL, "a bare %% is refused");
        CHECK(parse("colour=blue\n", &c) == -EINVAL, "an unknown key is refused");
        CHECK(parse("led\n", &c) == -EINVAL, "a line without '=' is refused");
        CHECK(parse("button_hold_seconds=0\n", &c) == -EINVAL, "hold of zero is refused");
        CHECK(parse("button_hold_seconds=61\n", &c) == -EINVAL, "hold 61 is refused");
        CHECK(parse("button_hold_seconds=five\n", &c) == -EINVAL, "hold 'five' is refused");
        CHECK(parse("maintenance_time=24:00\n", &c) == -EINVAL, "24:00 is refused");
        CHECK(parse("maintenance_time=3:30\n", &c) == -EINVAL, "3:30 is refused (HH:MM)");
        CHECK(parse("maintenance_time= 03:3x\n", &c) == -EINVAL, "03:3x is refused");
        CHECK(parse("gc_threshold=101\n", &c) == -EINVAL, "101 percent is refused");
        CHECK(c.job_suppress_sync && parse("job_suppress_sync = No\n", &c) == 0 && !c.job_suppress_sync &&
                      parse("job_suppress_sync=yes\n", &c) == 0 && c.job_suppress_sync,
              "job_suppress_sync: yes by default, no and yes");
        CHECK(parse("job_suppress_sync=maybe\n", &c) == -EINVAL, "job_suppress_sync=maybe is refused");
        CHECK(parse("state_dir=relative\n", &c) == -EINVAL, "a relative state dir is refused");
        CHECK(parse("button=sysfs:/sys/class/leds/ACT\n", &c) == -EINVAL, "a button cannot be a sysfs LED");
        CHECK(parse("led=gpio:chip\n", &c) == -EINVAL, "a GPIO without line is refused");
        CHECK(parse("led=gpio:chip:17:inverted\n", &c) == -EINVAL, "an unknown GPIO flag is refused");
        CHECK(parse("led=sysfs:/sys/class/leds/../../etc\n", &c) == -EINVAL, "a sysfs path with .. is refused");
        CHECK(parse("led=gpio:a b:1\n", &c) == -EINVAL, "a chip name with a blank is refused");

        CHECK(hw_spec_parse("none", false, false, &h) == 0 && h.kind == HW_NONE, "none");
        CHECK(hw_spec_parse("auto", false, false, &h) == -EINVAL, "auto only where allowed");
        CHECK(hw_spec_parse("gpio:gpiochip0:17", false, true, &h) == 0 && h.gpio.active_low, "a button defaults to active-low");
        hw_spec_done(&h);
        config_done(&c);
        test_appliance_keys();

        {
                char dir[] = "/tmp/test-config-XXXXXX";
                Context ctx = { .config_dir = mkdtemp(dir) };
                char *path = path_join(dir, CONFIG_FILE_NAME);

                CHECK(gc_threshold_configured(&ctx) == GC_THRESHOLD_DEFAULT, "gc threshold without a file: the default");
                write_file_atomic(path, "gc_threshold=42\n", 0644);
                CHECK(gc_threshold_configured(&ctx) == 42, "gc threshold from the file");
                write_file_atomic(path, "gc_threshold=420\n", 0644);
                CHECK(gc_threshold_configured(&ctx) == GC_THRESHOLD_DEFAULT, "a bad file: the default");
                unlink(path);
                rmdir(dir);
                free(path);
        }
        return tap_done();
}
