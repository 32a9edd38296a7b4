/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "gc.h"
#include "generation.h"
#include "image-name.h"
#include "image.h"
#include "log.h"
#include "maintenance.h"
#include "playbook.h"
#include "signal-util.h"
#include "time-util.h"
#include "util.h"

typedef enum MaintResult {
        MAINT_CREATED,
        MAINT_UPDATED,
        MAINT_UNCHANGED,
        MAINT_FAILED,
        _MAINT_RESULT_MAX,
        _MAINT_RESULT_INVALID = -EINVAL,
} MaintResult;

static const char *const result_table[_MAINT_RESULT_MAX] = {
        [MAINT_CREATED] = "created",
        [MAINT_UPDATED] = "updated",
        [MAINT_UNCHANGED] = "unchanged",
        [MAINT_FAILED] = "FAILED",
};

/* Builds generation gen: from scratch when fresh, else from the current one. */
static int build(const Context *c, const char *name, unsigned gen, bool fresh, const ImageSettings *s, bool *changed,
                 int sigfd) {
        _cleanup_free_ char *current = NULL;
        int r;

        *changed = true;
        if (fresh) {
                r = generation_bootstrap(c, name, gen, s, sigfd);
                if (r >= 0 && s->playbook)
                        r = generation_update(c, name, gen, s, changed, sigfd);
                *changed = true;
                return r;
        }
        r = image_resolve(c, name, &current);
        if (r >= 0)
                r = generation_copy(c, name, current, gen, sigfd);
        if (r >= 0)
                r = generation_update(c, name, gen, s, changed, sigfd);
        return r;
}

/* ci: the image as nspawn-runner.conf lists it (its suite is what a new image is made of), or NULL. */
static MaintResult maintain_one(const Context *c, const char *name, const ConfigImage *ci, int sigfd, int *ret_error) {
        _cleanup_(playbook_done) Playbook pb = PLAYBOOK_INIT;
        _cleanup_free_ char *playbook = NULL, *current = NULL;
        _cleanup_(image_unlock) ImageLockHandle lock = IMAGE_LOCK_HANDLE_INIT;
        ImageInfo info = {};
        ImageSettings s;
        unsigned cur = 0, gen;
        bool exists, fresh, changed = false;
        CollectStats collected = {};
        int r;

        r = image_lock(c, name, IMAGE_LOCK_MAINTENANCE, LOCK_EX | LOCK_NB, &lock);
        if (r == -EBUSY)
                log_error("%s is being changed by another command.", name);
        if (r >= 0) /* what a killed maintenance left */
                (void) image_collect_generations_locked(c, name, &collected);
        if (r >= 0 && (r = playbook_find(c, name, &playbook)) > 0)
                r = playbook_load(playbook, &pb);
        if (r >= 0 && playbook)
                r = generation_ansible_check(playbook);
        if (r >= 0)
                r = image_next_generation(c, name, &gen);
        if (r < 0) {
                *ret_error = r;
                return MAINT_FAILED;
        }
        exists = image_current_generation(c, name, &cur) >= 0;
        if (cur > 0)
                (void) image_info_load(c, name, cur, &info);
        else if (exists && image_resolve(c, name, &current) >= 0)
                (void) image_codename(current, &info.suite); /* a plain directory has no info */
        fresh = !exists || pb.maint_recreate == 1;
        s = (ImageSettings) {
                .suite = fresh && ci && ci->suite ? ci->suite : pb.suite ?: info.suite ?: name,
                .mirror = pb.mirror,
                .arch = pb.arch,
                .include = pb.include,
                .playbook = playbook,
        };

        r = build(c, name, gen, fresh, &s, &changed, sigfd);
        if (r >= 0 && changed)
                r = generation_commit(c, name, gen, &s);
        if (r < 0 || !changed)
                generation_discard(c, name, gen);
        image_info_done(&info);
        /* The generation just replaced goes now if no job runs on it, else with its last job. */
        (void) image_collect_generations_locked(c, name, &collected);
        if (r < 0) {
                *ret_error = r;
                return MAINT_FAILED;
        }
        return !exists ? MAINT_CREATED : changed ? MAINT_UPDATED : MAINT_UNCHANGED;
}

/* Adds name to the NULL-terminated *names of *n unless it is there already. */
static int names_add(char ***names, size_t *n, const char *name) {
        char **grown;

        for (size_t k = 0; k < *n; k++)
                if (streq((*names)[k], name))
                        return 0;
        grown = realloc(*names, (*n + 2) * sizeof(char *));
        if (!grown)
                return -ENOMEM;
        *names = grown;
        if (!(grown[*n] = strdup(name)))
                return -ENOMEM;
        grown[++*n] = NULL;
        return 0;
}

int maintenance_names_wanted(const Context *c, const Config *cfg, char ***ret) {
        const char *dirs[] = { c->config_dir, c->state_dir };
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0;
        int r;

        r = image_list_names(c, &names);
        if (r < 0)
                return r;
        while (names[n])
                n++;
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_closedir_ DIR *d = opendir(dirs[i]);
                struct dirent *de;

                if (!d)
                        continue;
                while ((de = readdir(d))) {
                        size_t l = strcspn(de->d_name, ".");
                        const char *ext = de->d_name + l;
                        _cleanup_free_ char *name = strndup(de->d_name, l);

                        if (!name || (!streq(ext, ".yaml") && !streq(ext, ".yml")) ||
                            image_name_check(name, l) != IMAGE_NAME_OK)
                                continue;
                        if (names_add(&names, &n, name) < 0)
                                return -ENOMEM;
                }
        }
        for (size_t i = 0; i < cfg->n_images; i++)
                if (names_add(&names, &n, cfg->images[i].name) < 0)
                        return -ENOMEM;
        qsort(names, n, sizeof(char *), strcmp_ptr);
        *ret = TAKE_PTR(names);
        return 0;
}

int maintenance_run(const Context *c, const char *name) {
        _cleanup_(config_done) Config cfg;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int sigfd = -EBADF;
        unsigned counts[_MAINT_RESULT_MAX] = {}, total = 0;
        uint64_t t0 = now_monotonic_usec();
        GcStats gc = {};
        int r;

        config_load_dir(c->config_dir, &cfg);
        if (name) {
                _cleanup_free_ char *playbook = NULL;
                unsigned gen;
                if (image_name_check(name, strlen(name)) != IMAGE_NAME_OK)
                        return log_error_errno(EINVAL, "Invalid image name '%.80s'.", name);
                if (image_current_generation(c, name, &gen) < 0 && playbook_find(c, name, &playbook) <= 0 &&
                    !config_find_image(&cfg, name))
                        return log_error_errno(ENOENT, "There is no image %s, no playbook %s.yaml and no image = %s in %s.",
                                               name, name, name, CONFIG_FILE_NAME);
                names = calloc(2, sizeof(char *));
                if (!names || !(names[0] = strdup(name)))
                        return log_oom();
        } else if ((r = maintenance_names_wanted(c, &cfg, &names)) < 0)
                return log_error_errno(r, "Cannot list images: %m");
        while (names[total])
                total++;
        if (total == 0) {
                log_notice("maintenance: no images, no playbooks and no configured images in %s or %s.", c->config_dir,
                           c->state_dir);
                return 0;
        }
        sigfd = cancel_signals_block();
        if (sigfd < 0)
                return log_error_errno(sigfd, "Cannot block signals: %m");

        for (unsigned i = 0; i < total; i++) {
                uint64_t t = now_monotonic_usec();
                MaintResult res;
                int error = 0;

                printf("[%u/%u] %s: maintenance …\n", i + 1, total, names[i]);
                fflush(stdout);
                res = maintain_one(c, names[i], config_find_image(&cfg, names[i]), sigfd, &error);
                counts[res]++;
                printf("[%u/%u] %s: %s in %lld s\n", i + 1, total, names[i], result_table[res],
                       (long long) ((now_monotonic_usec() - t) / USEC_PER_SEC));
                fflush(stdout);
                if (error == -EINTR)
                        break;
        }
        (void) gc_run(c, gc_threshold_configured(c), GC_FULL, &gc);
        printf("maintenance: %u created, %u updated, %u unchanged, %u failed in %lld s\n", counts[MAINT_CREATED],
               counts[MAINT_UPDATED], counts[MAINT_UNCHANGED], counts[MAINT_FAILED],
               (long long) ((now_monotonic_usec() - t0) / USEC_PER_SEC));
        return counts[MAINT_FAILED] > 0 || counts[MAINT_CREATED] + counts[MAINT_UPDATED] + counts[MAINT_UNCHANGED] < total
                       ? -EIO
                       : 0;
}
