/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The network settings' words and addresses, as the configuration and the playbooks give them. */

#include <errno.h>
#include <stdint.h>

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

/* An IPv4 or IPv6 prefix, with an optional port (0: any). */
typedef struct NetworkCidr {
        int family; /* AF_INET or AF_INET6; 0: unset */
        uint8_t addr[16];
        unsigned prefix;
        uint16_t port;
} NetworkCidr;

const char *network_mode_to_string(NetworkMode m);
NetworkMode network_mode_from_string(const char *s);
/* "A.B.C.D/N[:PORT]", "A.B.C.D[:PORT]", "[IPV6/N]:PORT" or "IPV6/N"; the address is masked to its prefix. */
int network_cidr_parse(const char *s, NetworkCidr *ret);
/* An IPv4 prefix from /8 to /30: the pool machines get their /30 links from. */
int network_pool_parse(const char *s, NetworkCidr *ret);
/* Clears the address bits past the prefix. */
void network_cidr_mask(NetworkCidr *c);
