/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image-name.h"
#include "tap.h"

static void reduces_to(const char *ref, const char *want) {
        char *got = NULL;
        ImageNameError e = image_name_reduce(ref, strlen(ref), &got);
        CHECK(e == IMAGE_NAME_OK && got && strcmp(got, want) == 0, "'%s' reduces to '%s' (got '%s')", ref, want,
              got ?: image_name_error_to_string(e));
        free(got);
}

static void refused(const char *ref, size_t n, ImageNameError want) {
        char *got = NULL;
        ImageNameError e = image_name_reduce(ref, n, &got);
        CHECK(e == want && !got, "'%.70s' refused: %s (got %s)", ref, image_name_error_to_string(want),
              image_name_error_to_string(e));
        free(got);
}

int main(void) {
        char long_name[80];

        reduces_to("debian:bookworm", "bookworm");
        reduces_to("registry.example/x/base:unstable", "unstable");
        reduces_to("registry.example:5000/x/base:trixie", "trixie");
        reduces_to("bookworm", "bookworm");
        reduces_to("debian:bookworm@sha256:0123abcd", "bookworm");
        reduces_to("debian:sid-i386", "sid-i386");
        reduces_to("x:a.b_c+d-e", "a.b_c+d-e");
        /* Forms the Python nspawn-runner accepted: registry with a port, a path, no tag, a digest. */
        reduces_to("localhost:5000/img", "img");
        reduces_to("localhost:5000/img:bookworm", "bookworm");
        reduces_to("docker.io/library/debian", "debian");
        reduces_to("registry.example/x/base", "base");
        reduces_to("registry.example:5000/x/base", "base");
        reduces_to("debian@sha256:0123abcd", "debian");
        reduces_to("localhost:5000/group/sub/img@sha256:0123abcd", "img");

        refused("", 0, IMAGE_NAME_EMPTY);
        refused("debian:", 7, IMAGE_NAME_EMPTY);
        refused("registry.example/x/", 19, IMAGE_NAME_EMPTY);
        refused("localhost:5000/", 15, IMAGE_NAME_EMPTY);
        refused("@sha256:0123abcd", 16, IMAGE_NAME_EMPTY);
        refused("x/..", 4, IMAGE_NAME_LEADING_DOT);
        refused("x/../..", 7, IMAGE_NAME_LEADING_DOT);
        refused("x/.cache", 8, IMAGE_NAME_LEADING_DOT);
        refused("x/a:b:c", 7, IMAGE_NAME_BAD_CHAR);
        refused("debian:..", 9, IMAGE_NAME_LEADING_DOT);
        refused("debian:a..b", 11, IMAGE_NAME_HAS_DOTDOT);
        refused("debian:.hidden", 14, IMAGE_NAME_LEADING_DOT);
        refused("debian:book\0worm", 16, IMAGE_NAME_HAS_NUL);
        refused("debian:book worm", 16, IMAGE_NAME_BAD_CHAR);
        refused("debian:$(id)", 12, IMAGE_NAME_BAD_CHAR);

        memset(long_name, 'a', 65);
        long_name[65] = 0;
        refused(long_name, 65, IMAGE_NAME_TOO_LONG);
        long_name[64] = 0;
        reduces_to(long_name, long_name);

        CHECK(image_name_check("ok", 2) == IMAGE_NAME_OK, "check accepts a plain name");
        CHECK(image_name_check("a/b", 3) == IMAGE_NAME_HAS_SLASH, "check refuses a slash");
        CHECK(strcmp(image_name_error_to_string(_IMAGE_NAME_ERROR_INVALID), "invalid") == 0, "unknown error has a name");
        return tap_done();
}
