/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <limits.h>
#include <stdlib.h>

#include "tap.h"
#include "util.h"

/* This test's own binary is the running executable: its siblings are in build/tests/. */
static void sibling_binary(void) {
        _cleanup_free_ char *self = realpath("/proc/self/exe", NULL), *path = NULL, *up = NULL;
        char *slash = self ? strrchr(self, '/') : NULL;

        CHECK(sibling_binary_path(slash ? slash + 1 : "x", &path) == 0, "sibling_binary_path() succeeds");
        CHECK_STREQ(path, self, "the own name gives the running executable");
        CHECK(sibling_binary_path("../nspawn-runner", &up) == 0 && slash && up &&
                      strncmp(up, self, (size_t) (slash - self + 1)) == 0 && streq(up + (slash - self + 1), "../nspawn-runner"),
              "a relative name is joined to the executable's directory (%s)", strempty(up));
}

int main(void) {
        sibling_binary();
        return tap_done();
}
