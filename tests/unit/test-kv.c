/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kv.h"
#include "tap.h"
#include "util.h"

static char seen[512];

static int collect(const char *key, const char *value, unsigned line, void *userdata) {
        (void) userdata;
        snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%u:%s=%s;", line, key, value);
        return streq(key, "fail") ? -EINVAL : 0;
}

static int parse(const char *text, unsigned *line) {
        seen[0] = 0;
        return kv_parse(text, strlen(text), collect, NULL, line);
}

int main(void) {
        unsigned line = 0;
        char big[KV_LINE_MAX + 10];

        CHECK(parse("a=1\n# comment\n\n  b = two words  \r\nc=\n", &line) == 0, "assignments parse");
        CHECK(strcmp(seen, "1:a=1;4:b=two words;5:c=;") == 0, "blanks stripped, CRLF and empty values (%s)", seen);
        CHECK(parse("a=1\nb", &line) == -EBADMSG && line == 2, "a line without '=' fails at its line");
        CHECK(parse("=x\n", &line) == -EBADMSG && line == 1, "an empty key fails");
        CHECK(parse("a=1\nfail=1\nc=3\n", &line) == -EINVAL && line == 2 && !strstr(seen, "c=3"),
              "the callback's error stops parsing at its line");
        CHECK(kv_parse("a=\0", 3, collect, NULL, &line) == -EBADMSG, "a NUL byte fails");
        memset(big, 'x', sizeof(big) - 1);
        big[0] = 'k';
        big[1] = '=';
        big[sizeof(big) - 1] = 0;
        CHECK(parse(big, &line) == -E2BIG && line == 1, "an over-long line fails");
        CHECK(parse("", &line) == 0 && seen[0] == 0, "empty text is fine");
        return tap_done();
}
