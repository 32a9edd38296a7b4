/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp-filter.h"
#include "tap.h"

/* Installs the filter in a child and reports what a denied and an allowed call returned:
 * 0 when bpf failed with EPERM, keyctl with ENOSYS (as if there were no keyrings, which container
 * runtimes in a job go on without) and getppid worked, else a code saying what went wrong. */
static int filtered_child(void) {
        pid_t pid = fork();
        int status;

        if (pid < 0)
                return -1;
        if (pid == 0) {
                if (seccomp_install_denylist() < 0)
                        _exit(10);
                if (syscall(SYS_bpf, 0, NULL, 0) >= 0 || errno != EPERM)
                        _exit(11);
                if (syscall(SYS_keyctl, 0, 0, 0, 0, 0) >= 0 || errno != ENOSYS)
                        _exit(13);
                if (syscall(SYS_getppid) <= 0)
                        _exit(12);
                _exit(0);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
                return -1;
        return WEXITSTATUS(status);
}

int main(void) {
        int r = seccomp_check_denylist();

        /* The kernel refuses a filter with a jump out of bounds (EINVAL at start of every job):
         * this is what the check catches on each CPU the unit tests are built for. */
        CHECK(r == 0 || r == -EOPNOTSUPP, "the filter for this CPU is well-formed (%d)", r);
        if (r == 0 && geteuid() == 0) {
                int c = filtered_child();
                CHECK(c == 0, "installed, it denies bpf with EPERM, keyctl with ENOSYS and allows getppid (child said %d)", c);
        }
        CHECK(seccomp_covers_arch("amd64") || seccomp_covers_arch("arm64") || r == -EOPNOTSUPP,
              "the host's own architecture is covered where there is a filter");
        return tap_done();
}
