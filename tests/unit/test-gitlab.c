/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "gitlab.h"
#include "json-util.h"
#include "tap.h"

static char *capture(void (*fn)(FILE *f, const char *s), const char *s) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        fn(f, s);
        fclose(f);
        return buf;
}

int main(void) {
        Context c = { .state_dir = DEFAULT_STATE_DIR };
        char *buf = NULL, *s;
        size_t size = 0;
        FILE *f;

        s = capture(json_write_string, "a\"b\\c\nd\x01");
        CHECK_STREQ(s, "\"a\\\"b\\\\c\\nd\\u0001\"", "JSON escaping");
        free(s);
        s = capture(gitlab_toml_write_string, "/usr/bin/nspawn-runner");
        CHECK_STREQ(s, "\"/usr/bin/nspawn-runner\"", "TOML string");
        free(s);

        unsetenv("CUSTOM_ENV_CI_JOB_ID");
        setenv("CUSTOM_ENV_CI_JOB_ID", "77", 1);
        f = open_memstream(&buf, &size);
        CHECK(gitlab_config_write(&c, f) == 0, "config written");
        fclose(f);
        CHECK(strstr(buf, "\"builds_dir\": \"/builds\"") && strstr(buf, "\"builds_dir_is_shared\": false") &&
                      strstr(buf, "\"shell\": \"bash\"") &&
                      strstr(buf, "\"hostname\": \"nspawn-runner-77-") && strstr(buf, "\"driver\": {\"name\": \"nspawn-runner\""),
              "config has builds_dir, builds_dir_is_shared, shell, hostname and driver");
        {
                const char *k = strstr(buf, "\"job_env\": {\"" MACHINE_KEY_ENV "\": \"77-");
                const char *h = strstr(buf, "\"hostname\": \"nspawn-runner-");
                CHECK(k && h && strncmp(k + strlen("\"job_env\": {\"" MACHINE_KEY_ENV "\": \""),
                                        h + strlen("\"hostname\": \"nspawn-runner-"), 11) == 0,
                      "job_env hands on the machine key the host name is made of");
        }
        free(buf);

        f = open_memstream(&buf, &size);
        CHECK(gitlab_toml_write(&c, "/usr/bin/nspawn-runner", NULL, f) == 0, "toml written");
        fclose(f);
        CHECK(strstr(buf, "prepare_args = [\"prepare\"]") && !strstr(buf, "--state-dir"),
              "default state dir is not repeated");
        CHECK(strstr(buf, "  shell = \"bash\"\n") != NULL, "toml names the shell");
        free(buf);

        f = open_memstream(&buf, &size);
        CHECK(gitlab_toml_write(&c, "/usr/bin/nspawn-runner", "buster", f) == 0, "toml with a default image written");
        fclose(f);
        CHECK(strstr(buf, "prepare_args = [\"prepare\", \"--default-image\", \"buster\"]") &&
                      strstr(buf, "run_args = [\"run\"]"),
              "the default image goes to prepare only");
        free(buf);

        c.state_dir = "/srv/ci \"x\"";
        f = open_memstream(&buf, &size);
        CHECK(gitlab_toml_write(&c, "/usr/bin/nspawn-runner", NULL, f) == 0, "toml written");
        fclose(f);
        CHECK(strstr(buf, "run_args = [\"--state-dir\", \"/srv/ci \\\"x\\\"\", \"run\"]") != NULL,
              "a custom state dir is carried, escaped");
        free(buf);
        return tap_done();
}
