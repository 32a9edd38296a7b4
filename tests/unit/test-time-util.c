/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <limits.h>

#include "tap.h"
#include "time-util.h"

static void poll_timeout(void) {
        CHECK(usec_to_poll_timeout(USEC_INFINITY) == -1, "no deadline: poll() waits for ever");
        CHECK(usec_to_poll_timeout(0) == 0, "a deadline now: poll() does not wait");
        CHECK(usec_to_poll_timeout(1) == 1, "a part of a millisecond rounds up, never waking early");
        CHECK(usec_to_poll_timeout(5 * USEC_PER_SEC) == 5000, "whole milliseconds stay as they are");
        CHECK(usec_to_poll_timeout(USEC_INFINITY - 1) == INT_MAX, "a far deadline is cut to what poll() takes");
}

int main(void) {
        poll_timeout();
        return tap_done();
}
