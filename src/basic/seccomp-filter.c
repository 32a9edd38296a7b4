/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <endian.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/btrfs.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp-filter.h"
#include "util.h"

#define DENY(name, error) { __NR_##name, error },
static const SeccompDenied native_denied[] = {
#include "seccomp-list.h"
};
#undef DENY

extern const SeccompDenied seccomp_compat_denied[];
extern const unsigned seccomp_compat_n_denied;
extern const int seccomp_compat_ioctl_nr;

/* The btrfs requests that make a subvolume. Their numbers encode the size of their argument, the same
 * 4096 bytes for the i386 ABI (no member's size depends on it), so one list serves both ABIs. */
static const uint32_t subvolume_requests[] = {
        BTRFS_IOC_SUBVOL_CREATE,
        BTRFS_IOC_SUBVOL_CREATE_V2,
        BTRFS_IOC_SNAP_CREATE,
        BTRFS_IOC_SNAP_CREATE_V2,
};
_Static_assert(sizeof(struct btrfs_ioctl_vol_args) == 4096 && sizeof(struct btrfs_ioctl_vol_args_v2) == 4096,
               "the requests' numbers are not those of every ABI");

/* ioctl()'s request is an unsigned int in the kernel, which ignores the upper half of the register:
 * compare the lower half alone, wherever the byte order puts it. */
#if __BYTE_ORDER == __LITTLE_ENDIAN
#define ARG1_LOW offsetof(struct seccomp_data, args[1])
#else
#define ARG1_LOW (offsetof(struct seccomp_data, args[1]) + sizeof(uint32_t))
#endif

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define COMPAT_ARCH AUDIT_ARCH_I386
/* x32 shares AUDIT_ARCH_X86_64 and sets this bit in the call number; jobs have no use for it. */
#define X32_BIT 0x40000000U
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif

bool seccomp_covers_arch(const char *arch) {
        /* Foreign binaries run through qemu-user, whose calls are the host's own: only the 32-bit
         * ABI of the host's own CPU needs a table of its own. */
#if defined(__x86_64__)
        return streq(arch, "i386") ? seccomp_compat_n_denied > 0 : true;
#elif defined(__aarch64__)
        return !streq(arch, "armhf") && !streq(arch, "armel");
#else
        (void) arch;
        return false;
#endif
}

#define MAX_INSNS 256

typedef struct Prog {
        struct sock_filter insns[MAX_INSNS];
        unsigned n;
} Prog;

static void emit(Prog *p, struct sock_filter f) {
        if (p->n < MAX_INSNS)
                p->insns[p->n] = f;
        p->n++;
}

/* With the call's number loaded: an ioctl() with one of the requests fails with EPERM, any other is
 * allowed, and any other call goes on to the instruction after these, the ABI's final ALLOW. */
static void emit_subvolume_requests(Prog *p, int ioctl_nr) {
        const unsigned n = ELEMENTSOF(subvolume_requests);

        emit(p, (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) ioctl_nr, 0, n + 2));
        emit(p, (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG1_LOW));
        for (unsigned i = 0; i < n; i++)
                emit(p, (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, subvolume_requests[i], n - 1 - i,
                                                      i == n - 1));
        emit(p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
}

/* For one ABI: if the architecture matches, deny the listed calls (and the subvolume requests, when
 * ioctl_nr >= 0) and allow the rest. The jump past them is patched in once they are emitted, so it is
 * right whatever was emitted for this CPU. */
static void emit_abi(Prog *p, uint32_t arch, const SeccompDenied *denied, size_t n, bool deny_x32, int ioctl_nr) {
        unsigned jump;

        emit(p, (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
        jump = p->n;
        emit(p, (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 0));
        emit(p, (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
#ifdef X32_BIT
        if (deny_x32) {
                emit(p, (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1));
                emit(p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
        }
#else
        (void) deny_x32;
#endif
        for (size_t i = 0; i < n; i++) {
                emit(p, (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) denied[i].nr, 0, 1));
                emit(p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (uint32_t) denied[i].error));
        }
        if (ioctl_nr >= 0)
                emit_subvolume_requests(p, ioctl_nr);
        emit(p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
        /* To the next ABI's test: whatever follows this one's final ALLOW. */
        if (p->n <= MAX_INSNS && p->n - jump - 1 <= UINT8_MAX)
                p->insns[jump].jf = (uint8_t) (p->n - jump - 1);
        else
                p->n = MAX_INSNS + 1; /* too long for one jump: refused below */
}

/* Every jump lands inside the program and it ends in a return: what the kernel checks too, here
 * so that the unit tests see a filter this CPU's kernel would refuse. */
static bool prog_valid(const Prog *p) {
        if (p->n == 0 || p->n > MAX_INSNS || BPF_CLASS(p->insns[p->n - 1].code) != BPF_RET)
                return false;
        for (unsigned i = 0; i < p->n; i++) {
                const struct sock_filter *f = &p->insns[i];
                if (BPF_CLASS(f->code) == BPF_JMP && (i + 1 + f->jt >= p->n || i + 1 + f->jf >= p->n))
                        return false;
        }
        return true;
}

static int build_denylist(Prog *p, bool deny_subvolumes) {
#ifdef NATIVE_ARCH
        emit_abi(p, NATIVE_ARCH, native_denied, ELEMENTSOF(native_denied), true, deny_subvolumes ? __NR_ioctl : -1);
#ifdef COMPAT_ARCH
        if (seccomp_compat_n_denied > 0)
                emit_abi(p, COMPAT_ARCH, seccomp_compat_denied, seccomp_compat_n_denied, false,
                         deny_subvolumes ? seccomp_compat_ioctl_nr : -1);
#endif
        /* Any other ABI is one this filter does not know: nothing of it is allowed. */
        emit(p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
        return prog_valid(p) ? 0 : -E2BIG;
#else
        (void) p;
        (void) deny_subvolumes;
        return -EOPNOTSUPP;
#endif
}

int seccomp_check_denylist(bool deny_subvolumes) {
        Prog p = { .n = 0 };

        return build_denylist(&p, deny_subvolumes);
}

int seccomp_install_denylist(bool deny_subvolumes) {
        Prog p = { .n = 0 };
        struct sock_fprog prog;
        int r;

        r = build_denylist(&p, deny_subvolumes);
        if (r < 0)
                return r;
        prog = (struct sock_fprog) { .len = (unsigned short) p.n, .filter = p.insns };
        /* No PR_SET_NO_NEW_PRIVS: jobs may use setuid programs (sudo, ping); root in the machine
         * has CAP_SYS_ADMIN, which is what installing a filter without it takes. */
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return -errno;
        return 0;
}
