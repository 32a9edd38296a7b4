/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "apt-sources.h"
#include "tap.h"

static void finds(const char *text, bool deb822, const char *want, const char *what) {
        char *got = NULL;
        int r = apt_sources_find_mirror(text, strlen(text), deb822, &got);
        if (want)
                CHECK(r == 0 && got && strcmp(got, want) == 0, "%s (got %s)", what, got ?: "nothing");
        else
                CHECK(r == -ENOENT && !got, "%s: nothing found", what);
        free(got);
}

int main(void) {
        finds("deb http://mirror.test/debian bookworm main\n", false, "http://mirror.test/debian", "one-line source");
        finds("# deb http://old.test/debian bookworm main\ndeb-src http://src.test/debian bookworm main\n"
              "deb http://security.test/debian-security bookworm-security main\n"
              "deb [arch=amd64 signed-by=/k.gpg] https://m.test/debian bookworm main contrib\n",
              false, "https://m.test/debian", "comments, deb-src, security and options are skipped");
        finds("deb [ arch=amd64 ] http://m.test/d bookworm main\n", false, "http://m.test/d", "spaced options");
        finds("deb cdrom:[Debian]/ bookworm main\n", false, NULL, "cdrom is not a mirror");
        finds("deb http://m.test/d\n", false, NULL, "a line without suite");
        finds("", false, NULL, "empty file");

        finds("Types: deb\nURIs: http://m.test/debian\nSuites: bookworm bookworm-updates\nComponents: main\n", true,
              "http://m.test/debian", "deb822 stanza");
        finds("Types: deb\r\nURIs: http://crlf.test/debian\r\nSuites: bookworm\r\n", true, "http://crlf.test/debian",
              "deb822 with CRLF");
        finds("Types: deb\nURIs: http://sec.test/debian-security\nSuites: bookworm-security\n\n"
              "Types: deb-src\nURIs: http://src.test/debian\nSuites: bookworm\n\n"
              "Types: deb\nEnabled: no\nURIs: http://off.test/debian\nSuites: bookworm\n\n"
              "types: deb deb-src\nuris: http://m.test/debian\nsuites: bookworm\n",
              true, "http://m.test/debian", "security, deb-src and disabled stanzas are skipped; keys are case-insensitive");
        finds("Types: deb\nURIs: http://m.test/debian\n", true, NULL, "a stanza without suite");
        finds("Types: deb\nSuites: bookworm\n", true, NULL, "a stanza without URI");
        {
                char *got = NULL;
                CHECK(apt_sources_find_mirror("x", APT_SOURCES_SIZE_MAX + 1, false, &got) == -EFBIG, "oversized text refused");
        }
        return tap_done();
}
