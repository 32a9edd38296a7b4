/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ssh: the configured keys may log in (as root: the file is root's alone), and sshd's host keys live
 * on the data disk so that the box keeps its identity across reboots and new SD cards.
 * /etc/ssh/sshd_config.d/nspawn-runner.conf on the read-only root includes what is written here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appliance.h"
#include "log.h"
#include "util.h"

#define HOST_KEY_NAME "ssh_host_ed25519_key"

static int authorized_keys(const Config *cfg, const char *run_dir, Problems *p) {
        _cleanup_free_ char *dir = path_join(run_dir, "ssh"), *path = NULL,
                            *text = lines_join(cfg->ssh_keys, cfg->n_ssh_keys);
        int r;

        if (!dir || !text || !(path = path_join(dir, "authorized_keys")))
                return log_oom();
        r = mkdir_p(dir, 0755);
        if (r >= 0)
                r = write_file_atomic(path, text, 0600);
        if (r < 0) {
                problem_add(p, "Cannot write %s: %s", path, strerror(-r));
                return r;
        }
        log_notice("ssh: %zu authorized key(s) in %s.", cfg->n_ssh_keys, path);
        return 0;
}

static int host_key(const char *run_dir, const char *key_dir, Problems *p) {
        _cleanup_free_ char *key = path_join(key_dir, HOST_KEY_NAME), *pub = NULL, *conf_dir = NULL, *conf = NULL,
                            *text = NULL, *last = NULL;
        const char *made = "kept";
        int r;

        if (!key || !(pub = strprintf("%s.pub", key)) || !(conf_dir = path_join(run_dir, "sshd_config.d")) ||
            !(conf = path_join(conf_dir, "host-keys.conf")))
                return log_oom();
        if (access(key, F_OK) < 0) {
                char *argv[] = { (char *) "ssh-keygen", (char *) "-q", (char *) "-t", (char *) "ed25519", (char *) "-N",
                                 (char *) "", (char *) "-C", (char *) "", (char *) "-f", key, NULL };

                r = mkdir_p(key_dir, 0700);
                if (r < 0) {
                        problem_add(p, "Cannot create %s: %s", key_dir, strerror(-r));
                        return r;
                }
                (void) unlink(pub); /* a lone .pub would make ssh-keygen ask whether to overwrite it */
                r = appliance_spawn(argv, NULL, NULL, &last);
                if (r == -ENOENT) {
                        problem_add(p, "ssh-keygen is not installed: sshd has no host key");
                        return r;
                }
                if (r != 0) {
                        problem_add(p, "ssh-keygen could not make %s: %s", key, r < 0 ? strerror(-r) : last ?: "");
                        return -EIO;
                }
                made = "made";
        }
        text = strprintf("# Written by nspawn-runner appliance-setup at every boot.\nHostKey %s\n", key);
        r = text ? mkdir_p(conf_dir, 0755) : -ENOMEM;
        if (r >= 0)
                r = write_file_atomic(conf, text, 0644);
        if (r < 0) {
                problem_add(p, "Cannot write %s: %s", conf, strerror(-r));
                return r;
        }
        log_notice("ssh: host key %s %s (%s).", key, made, conf);
        return 0;
}

void appliance_ssh(const Config *cfg, const char *run_dir, const char *key_dir, Problems *p) {
        (void) authorized_keys(cfg, run_dir, p);
        (void) host_key(run_dir, key_dir, p);
}
