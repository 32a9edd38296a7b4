/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Generations on a real temporary state dir: numbering, atomic switch, info, collection. */
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "image.h"
#include "log.h"
#include "rm-rf.h"
#include "tap.h"
#include "util.h"

static void mkdirs(const char *state, const char *sub) {
        char *p = strprintf("%s/%s", state, sub);
        mkdir_p(p, 0755);
        free(p);
}

/* Processes taking and dropping an image's locks at once, as concurrent prepares and a refresh do:
 * every lock is had (the last holder removes the file and the directory, the next one makes them
 * again), and nothing is left afterwards. Returns how many children saw an error. */
static int lock_storm(const Context *c) {
        enum { CHILDREN = 6, ROUNDS = 300 };
        int failed = 0;

        for (int i = 0; i < CHILDREN; i++) {
                pid_t pid = fork();
                if (pid < 0)
                        return CHILDREN;
                if (pid == 0) {
                        for (int k = 0; k < ROUNDS; k++) {
                                ImageLockHandle h = IMAGE_LOCK_HANDLE_INIT;
                                int op = (i == 0 && k % 3 == 0) ? LOCK_EX : LOCK_SH;
                                if (image_lock(c, "storm", IMAGE_LOCK_GENERATIONS, op, &h) < 0)
                                        _exit(1);
                                image_unlock(&h);
                        }
                        _exit(0);
                }
        }
        for (int i = 0; i < CHILDREN; i++) {
                int status;
                if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        failed++;
        }
        return failed;
}

int main(void) {
        char tmpl[] = "/tmp/test-image-XXXXXX";
        const char *state = mkdtemp(tmpl);
        Context c = { .state_dir = state };
        ImageInfo info = { .suite = (char *) "bookworm", .arch = (char *) "amd64", .refreshed = 1700000000 }, got = {};
        unsigned gen = 99;
        CollectStats freed = {};
        char *path, *resolved = NULL;
        const char *arch = NULL;

        log_set_max_level(LOG_LEVEL_ERROR);
        CHECK(state != NULL, "temporary state dir");
        CHECK(image_current_generation(&c, "img", &gen) == -ENOENT, "no image: -ENOENT");
        CHECK(image_next_generation(&c, "img", &gen) == 0 && gen == 1, "first generation is 1");

        mkdirs(state, ".images/img/1/usr/bin");
        CHECK(image_switch(&c, "img", 1) == 0, "switch to generation 1");
        CHECK(image_current_generation(&c, "img", &gen) == 0 && gen == 1, "current is 1");
        CHECK(image_resolve(&c, "img", &resolved) == 0 && strstr(resolved, "/.images/img/1"), "resolves to generation 1");
        free(resolved);
        CHECK(image_info_save(&c, "img", 1, &info) == 0 && image_info_load(&c, "img", 1, &got) == 0 &&
                      strcmp(got.suite, "bookworm") == 0 && got.refreshed == 1700000000,
              "info round-trips");
        image_info_done(&got);

        mkdirs(state, ".images/img/2");
        mkdirs(state, ".images/img/7.partial");
        CHECK(image_next_generation(&c, "img", &gen) == 0 && gen == 8, "next counts leftovers too (8)");
        CHECK(image_switch(&c, "img", 2) == 0 && image_current_generation(&c, "img", &gen) == 0 && gen == 2,
              "switch to generation 2");

        /* A machine still runs on generation 1. */
        path = image_generation_path(&c, "img", 1);
        mkdirs(state, ".machines/5");
        {
                char *st = strprintf("%s/.machines/5/state", state), *text = strprintf("image=img\nimage_path=%s\n", path);
                write_file_atomic(st, text, 0600);
                free(st);
                free(text);
        }
        CHECK(image_count_users(&c, path) == 1, "one machine uses generation 1");
        CHECK(image_collect_generations(&c, "img", &freed) == 0, "collect");
        CHECK(access(path, F_OK) == 0, "a used generation is kept");
        {
                char *leftover = strprintf("%s/.images/img/7.partial", state);
                CHECK(access(leftover, F_OK) < 0, "a leftover is removed");
                free(leftover);
        }
        {
                char *m = strprintf("%s/.machines/5", state);
                rm_rf(m);
                free(m);
        }
        CHECK(image_collect_generations(&c, "img", &freed) == 0 && access(path, F_OK) < 0, "an unused old generation goes");
        {
                char *info1 = strprintf("%s.info", path);
                CHECK(access(info1, F_OK) < 0, "its info goes with it");
                free(info1);
        }
        free(path);
        path = image_generation_path(&c, "img", 2);
        CHECK(access(path, F_OK) == 0, "the current generation stays");
        free(path);

        /* A plain directory is generation 0 until something replaces it. */
        mkdirs(state, "plain");
        CHECK(image_current_generation(&c, "plain", &gen) == 0 && gen == 0, "a plain directory is generation 0");
        mkdirs(state, ".images/plain/1");
        CHECK(image_switch(&c, "plain", 1) == 0 && image_current_generation(&c, "plain", &gen) == 0 && gen == 1,
              "a plain directory is replaced by a generation");

        {
                char **names = NULL;
                CHECK(image_list_names(&c, &names) == 0 && names[0] && strcmp(names[0], "img") == 0 && names[1] &&
                              strcmp(names[1], "plain") == 0 && !names[2],
                      "images listed, hidden dirs not");
                strv_freep(&names);
        }

        CHECK(arch_of_chroot("/", &arch) == 0 && strcmp(arch, arch_host()) == 0, "the host's arch is read from its bash");
        CHECK(arch_check_runnable(arch_host()) == 0, "the host's arch runs");
        CHECK(arch_check_runnable("no-such-arch") < 0, "an unknown arch is refused");
        {
                int failed = lock_storm(&c);
                char *locks = strprintf("%s/.locks", state);
                CHECK(failed == 0, "6 processes locking one image 300 times each: every lock had (%d failed)", failed);
                CHECK(locks && access(locks, F_OK) < 0, "no lock file or directory left after them");
                free(locks);
        }
        CHECK(rm_rf(state) == 0, "cleanup");
        return tap_done();
}
