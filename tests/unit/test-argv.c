/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdbool.h>

#include "argv.h"
#include "tap.h"

static void builds_a_command_line(void) {
        _cleanup_(argv_done) Argv a = ARGV_INIT;
        char *const tail[] = { (char *) "--", (char *) "echo", (char *) "hi", NULL };

        CHECK(!a.v && a.n == 0, "empty until the first add");
        CHECK(argv_add(&a, "systemd-nspawn") == 0, "add");
        CHECK(argv_addf(&a, "--machine=%s-%u", "job", 7U) == 0, "addf");
        CHECK(argv_add_strv(&a, tail) == 0, "add_strv");
        CHECK(a.n == 5 && a.v[5] == NULL, "five entries, NULL-terminated (%zu)", a.n);
        CHECK_STREQ(a.v[0], "systemd-nspawn", "entry 0");
        CHECK_STREQ(a.v[1], "--machine=job-7", "entry 1 formatted");
        CHECK_STREQ(a.v[4], "hi", "entry 4 from the strv");
        CHECK(a.v[2] != tail[0], "entries are copies");
}

/* The bound: an error, never a command line cut short without a word. */
static void refuses_past_the_bound(void) {
        _cleanup_(argv_done) Argv a = ARGV_INIT;
        bool all_added = true;

        for (unsigned i = 0; i < ARGV_ENTRIES_MAX; i++)
                if (argv_addf(&a, "%u", i) < 0)
                        all_added = false;
        CHECK(all_added && a.n == ARGV_ENTRIES_MAX, "%u entries fit", ARGV_ENTRIES_MAX);
        CHECK(argv_add(&a, "one too many") == -E2BIG, "one more is -E2BIG");
        CHECK(a.n == ARGV_ENTRIES_MAX && a.v[a.n] == NULL, "nothing added, still NULL-terminated");
        CHECK(argv_addf(&a, "%s", "x") == -E2BIG && a.error == -E2BIG, "the error sticks for later adds");
        CHECK_STREQ(a.v[ARGV_ENTRIES_MAX - 1], "1023", "the last entry that fit is intact");
}

static void done_resets(void) {
        Argv a = ARGV_INIT;

        (void) argv_add(&a, "x");
        argv_done(&a);
        CHECK(!a.v && a.n == 0 && a.error == 0, "argv_done() leaves an empty vector");
        argv_done(&a);
        CHECK(!a.v, "argv_done() twice is harmless");
}

int main(void) {
        builds_a_command_line();
        refuses_past_the_bound();
        done_resets();
        return tap_done();
}
