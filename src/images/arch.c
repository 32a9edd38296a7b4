/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <elf.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "log.h"
#include "util.h"

typedef struct ArchInfo {
        const char *dpkg;     /* Debian's name */
        uint16_t machine;     /* ELF e_machine */
        unsigned char class;  /* ELFCLASS32 or ELFCLASS64 */
        const char *qemu;     /* binfmt_misc entry of qemu-user-static */
} ArchInfo;

static const ArchInfo arches[] = {
        { "amd64", EM_X86_64, ELFCLASS64, "qemu-x86_64" },
        { "i386", EM_386, ELFCLASS32, "qemu-i386" },
        { "arm64", EM_AARCH64, ELFCLASS64, "qemu-aarch64" },
        { "armhf", EM_ARM, ELFCLASS32, "qemu-arm" },
        { "ppc64el", EM_PPC64, ELFCLASS64, "qemu-ppc64le" },
        { "s390x", EM_S390, ELFCLASS64, "qemu-s390x" },
        { "riscv64", EM_RISCV, ELFCLASS64, "qemu-riscv64" },
};

const char *arch_host(void) {
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#elif defined(__i386__)
        return "i386";
#elif defined(__arm__)
        return "armhf";
#else
        return "unknown";
#endif
}

static const ArchInfo *arch_find(const char *dpkg) {
        for (size_t i = 0; i < ELEMENTSOF(arches); i++)
                if (streq(arches[i].dpkg, dpkg))
                        return &arches[i];
        return NULL;
}

int arch_of_chroot(const char *root, const char **ret) {
        static const char *const shells[] = { "usr/bin/bash", "bin/bash" };
        unsigned char ident[EI_NIDENT];
        uint16_t machine;

        for (size_t i = 0; i < ELEMENTSOF(shells); i++) {
                _cleanup_free_ char *path = path_join(root, shells[i]);
                _cleanup_close_ int fd = -EBADF;

                if (!path)
                        return -ENOMEM;
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        continue;
                if (pread(fd, ident, sizeof(ident), 0) != sizeof(ident) || memcmp(ident, ELFMAG, SELFMAG) != 0 ||
                    pread(fd, &machine, sizeof(machine), offsetof(Elf64_Ehdr, e_machine)) != sizeof(machine))
                        return -ENOEXEC;
                /* e_machine is in the file's byte order (s390x is big-endian). */
                machine = ident[EI_DATA] == ELFDATA2MSB ? be16toh(machine) : le16toh(machine);
                for (size_t k = 0; k < ELEMENTSOF(arches); k++)
                        if (arches[k].machine == machine && arches[k].class == ident[EI_CLASS]) {
                                *ret = arches[k].dpkg;
                                return 0;
                        }
                return -ENOEXEC;
        }
        return -ENOENT;
}

const char *arch_personality(const char *arch) {
        if (streq(arch_host(), "amd64") && streq(arch, "i386"))
                return "x86";
        return NULL;
}

static bool native(const char *arch) {
        return streq(arch, arch_host()) || arch_personality(arch) || (streq(arch_host(), "arm64") && streq(arch, "armhf"));
}

int arch_check_runnable(const char *arch) {
        const ArchInfo *a = arch_find(arch);
        _cleanup_free_ char *path = NULL, *status = NULL;

        if (!a)
                return log_error_errno(EINVAL, "Unknown architecture '%s'.", arch);
        if (native(arch))
                return 0;
        path = strprintf("/proc/sys/fs/binfmt_misc/%s", a->qemu);
        if (!path)
                return log_oom();
        if (read_one_line_file(path, &status) < 0 || !streq(status, "enabled"))
                return log_error_errno(ENOEXEC,
                                       "Running %s chroots on this %s host needs qemu-user-static registered with binfmt_misc "
                                       "(apt-get install qemu-user-static binfmt-support; %s is not enabled).",
                                       arch, arch_host(), path);
        return 0;
}
