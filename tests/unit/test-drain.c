/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <unistd.h>

#include "drain.h"
#include "tap.h"
#include "util.h"

int main(void) {
        char dir[] = "/tmp/test-drain.XXXXXX";
        _cleanup_free_ char *flag = NULL;

        if (!mkdtemp(dir) || !(flag = path_join(dir, DRAINING_FLAG)))
                return EXIT_FAILURE;
        CHECK(drain_flag_active(dir) == 0, "no flag: not draining");
        CHECK(drain_flag_set(dir) == 0 && drain_flag_active(dir) == 1, "a flag set in this boot: draining");
        CHECK(write_file_atomic(flag, "00000000-1111-2222-3333-444444444444\n", 0644) == 0 && drain_flag_active(dir) == 0,
              "a flag of another boot: not draining");
        CHECK(write_file_atomic(flag, "", 0644) == 0 && drain_flag_active(dir) == 0, "an empty flag (an older version's): not draining");
        (void) unlink(flag);
        (void) rmdir(dir);
        return tap_done();
}
