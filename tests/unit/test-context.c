/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "context.h"
#include "tap.h"
#include "util.h"

int main(void) {
        const Context c = { .state_dir = "/var/lib/nspawn-runner" };
        char *p;

        CHECK(job_id_check("1") == 0, "one digit is a job id");
        CHECK(job_id_check("18446744073709551615") == 0, "20 digits are a job id");
        CHECK(job_id_check("123456789012345678901") < 0, "21 digits are not");
        CHECK(job_id_check("") < 0, "empty is not");
        CHECK(job_id_check("12a") < 0, "letters are not");
        CHECK(job_id_check("-1") < 0, "a sign is not");
        CHECK(job_id_check("../1") < 0, "a path is not");
        CHECK(machine_key_check("42") == 0 && machine_key_check("42-0123abcd") == 0 &&
                      machine_key_check("18446744073709551615-ffffffff") == 0,
              "a job id, and one with 8 hex digits, are machine keys");
        CHECK(machine_key_check("42-0123abc") < 0 && machine_key_check("42-0123abcde") < 0 &&
                      machine_key_check("42-0123ABCD") < 0 && machine_key_check("-0123abcd") < 0 &&
                      machine_key_check("42-") < 0 && machine_key_check("42-0123abcd-") < 0 &&
                      machine_key_check("42-../abcd") < 0 && machine_key_check("x-0123abcd") < 0,
              "other suffixes, no id, a path are not");
        {
                char *a = NULL, *b = NULL;
                CHECK(machine_key_new("42", &a) == 0 && machine_key_new("42", &b) == 0 && machine_key_check(a) == 0 &&
                              strncmp(a, "42-", 3) == 0 && strcmp(a, b) != 0,
                      "new keys are valid, carry the job id and differ: %s %s", a, b);
                CHECK(machine_key_new("4x", &a) == -EINVAL, "no key for a bad job id");
                free(a);
                free(b);
        }
        {
                const char *got = NULL;
                setenv("CUSTOM_ENV_CI_JOB_ID", "42", 1);
                setenv(MACHINE_KEY_ENV, "42-0123abcd", 1);
                CHECK(job_id_resolve(NULL, &got) == 0 && strcmp(got, "42-0123abcd") == 0, "the key from job_env wins");
                CHECK(job_id_resolve("7", &got) == 0 && strcmp(got, "7") == 0, "--id wins over it");
                setenv("CUSTOM_ENV_CI_JOB_ID", "4", 1);
                CHECK(job_id_resolve(NULL, &got) < 0, "a key of another job (42 for job 4) is refused");
                unsetenv(MACHINE_KEY_ENV);
                CHECK(job_id_resolve(NULL, &got) == 0 && strcmp(got, "4") == 0, "without a key: the job id");
                unsetenv("CUSTOM_ENV_CI_JOB_ID");
        }

        setenv("X_CODE", "42", 1);
        CHECK(exit_code_from_env("X_CODE", 1) == 42, "exit code from env");
        setenv("X_CODE", "256", 1);
        CHECK(exit_code_from_env("X_CODE", 1) == 1, "out-of-range exit code falls back");
        setenv("X_CODE", "x", 1);
        CHECK(exit_code_from_env("X_CODE", 2) == 2, "garbage exit code falls back");
        CHECK(exit_code_from_env("X_UNSET_CODE", 7) == 7, "missing exit code falls back");

        p = context_machine_dir(&c, "42");
        CHECK_STREQ(p, "/var/lib/nspawn-runner/.machines/42", "machine dir");
        free(p);
        p = context_image_dir(&c, "bookworm");
        CHECK_STREQ(p, "/var/lib/nspawn-runner/bookworm", "image dir");
        free(p);
        p = path_join("/a/", "/b");
        CHECK_STREQ(p, "/a/b", "path_join folds slashes");
        free(p);

        {
                uint64_t v;
                int i;
                CHECK(safe_atou64("18446744073709551615", &v) == 0 && v == UINT64_MAX, "u64 max parses");
                CHECK(safe_atou64("18446744073709551616", &v) == -ERANGE, "u64 overflow refused");
                CHECK(safe_atoi("-5", &i) == 0 && i == -5, "negative int parses");
                CHECK(safe_atoi("2147483648", &i) == -ERANGE, "int overflow refused");
        }
        return tap_done();
}
