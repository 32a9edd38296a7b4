/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control-dir.h"
#include "tap.h"
#include "util.h"

int main(void) {
        struct sockaddr_un sa;
        char tmpl[] = "/tmp/test-control-dir.XXXXXX", *dir = mkdtemp(tmpl), *p, *moved;
        int fd;

        p = control_socket_path("18446744073709551615-ffffffff");
        CHECK(p && strlen(p) == 78 && strlen(p) < sizeof(sa.sun_path),
              "the longest key's socket path fits in sun_path: %s (%zu)", p, p ? strlen(p) : 0);
        free(p);
        p = control_dir_path("42");
        CHECK_STREQ(p, CONTROL_RUN_DIR "/42/control", "the control directory is on /run: %s", p);
        free(p);

        CHECK(dir != NULL, "a temporary directory");
        if (!dir)
                return tap_done();
        p = path_join(dir, "d");
        moved = path_join(dir, "moved");
        fd = mkdir(p, 0700) < 0 ? -1 : open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0 && flock_still_linked(fd, p, LOCK_EX) == 0, "a directory still at its path is locked");
        CHECK(rename(p, moved) == 0 && mkdir(p, 0700) == 0 && flock_still_linked(fd, p, LOCK_EX) == -ENOENT,
              "one replaced at its path is not ours");
        CHECK(rmdir(p) == 0 && rmdir(moved) == 0 && flock_still_linked(fd, moved, LOCK_EX) == -ENOENT,
              "nor one removed");
        if (fd >= 0)
                close(fd);
        rmdir(dir);
        free(p);
        free(moved);
        return tap_done();
}
