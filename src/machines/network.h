/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "context.h"

/* What network a job's machine has. See README, "Security model — network". */
typedef enum NetworkMode {
        NETWORK_ISOLATED, /* its own namespace, NAT to the internet, no LAN, no host, no other job */
        NETWORK_HOST,     /* the host's namespace: everything the host reaches (trusted projects) */
        NETWORK_NONE,     /* loopback only */
        _NETWORK_MODE_MAX,
        _NETWORK_MODE_INVALID = -EINVAL,
} NetworkMode;

#define NETWORK_ALLOW_MAX 32
#define NETWORK_POOL_DEFAULT "10.213.0.0/16"
/* Under here, per slot n of the pool: slots/<n>, a symlink to the machine directory that holds it
 * (made first, so that gc finds whatever a crash left), and netns/<n>, the namespace's bind mount.
 * The veth's host end is nr<n>, the nft table inet nspawn_runner_<n>. */
#define NETWORK_RUN_DIR "/run/nspawn-runner/network"

/* An IPv4 or IPv6 prefix, with an optional port (0: any). */
typedef struct NetworkCidr {
        int family; /* AF_INET or AF_INET6; 0: unset */
        uint8_t addr[16];
        unsigned prefix;
        uint16_t port;
} NetworkCidr;

typedef struct NetworkSettings {
        NetworkMode mode;
        NetworkCidr pool; /* IPv4: a /30 of it per machine */
        const char *gitlab_url; /* the server jobs may reach even on the LAN; NULL: none */
        const NetworkCidr *allow;
        size_t n_allow;
} NetworkSettings;

const char *network_mode_to_string(NetworkMode m);
NetworkMode network_mode_from_string(const char *s);
/* "A.B.C.D/N[:PORT]", "A.B.C.D[:PORT]", "[IPV6/N]:PORT" or "IPV6/N"; the address is masked to its prefix. */
int network_cidr_parse(const char *s, NetworkCidr *ret);
/* An IPv4 prefix from /8 to /30: the pool machines get their /30 links from. */
int network_pool_parse(const char *s, NetworkCidr *ret);
/* The mode the image's playbook asks for, else the configured one. */
NetworkMode network_mode_for_image(const Context *c, NetworkMode configured, const char *image);

/* Makes what the machine's network needs before nspawn starts, and records the mode in the machine
 * directory. Logs one line and returns a negative errno on failure; what was made is then left
 * for network_teardown(). */
int network_setup(const Context *c, const char *id, const NetworkSettings *s);
/* network_setup() with the settings of the configuration in c->config_dir, for a machine of image. */
int network_prepare(const Context *c, const char *id, const char *image);
/* The systemd-nspawn options for the machine's recorded mode (0, 1 or 2 of them into argv). In
 * isolated mode the caller, about to execute systemd-nspawn, is moved into the machine's network
 * namespace instead of an option naming it. */
int network_nspawn_args(const Context *c, const char *id, char *ret_args[static 2], size_t *ret_n);
static inline void network_nspawn_args_free(char *(*args)[2]) {
        free((*args)[0]);
        free((*args)[1]);
}
/* Removes the namespace, veth, nft table and pool slot of the machine; fine when there are none. */
int network_teardown(const Context *c, const char *id);
/* Tears down every network whose machine directory is gone (a runner killed at the wrong moment). */
void network_gc(void);
