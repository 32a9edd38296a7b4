/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"
#include "playbook.h"
#include "tap.h"

static int parse(const char *text, Playbook *p) {
        return playbook_parse("test.yaml", text, strlen(text), p);
}

static void refused(const char *what, const char *text) {
        Playbook p = PLAYBOOK_INIT;
        CHECK(parse(text, &p) == -EINVAL, "refused: %s", what);
        playbook_done(&p);
}

int main(void) {
        Playbook p = PLAYBOOK_INIT;

        log_set_max_level(LOG_LEVEL_ERROR);
        CHECK(parse("- hosts: all\n"
                    "  vars:\n"
                    "    nspawn_runner_chroot_suite: bookworm\n"
                    "    nspawn_runner_maint_recreate: yes\n"
                    "    nspawn_runner_chroot_mirror: http://m.test/debian\n"
                    "    nspawn_runner_chroot_arch: arm64\n"
                    "    nspawn_runner_chroot_include: [build-essential, python3]\n"
                    "    other_var: '{{ anything }}'\n"
                    "  tasks:\n"
                    "    - apt: name=git\n"
                    "- hosts: all\n"
                    "  vars:\n"
                    "    nspawn_runner_chroot_suite: ignored-in-later-plays\n"
                    "- import_playbook: more.yaml\n",
                    &p) == 0,
              "a playbook with three plays parses");
        CHECK(p.n_plays == 3, "three plays counted");
        CHECK_STREQ(p.suite, "bookworm", "suite from the first play");
        CHECK(p.maint_recreate == 1, "maint_recreate yes");
        CHECK_STREQ(p.mirror, "http://m.test/debian", "mirror");
        CHECK_STREQ(p.arch, "arm64", "arch");
        CHECK_STREQ(p.include, "build-essential,python3", "include list joined");
        playbook_done(&p);

        CHECK(parse("- hosts: all\n  vars:\n    nspawn_runner_chroot_include: gcc make\n    nspawn_runner_maint_recreate: False\n",
                    &p) == 0 && p.include && strcmp(p.include, "gcc,make") == 0 && p.maint_recreate == 0,
              "include as a string, recreate False");
        playbook_done(&p);
        CHECK(parse("- hosts: all\n  vars:\n    nspawn_runner_job_memory_max: 3G\n    nspawn_runner_job_tasks_max: '4096'\n", &p) == 0 &&
                      p.limits_set == ((1U << JOB_LIMIT_MEMORY) | (1U << JOB_LIMIT_TASKS)) &&
                      p.limits.value[JOB_LIMIT_MEMORY] == 3ULL << 30 && p.limits.value[JOB_LIMIT_TASKS] == 4096,
              "an image's own job limits");
        playbook_done(&p);
        p = (Playbook) PLAYBOOK_INIT;
        CHECK(parse("- hosts: all\n  vars:\n    nspawn_runner_job_disk_max: 2G\n", &p) == 0 &&
                      p.limits_set == (1U << JOB_LIMIT_DISK) && p.limits.value[JOB_LIMIT_DISK] == 2ULL << 30,
              "an image's own disk cap");
        playbook_done(&p);
        p = (Playbook) PLAYBOOK_INIT;
        refused("a bad job limit", "- hosts: all\n  vars:\n    nspawn_runner_job_memory_max: lots\n");
        refused("a disk cap below 16M", "- hosts: all\n  vars:\n    nspawn_runner_job_disk_max: 1M\n");
        refused("a job limit that is a template", "- hosts: all\n  vars:\n    nspawn_runner_job_tasks_max: '{{ n }}'\n");
        CHECK(parse("- hosts: all\n  vars:\n    nspawn_runner_job_suppress_sync: false\n", &p) == 0 && p.job_suppress_sync == 0,
              "job_suppress_sync false");
        playbook_done(&p);
        CHECK(parse("- hosts: all\n  vars:\n    nspawn_runner_job_suppress_sync: maybe\n", &p) < 0,
              "job_suppress_sync maybe is refused");
        playbook_done(&p);
        CHECK(parse("- hosts: all\n  tasks: []\n", &p) == 0 && !p.suite && p.maint_recreate == -1 && p.job_suppress_sync == -1,
              "a play without vars leaves defaults");
        playbook_done(&p);

        refused("invalid YAML", "- hosts: [all\n");
        refused("bad indentation", "- hosts: all\n vars:\n  x: 1\n   y: 2\n");
        refused("empty file", "");
        refused("a mapping at the top", "hosts: all\nvars: {}\n");
        refused("a scalar at the top", "just text\n");
        refused("an empty list", "[]\n");
        refused("a play that is a scalar", "- hosts: all\n- oops\n");
        refused("vars as a list", "- hosts: all\n  vars: [a, b]\n");
        refused("suite as a list", "- vars:\n    nspawn_runner_chroot_suite: [bookworm]\n");
        refused("suite with a slash", "- vars:\n    nspawn_runner_chroot_suite: ../etc\n");
        refused("empty suite", "- vars:\n    nspawn_runner_chroot_suite: ''\n");
        refused("recreate not a boolean", "- vars:\n    nspawn_runner_maint_recreate: maybe\n");
        refused("recreate quoted", "- vars:\n    nspawn_runner_maint_recreate: 'yes'\n");
        refused("include with a mapping item", "- vars:\n    nspawn_runner_chroot_include: [gcc, {a: b}]\n");
        refused("include as a mapping", "- vars:\n    nspawn_runner_chroot_include: {a: b}\n");
        refused("unknown nspawn_runner variable", "- vars:\n    nspawn_runner_chroot_sutie: bookworm\n");
        refused("a template value", "- vars:\n    nspawn_runner_chroot_suite: '{{ suite }}'\n");
        refused("two documents", "- hosts: all\n---\n- hosts: all\n");
        refused("a NUL byte", "- vars:\n    nspawn_runner_chroot_suite: \"a\\0b\"\n");
        {
                Playbook q = PLAYBOOK_INIT;
                CHECK(playbook_parse("big.yaml", "", PLAYBOOK_SIZE_MAX + 1, &q) == -EFBIG, "refused: over 1 MiB");
        }
        return tap_done();
}
