/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "machine-state.h"
#include "tap.h"

static int parse(const char *text, MachineState *s, unsigned *line) {
        return machine_state_parse(text, strlen(text), s, line);
}

int main(void) {
        MachineState s = MACHINE_STATE_INIT, t = MACHINE_STATE_INIT;
        unsigned line = 0;
        char *text;

        CHECK(parse("image=bookworm\nimage_path=/var/lib/x/bookworm\nbackend=btrfs\nunit=nspawn-runner-1.service\nsuppress_sync=1\n"
                    "uid_base=1879179264\nnspawn_pid=100\nnspawn_start=5\ninit_pid=101\ninit_start=6\nfuture_key=whatever\n",
                    &s, &line) == 0,
              "a full state parses (unknown keys are ignored)");
        CHECK_STREQ(s.image, "bookworm", "image");
        CHECK(s.backend == STORAGE_BTRFS && s.nspawn.pid == 100 && s.init.start_time == 6 && s.uid_base == 0x70020000U,
              "fields");

        text = machine_state_format(&s);
        CHECK(text && parse(text, &t, NULL) == 0 && t.init.pid == 101 && t.backend == STORAGE_BTRFS && t.uid_base == s.uid_base &&
                      strcmp(t.unit, "nspawn-runner-1.service") == 0 && t.suppress_sync,
              "format and parse round-trip");
        free(text);
        machine_state_done(&t);
        machine_state_done(&s);

        CHECK(parse("image=x\n", &s, NULL) == 0 && s.init.pid == 0 && s.backend < 0, "a partial state parses");
        machine_state_done(&s);
        CHECK(parse("", &s, NULL) == 0, "an empty state parses");
        machine_state_done(&s);

        CHECK(parse("image=x\nno equals sign\n", &s, &line) < 0 && line == 2, "a line without '=' fails at line 2");
        CHECK(parse("backend=zfs\n", &s, &line) < 0, "an unknown backend fails");
        CHECK(parse("suppress_sync=yes\n", &s, &line) < 0, "suppress_sync other than 0 or 1 fails");
        CHECK(parse("init_pid=0\n", &s, &line) < 0, "PID 0 fails");
        CHECK(parse("init_pid=99999999\n", &s, &line) < 0, "a PID beyond PID_MAX_LIMIT fails");
        CHECK(parse("init_start=-1\n", &s, &line) < 0, "a negative start time fails");
        CHECK(parse("uid_base=0\n", &s, &line) < 0, "uid base 0 (the host's own ids) fails");
        CHECK(parse("uid_base=1879048193\n", &s, &line) < 0, "a uid base inside a range fails");
        CHECK(parse("uid_base=524288\n", &s, &line) < 0, "a uid base below the runner's ranges fails");
        CHECK(parse("uid_base=4294901760\n", &s, &line) < 0, "a uid base beyond the runner's ranges fails");
        CHECK(parse("uid_base=18446744073709551616\n", &s, &line) < 0, "a uid base beyond 64 bits fails");
        CHECK(parse("image_path=relative\n", &s, &line) < 0, "a relative image path fails");
        CHECK(parse("image=\n", &s, &line) < 0, "an empty image fails");
        CHECK(machine_state_parse("image=a\0b", 9, &s, &line) < 0, "a NUL byte fails");
        return tap_done();
}
