/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The few rtnetlink requests an isolated machine's network needs, made by the runner itself (no `ip`
 * run): each request is built into an RtnlMessage, sent alone and answered by one acknowledgement. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest request made here (a veth with its peer is about 100 bytes). */
#define RTNL_MESSAGE_MAX 512

typedef struct RtnlMessage {
        union {
                uint32_t align;
                uint8_t buf[RTNL_MESSAGE_MAX];
        };
        size_t len;
        bool overflow; /* an attribute did not fit: the message must not be sent */
} RtnlMessage;

/* A veth pair: name here, peer in the network namespace peer_netns_fd. */
void rtnl_message_veth(RtnlMessage *m, const char *name, const char *peer, int peer_netns_fd);
void rtnl_message_link_up(RtnlMessage *m, int ifindex);
void rtnl_message_address(RtnlMessage *m, int ifindex, struct in_addr address, unsigned prefix);
/* The default route via gateway on ifindex, on-link (the gateway need not be in a subnet of it). */
void rtnl_message_default_route(RtnlMessage *m, int ifindex, struct in_addr gateway);

/* What the acknowledgement of request seq says: 0, the kernel's negative errno, or -EBADMSG when the
 * buffer is not exactly one NLMSG_ERROR answering seq. */
int rtnl_ack_parse(const void *buf, size_t len, uint32_t seq);

/* A NETLINK_ROUTE socket in the caller's network namespace. */
int rtnl_open(int *ret_fd);
/* Sends m with sequence number seq and waits for its acknowledgement: 0 or a negative errno. */
int rtnl_call(int fd, RtnlMessage *m, uint32_t seq);
