/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nftables.h"

/* libnftables' API (nftables/libnftables.h, stable since nftables 0.9): the header is in
 * libnftables-dev, which neither building nor running needs. */
#define NFT_CTX_DEFAULT 0U
static struct {
        Nftables *(*ctx_new)(uint32_t flags);
        void (*ctx_free)(Nftables *ctx);
        int (*ctx_buffer_output)(Nftables *ctx);
        int (*ctx_buffer_error)(Nftables *ctx);
        const char *(*ctx_get_error_buffer)(Nftables *ctx);
        int (*run_cmd_from_buffer)(Nftables *ctx, const char *buf);
} lib;

static int lib_load(char ret_msg[static 512]) {
        static const char *const names[] = { "nft_ctx_new", "nft_ctx_free", "nft_ctx_buffer_output", "nft_ctx_buffer_error",
                                             "nft_ctx_get_error_buffer", "nft_run_cmd_from_buffer" };
        void **slots = (void **) &lib;
        void *h;

        if (lib.ctx_new)
                return 0;
        h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                snprintf(ret_msg, 512, "cannot load libnftables.so.1 (is nftables installed?): %s", dlerror());
                return -ENOENT;
        }
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                slots[i] = dlsym(h, names[i]);
                if (!slots[i]) {
                        snprintf(ret_msg, 512, "libnftables.so.1 has no %s", names[i]);
                        memset(&lib, 0, sizeof(lib));
                        dlclose(h);
                        return -ENOENT;
                }
        }
        return 0;
}

int nftables_new(Nftables **ret, char ret_msg[static 512]) {
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
        if (lib.ctx_buffer_output(n) < 0 || lib.ctx_buffer_error(n) < 0) {
                lib.ctx_free(n);
                snprintf(ret_msg, 512, "cannot buffer nftables' messages");
                return -ENOMEM;
        }
        *ret = n;
        return 0;
}

int nftables_run(Nftables *n, const char *script, char ret_msg[static 512]) {
        const char *err;

        if (lib.run_cmd_from_buffer(n, script) == 0)
                return 0;
        err = lib.ctx_get_error_buffer(n);
        snprintf(ret_msg, 512, "%.*s", (int) (err ? strcspn(err, "\n") : 0), err ? err : "");
        if (!ret_msg[0])
                snprintf(ret_msg, 512, "nftables failed without a message");
        return -EIO;
}

Nftables *nftables_free(Nftables *n) {
        if (n)
                lib.ctx_free(n);
        return NULL;
}
