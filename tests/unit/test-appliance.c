/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>

#include "appliance.h"
#include "log.h"
#include "tap.h"
#include "unit.h"

static char *edit(const char *text, unsigned n, bool *has) {
        char *out = NULL;
        if (appliance_gitlab_runner_config_edit(text, strlen(text), n, &out, has) < 0)
                return NULL;
        return out;
}

int main(void) {
        const char *registered = "concurrent = 1\ncheck_interval = 0\n\n[session_server]\n  session_timeout = 1800\n\n"
                                 "[[runners]]\n  name = \"box\"\n  concurrent = 7\n";
        char *s;
        bool has;

        log_set_max_level(LOG_LEVEL_ERROR);
        s = edit(registered, 4, &has);
        CHECK(s && has && strncmp(s, "concurrent = 4\ncheck_interval = 0\n", 34) == 0 && strstr(s, "  concurrent = 7\n"),
              "the top-level concurrent is set, a key of the same name in a table is not");
        free(s);
        s = edit("check_interval = 0\n[[ runners ]]\n", 2, &has);
        CHECK(s && has && strcmp(s, "concurrent = 2\ncheck_interval = 0\n[[ runners ]]\n") == 0,
              "concurrent is added at the top when missing; [[ runners ]] with blanks counts");
        free(s);
        s = edit("", 1, &has);
        CHECK(s && !has && strcmp(s, "concurrent = 1\n") == 0, "an empty file: not registered");
        free(s);
        s = edit("concurrent=3\nconcurrent = 5\n[runners_x]\n# [[runners]]\n", 9, &has);
        CHECK(s && !has && strcmp(s, "concurrent = 9\n[runners_x]\n# [[runners]]\n") == 0,
              "a duplicate concurrent goes; [runners_x] and a comment are not [[runners]]");
        free(s);
        s = edit("concurrent = 2\r\n[[runners]]\r\n", 2, &has);
        CHECK(s && has && strcmp(s, "concurrent = 2\n[[runners]]\r\n") == 0, "CRLF lines are read");
        free(s);
        CHECK(appliance_gitlab_runner_config_edit("a\0b", 3, 1, &s, &has) == -EINVAL, "a NUL byte is refused");

        s = appliance_secret_scrub(
                "ERROR: Verifying runner... failed runner=glrt-t3_Ab status=403 token glrt-t3_AbCdEf0123456789",
                "glrt-t3_AbCdEf0123456789");
        CHECK_STREQ(s, "ERROR: Verifying runner... failed runner=[token] status=403 token [token]",
                    "the token and its shortened form are scrubbed");
        free(s);
        s = appliance_secret_scrub("xglrt-t3_AbCdEf0123456789x and gitlab.example.com", "glrt-t3_AbCdEf0123456789");
        CHECK_STREQ(s, "[token] and gitlab.example.com", "a word containing the token is scrubbed, others stay");
        free(s);
        s = appliance_secret_scrub("nothing here", NULL);
        CHECK_STREQ(s, "nothing here", "no secret: unchanged");
        free(s);
        {
                static const char *const cases[][2] = {
                        { "/var/lib/nspawn-runner", "var-lib-nspawn\\x2drunner.mount" },
                        { "/", "-.mount" },
                        { "/srv/.hidden/x y/", "srv-.hidden-x\\x20y.mount" },
                        { "/.a", "\\x2ea.mount" },
                        { "/a:b_c.d", "a:b_c.d.mount" },
                };
                for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                        s = NULL;
                        CHECK(unit_name_from_path(cases[i][0], ".mount", &s) == 0 && s && strcmp(s, cases[i][1]) == 0,
                              "the mount unit of %s is %s (%s)", cases[i][0], cases[i][1], s ?: "-");
                        free(s);
                }
                CHECK(unit_name_from_path("relative", ".mount", &s) == -EINVAL && unit_name_from_path("/a/../b", ".mount", &s) == -EINVAL,
                      "a relative path or one with .. has no unit name");
        }
        return tap_done();
}
