/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <linux/btrfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp-filter.h"
#include "tap.h"

/* Whether ioctl() with this request got through the filter: on fd -1 the kernel itself fails with
 * EBADF, the filter with EPERM first. The upper half set: the kernel ignores it, so must the filter. */
static bool request_allowed(unsigned long request) {
        return syscall(SYS_ioctl, -1, request, NULL) < 0 && errno == EBADF;
}

#if defined(__x86_64__)
/* The same through the i386 ABI's ioctl (54), which a 64-bit process reaches by int $0x80: -errno. */
static bool request_allowed_i386(uint32_t request) {
        long r;

        __asm__ volatile("int $0x80" : "=a"(r) : "a"(54L), "b"(-1L), "c"((unsigned long) request)
                         : "memory", "r8", "r9", "r10", "r11");
        return r == -EBADF;
}
#endif

/* Installs the filter in a child and reports what a denied and an allowed call returned:
 * 0 when bpf failed with EPERM, keyctl with ENOSYS (as if there were no keyrings, which container
 * runtimes in a job go on without), getppid and ordinary ioctls worked, and the btrfs requests that
 * make a subvolume failed with EPERM exactly when deny_subvolumes; else a code saying what went wrong. */
static int filtered_child(bool deny_subvolumes) {
        static const unsigned long subvolume_requests[] = {
                BTRFS_IOC_SUBVOL_CREATE, BTRFS_IOC_SUBVOL_CREATE_V2, BTRFS_IOC_SNAP_CREATE, BTRFS_IOC_SNAP_CREATE_V2,
        };
        pid_t pid = fork();
        int status;

        if (pid < 0)
                return -1;
        if (pid == 0) {
                if (seccomp_install_denylist(deny_subvolumes) < 0)
                        _exit(10);
                if (syscall(SYS_bpf, 0, NULL, 0) >= 0 || errno != EPERM)
                        _exit(11);
                if (syscall(SYS_keyctl, 0, 0, 0, 0, 0) >= 0 || errno != ENOSYS)
                        _exit(13);
                if (syscall(SYS_getppid) <= 0)
                        _exit(12);
                for (size_t i = 0; i < sizeof(subvolume_requests) / sizeof(subvolume_requests[0]); i++) {
                        if (request_allowed(subvolume_requests[i]) == deny_subvolumes)
                                _exit(20 + (int) i);
                        if (request_allowed(subvolume_requests[i] | (UINT64_C(1) << 32)) == deny_subvolumes)
                                _exit(30 + (int) i);
#if defined(__x86_64__)
                        if (request_allowed_i386((uint32_t) subvolume_requests[i]) == deny_subvolumes)
                                _exit(40 + (int) i);
#endif
                }
                if (!request_allowed(BTRFS_IOC_SNAP_DESTROY) || !request_allowed(BTRFS_IOC_SUBVOL_GETFLAGS))
                        _exit(14);
                _exit(0);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
                return -1;
        return WEXITSTATUS(status);
}

int main(void) {
        int r = seccomp_check_denylist(false);

        /* The kernel refuses a filter with a jump out of bounds (EINVAL at start of every job):
         * this is what the check catches on each CPU the unit tests are built for. */
        CHECK(r == 0 || r == -EOPNOTSUPP, "the filter for this CPU is well-formed (%d)", r);
        CHECK(seccomp_check_denylist(true) == r, "so is the one denying subvolumes");
        if (r == 0 && geteuid() == 0) {
                int c = filtered_child(false);
                CHECK(c == 0, "installed, it denies bpf with EPERM, keyctl with ENOSYS and allows getppid and "
                      "the btrfs subvolume requests (child said %d)", c);
                c = filtered_child(true);
                CHECK(c == 0, "denying subvolumes, it denies the four btrfs requests that make one with EPERM, "
                      "also with the upper half of the request set and through the i386 ABI on x86_64, and allows other "
                      "ioctls (child said %d)", c);
        }
        CHECK(seccomp_covers_arch("amd64") || seccomp_covers_arch("arm64") || r == -EOPNOTSUPP,
              "the host's own architecture is covered where there is a filter");
        return tap_done();
}
