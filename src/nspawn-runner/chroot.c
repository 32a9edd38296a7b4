/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "chroot.h"
#include "config.h"
#include "fs-usage.h"
#include "generation.h"
#include "image-name.h"
#include "image.h"
#include "json-util.h"
#include "kv.h"
#include "log.h"
#include "maintenance.h"
#include "network.h"
#include "playbook.h"
#include "signal-util.h"
#include "time-util.h"
#include "util.h"

static int lock_maintenance(const Context *c, const char *name, ImageLockHandle *ret) {
        int r = mkdir_p(c->state_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", c->state_dir);
        r = image_lock(c, name, IMAGE_LOCK_MAINTENANCE, LOCK_EX | LOCK_NB, ret);
        if (r == -EBUSY)
                return log_error_errno(r, "Image %s is being created or changed by another command.", name);
        if (r < 0)
                return log_error_errno(r, "Cannot lock image %s: %m", name);
        return 0;
}

int chroot_create(const Context *c, const char *name, const ChrootCreateOptions *o) {
        _cleanup_(playbook_done) Playbook pb = PLAYBOOK_INIT;
        _cleanup_free_ char *target = NULL, *playbook = NULL, *include = NULL;
        _cleanup_(image_unlock) ImageLockHandle lock = IMAGE_LOCK_HANDLE_INIT;
        _cleanup_close_ int sigfd = -EBADF;
        ImageSettings s = {};
        uint64_t t0 = now_monotonic_usec();
        CollectStats collected = {};
        unsigned gen;
        int r;

        r = image_name_check_log(name);
        if (r < 0)
                return r;
        if (o->include && strpbrk(o->include, " \t\n"))
                return log_error_errno(EINVAL, "--include takes packages separated by commas, without spaces.");
        if (access("/usr/sbin/debootstrap", X_OK) < 0)
                return log_error_errno(ENOENT, "debootstrap is not installed (apt-get install debootstrap).");
        target = context_image_dir(c, name);
        if (!target)
                return log_oom();
        if (access(target, F_OK) >= 0)
                return log_error_errno(EEXIST, "Image %s already exists in %s.", name, c->state_dir);
        r = playbook_find(c, name, &playbook);
        if (r > 0)
                r = playbook_load(playbook, &pb);
        if (r < 0)
                return r;

        include = strprintf("%s%s%s", pb.include ?: "", pb.include && o->include ? "," : "", o->include ?: "");
        if (!include)
                return log_oom();
        s = (ImageSettings) {
                .suite = o->suite ?: pb.suite ?: name,
                .mirror = o->mirror ?: pb.mirror,
                .arch = o->arch ?: pb.arch,
                .include = include,
                .playbook = playbook,
        };

        /* What would fail only after a minute of debootstrap fails now. */
        r = arch_check_runnable(s.arch ?: arch_host());
        if (r >= 0 && playbook)
                r = generation_ansible_check(playbook);
        if (r < 0)
                return r;
        r = lock_maintenance(c, name, &lock);
        if (r < 0)
                return r;
        sigfd = cancel_signals_block();
        if (sigfd < 0)
                return log_error_errno(sigfd, "Cannot block signals: %m");
        /* What a killed create of this image left. */
        (void) image_collect_generations_locked(c, name, &collected);
        r = image_next_generation(c, name, &gen);
        if (r < 0)
                return log_error_errno(r, "Cannot read the generations of %s: %m", name);

        r = generation_bootstrap(c, name, gen, &s, sigfd);
        if (r >= 0 && playbook) {
                bool changed;
                r = generation_update(c, name, gen, &s, &changed, sigfd);
        }
        if (r >= 0)
                r = generation_commit(c, name, gen, &s);
        if (r < 0) {
                generation_discard(c, name, gen);
                return log_error_errno(r, "Creating image %s failed%s; nothing was left behind.", name,
                                       r == -EINTR ? " (interrupted)" : "");
        }

        log_notice("Created image %s (suite %s%s%s) in %.0f s.", name, s.suite, playbook ? ", playbook " : "",
                   playbook ?: "", (double) (now_monotonic_usec() - t0) / USEC_PER_SEC);
        return 0;
}

int chroot_login(const Context *c, const char *name) {
        _cleanup_free_ char *current = NULL, *path = NULL;
        _cleanup_(image_unlock) ImageLockHandle lock = IMAGE_LOCK_HANDLE_INIT;
        const char *arch = NULL;
        unsigned gen;
        bool tty;
        int r;

        r = image_name_check_log(name);
        if (r < 0)
                return r;
        r = image_resolve(c, name, &current);
        if (r < 0)
                return r;
        r = lock_maintenance(c, name, &lock);
        if (r < 0)
                return r;
        r = image_next_generation(c, name, &gen);
        if (r < 0)
                return log_error_errno(r, "Cannot read the generations of %s: %m", name);
        /* Edits go to a new generation, so that running jobs keep what they started on. */
        r = generation_copy(c, name, current, gen, -1);
        if (r < 0) {
                generation_discard(c, name, gen);
                return r;
        }
        path = image_generation_path(c, name, gen);
        if (!path)
                return log_oom();
        (void) arch_of_chroot(path, &arch);

        /* Without a terminal, nspawn would give the shell a console no one types into: the shell
         * reads its commands from our stdin instead, and its exit status decides as well. */
        tty = isatty(STDIN_FILENO);
        if (tty)
                log_notice("Editing %s as generation %u. Exit the shell with status 0 to keep the changes, non-zero to drop them.",
                           name, gen);
        else
                log_notice("Editing %s as generation %u with the commands on standard input (not a terminal): exit "
                           "status 0 keeps the changes, non-zero drops them.", name, gen);
        r = generation_nspawn_run(path, arch, (char *const[]) { (char *) "/bin/bash", (char *) "--login", NULL }, tty,
                                  -1);
        if (r >= 0) {
                ImageSettings s = { .suite = name };
                ImageInfo old = {};
                unsigned cur = 0;
                if (image_current_generation(c, name, &cur) >= 0 && cur > 0 && image_info_load(c, name, cur, &old) >= 0 &&
                    old.suite)
                        s.suite = old.suite;
                r = generation_commit(c, name, gen, &s);
                image_info_done(&old);
        }
        if (r < 0) {
                generation_discard(c, name, gen);
                return log_error_errno(r, "Changes to %s dropped.", name);
        }
        log_notice("Saved the changes as generation %u of %s; running jobs keep the one they started on.", gen, name);
        return 0;
}

typedef struct ImageRow {
        char *name, *suite;
        const char *arch;
        uint64_t size;
        unsigned generation;
        int jobs;
        time_t refreshed;
        NetworkMode network;
        bool missing; /* a playbook or the configuration defines it, chroot-maintenance would create it */
} ImageRow;

static void row_fill(const Context *c, const char *name, NetworkMode network, ImageRow *row) {
        _cleanup_free_ char *path = context_image_dir(c, name);
        _cleanup_(playbook_job_settings_done) JobSettings js = {};
        ImageInfo info = {};
        struct stat st;

        row->name = strdup(name);
        row->network = playbook_job_settings(c, name, &js) >= 0 ? js.network : network;
        row->missing = path && (stat(path, &st) < 0 || !S_ISDIR(st.st_mode));
        free(path);
        path = NULL;
        if (row->missing || image_resolve(c, name, &path) < 0)
                return;
        (void) image_current_generation(c, name, &row->generation);
        if (row->generation > 0 && image_info_load(c, name, row->generation, &info) >= 0) {
                row->suite = TAKE_PTR(info.suite);
                row->refreshed = info.refreshed;
        }
        if (!row->suite)
                (void) image_codename(path, &row->suite);
        if (!row->refreshed && stat(path, &st) >= 0)
                row->refreshed = st.st_mtime;
        (void) arch_of_chroot(path, &row->arch);
        (void) fs_usage(path, &row->size);
        row->jobs = image_count_users(c, path);
        image_info_done(&info);
}

static void format_time(time_t t, char buf[32]) {
        struct tm tm;
        if (t <= 0 || !gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, 32, "-");
}

static void print_rows(const ImageRow *rows, size_t n, bool json) {
        if (!json)
                printf("%-20s %-12s %-8s %9s %4s %4s %-8s  %s\n", "NAME", "SUITE", "ARCH", "SIZE", "GEN", "JOBS", "NETWORK",
                       "REFRESHED");
        else
                printf("[");
        for (size_t i = 0; i < n; i++) {
                const ImageRow *r = &rows[i];
                char when[32];

                if (r->missing)
                        snprintf(when, sizeof(when), "missing");
                else
                        format_time(r->refreshed, when);
                if (!json) {
                        printf("%-20s %-12s %-8s %7.1f M %4u %4d %-8s  %s\n", r->name, r->suite ?: "-", r->arch ?: "-",
                               (double) r->size / (1 << 20), r->generation, r->jobs, network_mode_to_string(r->network), when);
                        continue;
                }
                printf("%s\n  {\"name\": ", i ? "," : "");
                json_write_string(stdout, r->name);
                printf(", \"suite\": ");
                json_write_string(stdout, r->suite ?: "");
                printf(", \"arch\": ");
                json_write_string(stdout, r->arch ?: "");
                printf(", \"size_bytes\": %llu, \"generation\": %u, \"jobs\": %d, \"network\": \"%s\", \"state\": \"%s\", \"refreshed\": ",
                       (unsigned long long) r->size, r->generation, r->jobs, network_mode_to_string(r->network),
                       r->missing ? "missing" : "ready");
                json_write_string(stdout, r->missing ? "-" : when);
                printf("}");
        }
        if (json)
                printf("%s]\n", n ? "\n" : "");
}

int chroot_list(const Context *c, bool json) {
        _cleanup_(config_done) Config cfg;
        _cleanup_strv_free_ char **names = NULL;
        ImageRow *rows;
        size_t n = 0;
        int r;

        config_load_dir(c->config_dir, &cfg);
        r = maintenance_names_wanted(c, &cfg, &names);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", c->state_dir);
        while (names[n])
                n++;
        rows = calloc(n ? n : 1, sizeof(ImageRow));
        if (!rows)
                return log_oom();
        for (size_t i = 0; i < n; i++)
                row_fill(c, names[i], cfg.network, &rows[i]);
        print_rows(rows, n, json);
        for (size_t i = 0; i < n; i++) {
                free(rows[i].name);
                free(rows[i].suite);
        }
        free(rows);
        return 0;
}
