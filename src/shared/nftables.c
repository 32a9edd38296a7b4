/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "nftables.h"
#include "util.h"

/* libnftables' API (nftables/libnftables.h, stable since nftables 0.9): the header is in
 * libnftables-dev, which neither building nor running needs. */
#define NFT_CTX_DEFAULT 0U
typedef struct Lib {
        Nftables *(*ctx_new)(uint32_t flags);
        void (*ctx_free)(Nftables *ctx);
        int (*ctx_buffer_output)(Nftables *ctx);
        int (*ctx_buffer_error)(Nftables *ctx);
        const char *(*ctx_get_output_buffer)(Nftables *ctx);
        const char *(*ctx_get_error_buffer)(Nftables *ctx);
        int (*run_cmd_from_buffer)(Nftables *ctx, const char *buf);
} Lib;
static Lib lib;

static int lib_load(char ret_msg[static 512]) {
        static const struct {
                const char *name;
                size_t offset;
        } symbols[] = {
                { "nft_ctx_new", offsetof(Lib, ctx_new) },
                { "nft_ctx_free", offsetof(Lib, ctx_free) },
                { "nft_ctx_buffer_output", offsetof(Lib, ctx_buffer_output) },
                { "nft_ctx_buffer_error", offsetof(Lib, ctx_buffer_error) },
                { "nft_ctx_get_output_buffer", offsetof(Lib, ctx_get_output_buffer) },
                { "nft_ctx_get_error_buffer", offsetof(Lib, ctx_get_error_buffer) },
                { "nft_run_cmd_from_buffer", offsetof(Lib, run_cmd_from_buffer) },
        };
        Lib loaded;
        void *h;

        if (lib.ctx_new)
                return 0;
        h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                snprintf(ret_msg, 512, "cannot load libnftables.so.1 (is nftables installed?): %s", dlerror());
                return -ENOENT;
        }
        for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
                void *p = dlsym(h, symbols[i].name);
                if (!p) {
                        snprintf(ret_msg, 512, "libnftables.so.1 has no %s", symbols[i].name);
                        dlclose(h);
                        return -ENOENT;
                }
                /* A function pointer from dlsym()'s void *, as POSIX has it. */
                memcpy((uint8_t *) &loaded + symbols[i].offset, &p, sizeof(p));
        }
        lib = loaded;
        return 0;
}

/* libnftables opens its netlink socket without SOCK_CLOEXEC (nftables 1.0.6): the one
 * NETLINK_NETFILTER socket of ours without FD_CLOEXEC is its, and is marked so that no program we
 * execute (systemd-nspawn) inherits it. */
static int socket_cloexec(void) {
        _cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int r = -ENOENT;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                int fd, flags, domain, protocol;
                socklen_t l = sizeof(int);
                uint64_t u;

                if (safe_atou64(de->d_name, &u) < 0 || u > INT_MAX || (int) u == dirfd(d))
                        continue;
                fd = (int) u;
                flags = fcntl(fd, F_GETFD);
                if (flags < 0 || (flags & FD_CLOEXEC) || getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0 ||
                    domain != AF_NETLINK || getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &l) < 0 ||
                    protocol != NETLINK_NETFILTER)
                        continue;
                r = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0 ? -errno : 0;
        }
        return r;
}

static int context_new(Nftables **ret, char ret_msg[static 512]) {
        Nftables *n;
        int r;

        r = lib_load(ret_msg);
        if (r < 0)
                return r;
        n = lib.ctx_new(NFT_CTX_DEFAULT);
        if (!n) {
                snprintf(ret_msg, 512, "cannot create an nftables context");
                return -ENOMEM;
        }
        /* Its messages come back to us, none goes to our stdout or stderr. */
        if (socket_cloexec() < 0 || lib.ctx_buffer_output(n) < 0 || lib.ctx_buffer_error(n) < 0) {
                lib.ctx_free(n);
                snprintf(ret_msg, 512, "cannot set up the nftables context (its socket, its message buffers)");
                return -EIO;
        }
        *ret = n;
        return 0;
}

int nftables_run(const char *script, const char **ret_output, char ret_msg[static 512]) {
        /* Never freed: see nftables.h. */
        static Nftables *context = NULL;
        const char *err;
        int r;

        if (!context) {
                r = context_new(&context, ret_msg);
                if (r < 0)
                        return r;
        }
        if (lib.run_cmd_from_buffer(context, script) == 0) {
                if (ret_output)
                        *ret_output = lib.ctx_get_output_buffer(context);
                return 0;
        }
        err = lib.ctx_get_error_buffer(context);
        snprintf(ret_msg, 512, "%.*s", (int) (err ? strcspn(err, "\n") : 0), err ? err : "");
        if (!ret_msg[0])
                snprintf(ret_msg, 512, "nftables failed without a message");
        return -EIO;
}
