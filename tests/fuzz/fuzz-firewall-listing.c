/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What `nft list tables` printed, as a prepare reads it: whatever it is, the script written from it
 * names only tables of the pool's, each deleted after it is made. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *listing = strndup((const char *) data, size), *script = NULL;
        MemStream m;
        FILE *f;
        unsigned n;
        bool found;

        if (!listing || !(f = memstream_open(&m)))
                return 0;
        n = firewall_listing_scan(listing, "nspawn_runner_0ad50000_16_", "nspawn_runner_0ad50000_16_00000000000000aa",
                                  f, &found);
        script = memstream_finish(&m);
        if (!script)
                return 0;
        for (const char *l = script; *l; n--) {
                const char *name = startswith(l, "table inet nspawn_runner_0ad50000_16_");
                size_t len = name ? strcspn(name, "\n") : 0;
                char want[128];

                if (!name || n == 0 || len > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
                        abort();
                snprintf(want, sizeof(want), "delete table inet nspawn_runner_0ad50000_16_%.*s\n", (int) len, name);
                l = name + len + 1;
                if (strncmp(l, want, strlen(want)) != 0)
                        abort();
                l += strlen(want);
        }
        if (n != 0)
                abort();
        return 0;
}
