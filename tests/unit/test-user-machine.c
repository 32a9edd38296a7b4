/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "tap.h"
#include "user-machine.h"

#define ALICE "alice:x:1000:1000:Alice:/home/alice:/bin/bash"

static void replaces(const char *text, size_t n, const char *name, unsigned long id, const char *entry, const char *want) {
        char *got = NULL;
        int r = user_db_replace(text, n, name, id, entry, &got);
        CHECK(r == 0 && got && strcmp(got, want) == 0, "%s %lu in '%.60s': got '%.120s'", name, id, text, got ?: "(error)");
        free(got);
}

int main(void) {
        static const char passwd[] = "root:x:0:0:root:/root:/bin/bash\n"
                                     "alice:x:1000:1000::/home/alice:/bin/sh\n"
                                     "bob:x:1001:1001::/home/bob:/bin/sh\n";

        /* Her own entry replaces the image's of the same name, and of the same uid. */
        replaces(passwd, strlen(passwd), "alice", 1000, ALICE,
                 "root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n" ALICE "\n");
        replaces(passwd, strlen(passwd), "alice", 1001, ALICE, "root:x:0:0:root:/root:/bin/bash\n" ALICE "\n");
        replaces(passwd, strlen(passwd), "carol", 1000, "carol:x:1000:1000::/home/carol:/bin/bash",
                 "root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\ncarol:x:1000:1000::/home/carol:/bin/bash\n");
        /* Root stays root: another user's entry never removes it, and root's own replaces it. */
        replaces(passwd, strlen(passwd), "dave", 4242, "dave:x:4242:4242::/home/dave:/bin/bash",
                 "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n"
                 "dave:x:4242:4242::/home/dave:/bin/bash\n");
        /* Groups: name in field 0, gid in field 2. */
        replaces("users:x:100:\nstaff:x:50:alice\n", 28, "staff", 100, "staff:x:100:", "staff:x:100:\n");
        /* An empty or missing file, no final newline, empty lines, ids that only start with the id,
         * lines with a NUL (dropped), lines too short to have an id. */
        replaces("", 0, "alice", 1000, ALICE, ALICE "\n");
        replaces("bob:x:1001:1001::/home/bob:/bin/sh", 34, "alice", 1000, ALICE,
                 "bob:x:1001:1001::/home/bob:/bin/sh\n" ALICE "\n");
        replaces("\n\nx:x:10000:1\ny:x:1000x:1\n", 26, "alice", 1000, ALICE, "x:x:10000:1\ny:x:1000x:1\n" ALICE "\n");
        replaces("a:x:1\0:1\nb:x:2:2\n", 17, "alice", 1000, ALICE, "b:x:2:2\n" ALICE "\n");
        replaces("lonely\nalice\nalicex:x:7:7\n", 26, "alice", 1000, ALICE, "lonely\nalicex:x:7:7\n" ALICE "\n");
        replaces("a::\nb:x:\n", 9, "alice", 1000, ALICE, "a::\nb:x:\n" ALICE "\n");
        return tap_done();
}
