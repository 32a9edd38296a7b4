/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The isolated machines' firewall: one nft table per network pool, inet
 * nspawn_runner_<pool>_<hash of its text>, whose rules match every machine of the pool by its veth's
 * host end (nr<slot>) and so never change with a machine. Its text depends on the configuration, the
 * resolvers, the GitLab server's addresses and the host's subnets: a prepare that finds it loaded
 * (the usual case) makes no nftables transaction. */

#include <stdbool.h>
#include <stdio.h>

#include "network.h"

#define FIREWALL_PREFIX "nspawn_runner_"

/* The file nspawn gives an isolated machine as its resolv.conf, and so the resolvers it may reach. */
const char *firewall_resolv_conf(void);

/* Sees that the firewall of these settings is loaded and no other table of the pool's: one listing
 * when it is, else one transaction that replaces them. Logs one line on failure. Called under
 * network_lock(), as a prepare that has taken its slot. */
int firewall_ensure(const NetworkSettings *s);
/* Removes every table of ours (gc, when no isolated machine is left); logs what it did. */
void firewall_remove(void);

/* Reads the output of `nft list tables`: writes to script the deletion of every table of ours whose
 * name starts with prefix, but keep (may be NULL), and returns how many; ret_found says whether keep
 * was listed. Names of other characters than ours have are skipped: they would be written into a
 * script. */
unsigned firewall_listing_scan(const char *listing, const char *prefix, const char *keep, FILE *script,
                               bool *ret_found);
