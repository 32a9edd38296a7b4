/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The reading of `nft list tables`: which tables of ours a prepare keeps and which it deletes. */
#include <string.h>

#include "firewall.h"
#include "tap.h"
#include "util.h"

#define POOL "nspawn_runner_0ad50000_16_"

/* The script firewall_listing_scan() writes for listing, keep (of POOL; NULL: every table of ours);
 * its count and found flag. */
static char *scan(const char *listing, const char *keep, unsigned *ret_n, bool *ret_found) {
        MemStream m;
        FILE *f = memstream_open(&m);

        if (!f)
                return NULL;
        *ret_n = firewall_listing_scan(listing, keep ? POOL : FIREWALL_PREFIX, keep, f, ret_found);
        return memstream_finish(&m);
}

int main(void) {
        const char *keep = POOL "00000000000000aa";
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
        unsigned n;
        bool found;

        a = scan("table inet filter\ntable inet " POOL "00000000000000aa\ntable ip nat\n", keep, &n, &found);
        CHECK(a && streq(a, "") && n == 0 && found, "the firewall wanted, and others' tables: nothing to do");

        b = scan("table inet " POOL "00000000000000bb\ntable inet " POOL "00000000000000aa", keep, &n, &found);
        CHECK(b && n == 1 && found &&
                      streq(b, "table inet " POOL "00000000000000bb\ndelete table inet " POOL "00000000000000bb\n"),
              "an older firewall beside it (no final newline): deleted");

        c = scan("table inet nspawn_runner_0ad60000_16_00000000000000bb\n", keep, &n, &found);
        CHECK(c && streq(c, "") && n == 0 && !found, "only another pool's table: left alone, not found");

        d = scan("table ip " POOL "00000000000000aa\ntable inet " POOL "x; flush ruleset\ntable inet " POOL "ABC\n"
                 "table inet " POOL "0123456789012345678901234567890123456789\ntable inet filter_" POOL "1\n",
                 keep, &n, &found);
        CHECK(d && streq(d, "") && n == 0 && !found, "another family, names with characters ours do not have, a name "
                                                     "too long, the prefix elsewhere: left alone");

        e = scan("table inet nspawn_runner_1\ntable inet " POOL "00000000000000aa\n", NULL, &n, &found);
        CHECK(e && n == 2 && !found && strstr(e, "delete table inet nspawn_runner_1\n") &&
                      strstr(e, "delete table inet " POOL "00000000000000aa\n"),
              "nothing to keep (gc): every table of ours deleted");
        return tap_done();
}
