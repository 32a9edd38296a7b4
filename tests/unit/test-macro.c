/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>

#include "macro.h"
#include "tap.h"

/* closep() on a stored fd, then a new fd that gets the same number, then the cleanup at the end of
 * the scope: the new fd must survive (issue 10: a stage's result went to the next stage's
 * connection because a closed client fd kept its number). */
static int reuse_after_closep(void) {
        _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int old = fd, other;

        closep(&fd);
        CHECK(fd == -EBADF, "closep() leaves -EBADF behind");
        other = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CHECK(other == old, "the kernel hands the number out again (%d, %d)", other, old);
        return other;
}

int main(void) {
        int other = reuse_after_closep();

        CHECK(fcntl(other, F_GETFD) >= 0, "the scope's cleanup did not close the fd that reused the number");
        closep(&other);
        closep(&other);
        CHECK(other == -EBADF, "closep() twice is harmless");
        return tap_done();
}
