/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <string.h>

#include "network-util.h"
#include "util.h"

static const char *const mode_names[_NETWORK_MODE_MAX] = {
        [NETWORK_ISOLATED] = "isolated",
        [NETWORK_HOST] = "host",
        [NETWORK_NONE] = "none",
};

const char *network_mode_to_string(NetworkMode m) {
        return m >= 0 && m < _NETWORK_MODE_MAX ? mode_names[m] : NULL;
}

NetworkMode network_mode_from_string(const char *s) {
        for (NetworkMode m = 0; m < _NETWORK_MODE_MAX; m++)
                if (streq(s, mode_names[m]))
                        return m;
        return _NETWORK_MODE_INVALID;
}

void network_cidr_mask(NetworkCidr *c) {
        unsigned bytes = c->family == AF_INET ? 4 : 16;

        for (unsigned i = 0; i < bytes; i++) {
                unsigned keep = c->prefix > i * 8 ? c->prefix - i * 8 : 0;
                c->addr[i] &= keep >= 8 ? 0xff : (uint8_t) (0xff00 >> keep);
        }
}

static int parse_port(const char *s, uint16_t *ret) {
        uint64_t u;

        if (safe_atou64(s, &u) < 0 || u == 0 || u > 65535)
                return -EINVAL;
        *ret = (uint16_t) u;
        return 0;
}

int network_cidr_parse(const char *s, NetworkCidr *ret) {
        char buf[64];
        char *slash, *port = NULL;
        const char *addr = buf;
        NetworkCidr c = {};

        if (strlen(s) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, s);
        if (buf[0] == '[') {
                char *close = strchr(buf, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                *close = 0;
                port = close + 2;
                addr = buf + 1;
        } else if (!strchr(buf, ':') || strchr(buf, '.')) {
                /* IPv4: a colon can only start the port. */
                port = strchr(buf, ':');
                if (port)
                        *port++ = 0;
        }
        if (port && parse_port(port, &c.port) < 0)
                return -EINVAL;
        slash = strchr(addr, '/');
        if (slash)
                *slash++ = 0;
        if (inet_pton(AF_INET, addr, c.addr) == 1)
                c.family = AF_INET;
        else if (inet_pton(AF_INET6, addr, c.addr) == 1)
                c.family = AF_INET6;
        else
                return -EINVAL;
        c.prefix = c.family == AF_INET ? 32 : 128;
        if (slash) {
                uint64_t u;
                if (safe_atou64(slash, &u) < 0 || u > c.prefix)
                        return -EINVAL;
                c.prefix = (unsigned) u;
        }
        network_cidr_mask(&c);
        *ret = c;
        return 0;
}

int network_pool_parse(const char *s, NetworkCidr *ret) {
        NetworkCidr c;

        if (network_cidr_parse(s, &c) < 0 || c.family != AF_INET || c.port || c.prefix < 8 || c.prefix > 30)
                return -EINVAL;
        *ret = c;
        return 0;
}
