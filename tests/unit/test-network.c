/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The parsers of the network keys: network_allow, network_pool, network and nspawn_runner_network. */
#include <arpa/inet.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "network.h"
#include "playbook.h"
#include "tap.h"
#include "util.h"

static bool cidr_is(const char *s, int family, const char *addr, unsigned prefix, unsigned port) {
        NetworkCidr c;
        uint8_t want[16] = {};

        if (network_cidr_parse(s, &c) < 0 || inet_pton(family, addr, want) != 1)
                return false;
        return c.family == family && memcmp(c.addr, want, family == AF_INET ? 4 : 16) == 0 && c.prefix == prefix &&
               c.port == port;
}

int main(void) {
        static const char *const bad[] = { "", "1.2.3", "1.2.3.4/33", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4/8:",
                                           "1.2.3.4:22x", "fd00::/129", "[fd00::1]", "[fd00::1]:", "host.example:80",
                                           "1.2.3.4/-1", "::1:80:", "[1.2.3.4/8:80", "0123456789012345678901234567890123456789012345678901234567890123" };
        static const char *const bad_pool[] = { "10.0.0.0/7", "10.0.0.0/31", "fd00::/64", "10.0.0.0/16:80", "x" };
        NetworkCidr c;
        Config cfg;
        Playbook pb = PLAYBOOK_INIT;

        log_set_max_level(LOG_LEVEL_ERROR);
        CHECK(cidr_is("192.168.1.10", AF_INET, "192.168.1.10", 32, 0), "an address is a /32");
        CHECK(cidr_is("192.168.1.10:5000", AF_INET, "192.168.1.10", 32, 5000), "an address with a port");
        CHECK(cidr_is("10.1.2.3/8", AF_INET, "10.0.0.0", 8, 0), "a prefix is masked");
        CHECK(cidr_is("172.16.5.0/20:443", AF_INET, "172.16.0.0", 20, 443), "a prefix with a port");
        CHECK(cidr_is("fd00::1/64", AF_INET6, "fd00::", 64, 0), "an IPv6 prefix");
        CHECK(cidr_is("[fd00::1]:8080", AF_INET6, "fd00::1", 128, 8080), "a bracketed IPv6 address with a port");
        CHECK(cidr_is("[fd12:3456::/32]:53", AF_INET6, "fd12:3456::", 32, 53), "a bracketed IPv6 prefix with a port");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                CHECK(network_cidr_parse(bad[i], &c) == -EINVAL, "refused: '%s'", bad[i]);
        CHECK(network_pool_parse("10.213.0.0/16", &c) == 0 && c.prefix == 16, "the default pool");
        for (size_t i = 0; i < ELEMENTSOF(bad_pool); i++)
                CHECK(network_pool_parse(bad_pool[i], &c) == -EINVAL, "refused as a pool: '%s'", bad_pool[i]);

        CHECK(network_mode_from_string("isolated") == NETWORK_ISOLATED && network_mode_from_string("host") == NETWORK_HOST &&
              network_mode_from_string("none") == NETWORK_NONE, "the three modes");
        CHECK(network_mode_from_string("Host") < 0 && network_mode_from_string("") < 0, "modes are lower case words");
        for (NetworkMode m = 0; m < _NETWORK_MODE_MAX; m++)
                CHECK(network_mode_from_string(network_mode_to_string(m)) == m, "mode %d round-trips", m);

        config_init(&cfg);
        CHECK(cfg.network == NETWORK_ISOLATED && cfg.network_pool.prefix == 16, "isolated by default, the default pool");
        {
                const char text[] = "network = host\nnetwork_pool = 100.80.0.0/20\nnetwork_allow = 192.168.1.10:5000\n"
                                    "network_allow = 10.0.0.0/8\n";
                CHECK(config_parse("t.conf", text, strlen(text), &cfg) == 0 && cfg.network == NETWORK_HOST &&
                              cfg.network_pool.prefix == 20 && cfg.n_network_allow == 2 && cfg.network_allow[0].port == 5000,
                      "the network keys parse");
        }
        CHECK(config_parse("t.conf", "network = open\n", 15, &cfg) == -EINVAL, "a bad mode is an error");
        CHECK(config_parse("t.conf", "network_allow = 10.0.0.0/33\n", 28, &cfg) == -EINVAL, "a bad allow is an error");
        config_done(&cfg);
        config_init(&cfg);
        {
                char text[40 * 40] = "";
                for (unsigned i = 0; i <= NETWORK_ALLOW_MAX; i++)
                        sprintf(text + strlen(text), "network_allow = 10.0.%u.0/24\n", i);
                CHECK(config_parse("t.conf", text, strlen(text), &cfg) == -EINVAL, "at most %u network_allow", NETWORK_ALLOW_MAX);
        }
        config_done(&cfg);

        {
                const char yaml[] = "- hosts: all\n  vars:\n    nspawn_runner_network: none\n";
                CHECK(playbook_parse("p.yaml", yaml, strlen(yaml), &pb) == 0 && pb.network == NETWORK_NONE,
                      "nspawn_runner_network in a playbook");
                playbook_done(&pb);
        }
        {
                const char yaml[] = "- hosts: all\n  vars:\n    nspawn_runner_network: everything\n";
                CHECK(playbook_parse("p.yaml", yaml, strlen(yaml), &pb) == -EINVAL, "a bad nspawn_runner_network is an error");
                playbook_done(&pb);
        }
        {
                const char yaml[] = "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: bookworm\n";
                CHECK(playbook_parse("p.yaml", yaml, strlen(yaml), &pb) == 0 && pb.network == _NETWORK_MODE_INVALID,
                      "no nspawn_runner_network: the configured mode");
                playbook_done(&pb);
        }
        return tap_done();
}
