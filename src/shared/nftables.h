/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* nftables scripts run in-process through libnftables (of the nftables package), loaded with dlopen
 * when first needed: no `nft` run, and no link-time dependency for the binaries that never use it. */

typedef struct Nftables Nftables;

/* Runs script as `nft -f` would, in one transaction: 0, or -EIO with nft's first line of complaint in
 * ret_msg (-ENOENT: no libnftables). ret_output (may be NULL) is what the script listed, valid until
 * the next call. All calls of a process share one context, made at the first: its socket is closed
 * only at exit, because closing it waits for the kernel to release the last transaction (an RCU grace
 * period, 5 to 30 ms), which long after that transaction costs nothing. */
int nftables_run(const char *script, const char **ret_output, char ret_msg[static 512]);
