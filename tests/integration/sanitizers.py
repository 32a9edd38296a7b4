# SPDX-License-Identifier: GPL-2.0-or-later
"""The sanitizer pass: scenarios of the other files again with the ASan/UBSan build (built when missing),
each failing on the first sanitizer report of any of its calls."""

from __future__ import annotations

from tap import require

from bad_input import BAD_INPUTS, bad_input, t_prepare_twice
from gc_caches import t_gc_generations, t_gc_threshold
from kills import t_kill_prepare, t_term_prepare
from chroot_commands import t_chroot_list, t_chroot_login
from lifecycle import lifecycle_run
from maintenance import t_maint_refresh, t_malformed_playbooks
from nspawn_run import (t_nspawn_run_bad_input, t_nspawn_run_exit_status, t_nspawn_run_identity,
                        t_nspawn_run_lockdown, t_nspawn_run_sigint_pipe, t_nspawn_run_sigterm_cleanup,
                        t_nspawn_run_terminal)
from protocol import t_cancel, t_concurrent, t_failure, t_gitlab_config, t_success, t_toml

TEST_COMPLETE = "asan: the sanitized build builds completely"
TEST_CONFIG = "asan: gitlab-config and toml"


def complete(s):
    s.asan()
    require(s.asan_incomplete is None, s.asan_incomplete or "")


def config_and_toml(s, ex):
    t_gitlab_config(s, ex)
    t_toml(s, ex)


def tests(s):
    def job(name, fn, *args):
        return f"asan: {name}", lambda: fn(s, s.asan(), *args)

    def lifecycle(name, fn, *args):
        return f"asan: lifecycle: {name}", lambda: lifecycle_run(s, fn, s, s.asan(), *args)

    def nspawn_run(name, fn):
        return f"asan: nspawn-run: {name}", lambda: fn(s, asan=True)

    return [
        (TEST_COMPLETE, lambda: complete(s)),
        job("success through all stages", t_success, "overlay"),
        job("failing script exit 42", t_failure, "overlay"),
        job("8 concurrent jobs", t_concurrent, "overlay"),
        job("SIGTERM to run cancels the stage", t_cancel, "overlay"),
        job("kill -9 of prepare after 30 ms", t_kill_prepare, "overlay", 0.03),
        job("SIGTERM to prepare while the machine starts", t_term_prepare, "overlay", 0.03),
        (TEST_CONFIG, lambda: config_and_toml(s, s.asan())),
    ] + [job(f"bad input: {name}", bad_input, "overlay", args, env) for name, args, env in BAD_INPUTS] + [
        job("prepare twice", t_prepare_twice, "overlay"),
        nspawn_run("identity and home", t_nspawn_run_identity),
        nspawn_run("exit status", t_nspawn_run_exit_status),
        nspawn_run("refused input", t_nspawn_run_bad_input),
        nspawn_run("SIGINT", t_nspawn_run_sigint_pipe),
        nspawn_run("a terminal session", t_nspawn_run_terminal),
        nspawn_run("lock-down", t_nspawn_run_lockdown),
        nspawn_run("SIGTERM cleanup", t_nspawn_run_sigterm_cleanup),
        lifecycle("malformed playbooks", t_malformed_playbooks),
        lifecycle("btrfs: playbook refresh, then unchanged", t_maint_refresh, "btrfs"),
        lifecycle("btrfs: chroot-login", t_chroot_login, "btrfs"),
        lifecycle("chroot-list", t_chroot_list),
        lifecycle("gc --threshold on a small file system", t_gc_threshold),
        lifecycle("gc of unused generations", t_gc_generations),
    ]
