/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "apt-sources.h"
#include "arch.h"
#include "argv.h"
#include "command.h"
#include "generation.h"
#include "image.h"
#include "log.h"
#include "rm-rf.h"
#include "storage.h"
#include "unit.h"
#include "util.h"

#ifndef NSPAWN_RUNNER_DATADIR
#define NSPAWN_RUNNER_DATADIR "/usr/share/nspawn-runner"
#endif

/* nspawn's own lock on a directory would only be left behind when it is killed: the image locks
 * already keep others out. */
static char *const nspawn_env[] = { (char *) "SYSTEMD_NSPAWN_LOCK=0", NULL };

int nspawn_in(const char *root, const char *arch, char *const *argv, bool interactive, int sigfd) {
        const char *personality = arch ? arch_personality(arch) : NULL;
        _cleanup_(argv_done) Argv args = ARGV_INIT;
        uint32_t id = 0;
        int r;

        /* A name of its own: nspawn would name it after the directory ("3"), the same for every
         * image's generation 3. getrandom() of 4 bytes does not fail once the pool is
         * initialized; should it, the pid is unique among running maintenance containers. */
        if (getrandom(&id, sizeof(id), 0) != (ssize_t) sizeof(id))
                id = (uint32_t) getpid();
        argv_add(&args, "systemd-nspawn");
        argv_add(&args, "--quiet");
        argv_add(&args, "--register=no");
        if (!unit_manager_available())
                argv_add(&args, "--keep-unit");
        argv_addf(&args, "--directory=%s", root);
        argv_addf(&args, "--machine=nspawn-runner-maint-%08x", id);
        argv_add(&args, "--link-journal=no");
        if (!interactive)
                argv_add(&args, "--console=pipe");
        if (personality)
                argv_addf(&args, "--personality=%s", personality);
        argv_add(&args, "--");
        r = argv_add_strv(&args, argv);
        if (r < 0)
                return log_error_errno(r, "Cannot build systemd-nspawn's command line: %m");
        return command_run(args.v, nspawn_env, 0, NULL, NULL, sigfd);
}

static char *images_dir(const Context *c, const char *name) {
        return strprintf("%s/" IMAGES_DIR "/%s", c->state_dir, name);
}

int generation_bootstrap(const Context *c, const char *name, unsigned gen, const ImageSettings *s, int sigfd) {
        _cleanup_free_ char *dir = images_dir(c, name), *path = image_generation_path(c, name, gen), *mirror = NULL;
        const char *arch = s->arch ?: arch_host();
        _cleanup_(argv_done) Argv argv = ARGV_INIT;
        int r;

        if (!dir || !path)
                return log_oom();
        r = arch_check_runnable(arch);
        if (r < 0)
                return r;
        if (s->mirror)
                mirror = strdup(s->mirror);
        else if (apt_host_mirror("/", &mirror) < 0)
                return log_error_errno(ENOENT, "Cannot find a Debian mirror in /etc/apt: pass --mirror URL.");
        if (!mirror)
                return log_oom();
        r = mkdir_p(dir, 0755);
        if (r >= 0)
                r = storage_make_image_dir(path);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", path);

        log_notice("%s: debootstrap %s (%s) from %s …", name, s->suite ?: name, arch, mirror);
        /* A chroot is rebuilt rather than repaired: fsync() buys nothing but time. */
        if (access("/usr/bin/eatmydata", X_OK) >= 0)
                argv_add(&argv, "eatmydata");
        argv_add(&argv, "debootstrap");
        argv_add(&argv, "--variant=minbase");
        argv_addf(&argv, "--arch=%s", arch);
        /* Ansible needs python3 in the chroot to run a playbook's modules. */
        argv_addf(&argv, "--include=" CHROOT_BASE_PACKAGES "%s%s%s", s->playbook ? ",python3" : "",
                  isempty(s->include) ? "" : ",", strempty(s->include));
        argv_add(&argv, s->suite ?: name);
        argv_add(&argv, path);
        r = argv_add(&argv, mirror);
        if (r < 0)
                return log_error_errno(r, "Cannot build debootstrap's command line: %m");
        /* debootstrap mounts /proc and friends into the target: a private namespace takes them down
         * with it, however it ends. */
        return command_run(argv.v, NULL, COMMAND_PRIVATE_MOUNTS, NULL, NULL, sigfd);
}

int generation_copy(const Context *c, const char *name, const char *from, unsigned gen, int sigfd) {
        _cleanup_free_ char *dir = images_dir(c, name), *path = image_generation_path(c, name, gen), *src = NULL,
                            *dst = NULL;
        int r;

        if (!dir || !path)
                return log_oom();
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", dir);
        if (path_is_btrfs_subvolume(from) && path_is_btrfs(dir)) {
                r = btrfs_subvolume_snapshot(from, path);
                if (r < 0)
                        return log_error_errno(r, "Cannot snapshot %s: %m", from);
                return 0;
        }
        r = storage_make_image_dir(path);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", path);
        src = path_join(from, ".");
        dst = path_join(path, ".");
        if (!src || !dst)
                return log_oom();
        log_info("%s: copying %s …", name, from);
        return command_run((char *const[]) { (char *) "cp", (char *) "-a", (char *) "--reflink=auto", src, dst, NULL },
                           NULL, 0, NULL, NULL, sigfd);
}

static char *dpkg_status(const char *root) {
        _cleanup_free_ char *path = path_join(root, "var/lib/dpkg/status");
        char *text = NULL;

        if (path)
                (void) read_full_file(path, 64U * 1024U * 1024U, &text, NULL);
        return text;
}

static int find_plugins(char **ret) {
        _cleanup_free_ char *local = NULL;

        /* In the source tree (build/…), the plugin is in ansible/ beside build/. */
        if (sibling_binary_path("../ansible/connection_plugins", &local) >= 0 && access(local, R_OK) >= 0) {
                *ret = TAKE_PTR(local);
                return 0;
        }
        *ret = strdup(NSPAWN_RUNNER_DATADIR "/ansible/connection_plugins");
        return *ret ? 0 : -ENOMEM;
}

/* Adds up "changed=N" of ansible-playbook's recap. */
static void count_changes(const char *line, void *userdata) {
        const char *p = strstr(line, " changed=");
        unsigned *changed = userdata;

        if (p && strstr(line, "ok="))
                *changed += (unsigned) strtoul(p + 9, NULL, 10);
}

int ansible_check_installed(const char *playbook) {
        if (access("/usr/bin/ansible-playbook", X_OK) < 0)
                return log_error_errno(ENOENT, "%s needs Ansible, which is not installed (apt-get install ansible).",
                                       playbook);
        return 0;
}

static int run_playbook(const char *root, const char *arch, const char *playbook, unsigned *changed, int sigfd) {
        _cleanup_free_ char *plugins = NULL, *inventory = NULL;
        const char *p = arch_personality(arch);
        _cleanup_(argv_done) Argv env = ARGV_INIT;
        int r;

        r = ansible_check_installed(playbook);
        if (r < 0)
                return r;
        r = find_plugins(&plugins);
        if (r < 0)
                return log_oom();
        inventory = strprintf("%s,", root);
        if (!inventory)
                return log_oom();
        argv_addf(&env, "ANSIBLE_CONNECTION_PLUGINS=%s", plugins);
        argv_add(&env, "ANSIBLE_RETRY_FILES_ENABLED=false");
        argv_add(&env, "ANSIBLE_PIPELINING=true");
        argv_add(&env, "ANSIBLE_REMOTE_TMP=/var/tmp/.ansible-nspawn-runner");
        r = argv_add(&env, "ANSIBLE_NOCOWS=1");
        if (p)
                r = argv_addf(&env, "NSPAWN_RUNNER_PERSONALITY=%s", p);
        if (r < 0)
                return log_error_errno(r, "Cannot build ansible-playbook's environment: %m");
        return command_run((char *const[]) { (char *) "ansible-playbook", (char *) "-i", inventory, (char *) "-c",
                                             (char *) "nspawn_runner", (char *) "-e",
                                             (char *) "ansible_python_interpreter=/usr/bin/python3",
                                             (char *) playbook, NULL },
                           env.v, 0, count_changes, changed, sigfd);
}

int generation_update(const Context *c, const char *name, unsigned gen, const ImageSettings *s, bool *ret_changed,
                      int sigfd) {
        _cleanup_free_ char *path = image_generation_path(c, name, gen), *before = NULL, *after = NULL,
                            *python = NULL, *ansible_tmp = NULL;
        const char *arch = NULL;
        unsigned changed = 0;
        int r;

        if (!path || !(python = path_join(path, "usr/bin/python3")) ||
            !(ansible_tmp = path_join(path, "var/tmp/.ansible-nspawn-runner")))
                return log_oom();
        r = arch_of_chroot(path, &arch);
        if (r < 0)
                return log_error_errno(r, "Cannot tell the architecture of %s: %m", path);
        r = arch_check_runnable(arch);
        if (r < 0)
                return r;
        before = dpkg_status(path);

        if (s->playbook && access(python, X_OK) < 0) {
                log_notice("%s: installing python3 for Ansible …", name);
                r = nspawn_in(path, arch,
                              (char *const[]) { (char *) "/bin/sh", (char *) "-c",
                                                (char *) "apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -q -y install python3",
                                                NULL },
                              false, sigfd);
                if (r < 0)
                        return r;
        }
        if (s->playbook) {
                log_notice("%s: running playbook %s …", name, s->playbook);
                r = run_playbook(path, arch, s->playbook, &changed, sigfd);
                (void) rm_rf(ansible_tmp);
        } else {
                log_notice("%s: apt-get update && apt-get dist-upgrade …", name);
                r = nspawn_in(path, arch,
                              (char *const[]) { (char *) "/bin/sh", (char *) "-c",
                                                (char *) "apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -q -y "
                                                         "-o Dpkg::Options::=--force-confold dist-upgrade && apt-get clean",
                                                NULL },
                              false, sigfd);
        }
        if (r < 0)
                return r;

        after = dpkg_status(path);
        *ret_changed = changed > 0 || !streq_ptr(before, after);
        return 0;
}

int generation_commit(const Context *c, const char *name, unsigned gen, const ImageSettings *s) {
        _cleanup_free_ char *path = image_generation_path(c, name, gen);
        ImageInfo info = { .suite = (char *) (s->suite ?: name), .refreshed = time(NULL) };
        const char *arch = NULL;
        int r;

        if (!path)
                return log_oom();
        if (arch_of_chroot(path, &arch) >= 0)
                info.arch = (char *) arch;
        r = image_info_save(c, name, gen, &info);
        if (r >= 0)
                r = image_switch(c, name, gen);
        if (r == -EBUSY)
                return log_error_errno(r, "%s is a plain directory that jobs run on: it can be replaced by generations "
                                          "only when they have ended.", name);
        if (r < 0)
                return log_error_errno(r, "Cannot make generation %u of %s current: %m", gen, name);
        return 0;
}

void generation_discard(const Context *c, const char *name, unsigned gen) {
        _cleanup_free_ char *path = image_generation_path(c, name, gen), *info = NULL, *dir = images_dir(c, name);

        if (!path || !dir || !(info = strprintf("%s.info", path)))
                return;
        (void) rm_rf(path);
        (void) unlink(info);
        if (rmdir(dir) >= 0) /* when this was the image's first */
                (void) rmdir_parent(dir);
}

int playbook_find(const Context *c, const char *name, char **ret_path) {
        const char *dirs[] = { c->config_dir, c->state_dir };
        const char *exts[] = { "yaml", "yml" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                for (size_t k = 0; k < ELEMENTSOF(exts); k++) {
                        _cleanup_free_ char *p = strprintf("%s/%s.%s", dirs[i], name, exts[k]);
                        if (!p)
                                return -ENOMEM;
                        if (access(p, F_OK) >= 0) {
                                *ret_path = TAKE_PTR(p);
                                return 1;
                        }
                }
        *ret_path = NULL;
        return 0;
}
