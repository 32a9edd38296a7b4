/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "context.h"
#include "network-util.h"

/* Under here, per slot n of the pool: slots/<n>, a symlink to the machine directory that holds it
 * (made first, so that gc finds whatever a crash left), and netns/<n>, the namespace's bind mount;
 * and lock. The veth's host end is nr<n>. One nft table per pool (firewall.h) serves its isolated
 * machines by the names of their links. */
#define NETWORK_RUN_DIR "/run/nspawn-runner/network"
/* The name of every isolated machine's veth on the host begins so: nr<slot>. The firewall's rules
 * match the machines by it. */
#define NETWORK_LINK_PREFIX "nr"

typedef struct NetworkSettings {
        NetworkMode mode;
        NetworkCidr pool; /* IPv4: a /30 of it per machine */
        const char *gitlab_url; /* the server jobs may reach even on the LAN; NULL: none */
        const NetworkCidr *allow;
        size_t n_allow;
} NetworkSettings;

/* Makes what the machine's network needs before nspawn starts, and records the mode in the machine
 * directory. Logs one line and returns a negative errno on failure; what was made is then left
 * for network_teardown(). */
int network_setup(const Context *c, const char *id, const NetworkSettings *s);
/* network_setup() in mode, with the rest of the settings from cfg. */
int network_prepare(const Context *c, const char *id, const Config *cfg, NetworkMode mode);
/* The systemd-nspawn options for the machine's recorded mode (0, 1 or 2 of them into argv). In
 * isolated mode the caller, about to execute systemd-nspawn, is moved into the machine's network
 * namespace instead of an option naming it. */
int network_nspawn_args(const Context *c, const char *id, char *ret_args[static 2], size_t *ret_n);
static inline void network_nspawn_args_free(char *(*args)[2]) {
        free((*args)[0]);
        free((*args)[1]);
}
/* Removes the namespace (and with it the veth) and the pool slot of the machine; fine when there
 * are none. */
int network_teardown(const Context *c, const char *id);
/* Tears down every network whose machine directory is gone (a runner killed at the wrong moment),
 * and with remove_idle_firewall the nft table when no isolated machine is left. */
void network_gc(bool remove_idle_firewall);
