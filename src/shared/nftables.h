/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* nftables scripts run in-process through libnftables (of the nftables package), loaded with dlopen
 * when first needed: no `nft` run, and no link-time dependency for the binaries that never use it. */

typedef struct Nftables Nftables;

/* A context with its netlink socket. -ENOENT (message in ret_msg) when libnftables cannot be loaded. */
int nftables_new(Nftables **ret, char ret_msg[static 512]);
/* Runs script as `nft -f` would, in one transaction: 0, or -EIO with nft's first line of complaint. */
int nftables_run(Nftables *n, const char *script, char ret_msg[static 512]);
/* Closing the socket waits for the kernel to release the last transaction (an RCU grace period,
 * 5 to 30 ms): done long after it, it costs nothing. */
Nftables *nftables_free(Nftables *n);
