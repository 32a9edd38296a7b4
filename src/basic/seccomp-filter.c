/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <linux/audit.h>
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

/* For one ABI: if the architecture matches, deny the listed calls and allow the rest. The jump past
 * them is patched in once they are emitted, so it is right whatever was emitted for this CPU. */
static void emit_abi(Prog *p, uint32_t arch, const SeccompDenied *denied, size_t n, bool deny_x32) {
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

static int build_denylist(Prog *p) {
#ifdef NATIVE_ARCH
        emit_abi(p, NATIVE_ARCH, native_denied, ELEMENTSOF(native_denied), true);
#ifdef COMPAT_ARCH
        if (seccomp_compat_n_denied > 0)
                emit_abi(p, COMPAT_ARCH, seccomp_compat_denied, seccomp_compat_n_denied, false);
#endif
        /* Any other ABI is one this filter does not know: nothing of it is allowed. */
        emit(p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
        return prog_valid(p) ? 0 : -E2BIG;
#else
        (void) p;
        return -EOPNOTSUPP;
#endif
}

int seccomp_check_denylist(void) {
        Prog p = { .n = 0 };

        return build_denylist(&p);
}

int seccomp_install_denylist(void) {
        Prog p = { .n = 0 };
        struct sock_fprog prog;
        int r;

        r = build_denylist(&p);
        if (r < 0)
                return r;
        prog = (struct sock_fprog) { .len = (unsigned short) p.n, .filter = p.insns };
        /* No PR_SET_NO_NEW_PRIVS: jobs may use setuid programs (sudo, ping); root in the machine
         * has CAP_SYS_ADMIN, which is what installing a filter without it takes. */
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return -errno;
        return 0;
}
