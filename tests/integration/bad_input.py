# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad input: every mistake a user (or a job) can make gets one clear line and leaves the host as it
was; chroot-create's failures leave nothing."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

from tap import Fail, require

from host import tree_snapshot
from jobs import BUILD_FAILURE, Call, IMAGE, Job, end_job, expect_system_failure, short, stderr_lines
from suite import bind


def bad_input(s, ex, backend, args, env=None, user_mistake=False):
    """A call with bad input: exit 2, one line on stderr, and the host as it was. A mistake of the
    job's own (its image:) is a build failure instead, whose line names the images there are: gitlab-runner
    retries a prepare that fails otherwise (3 times, 3 s apart) and reports a runner system failure."""
    sd = s.state_dir(backend)
    with Job(s, ex, sd) as job:
        job.env_override.update(env or {})  # what gitlab-runner passes to every call, config's too
        job.gitlab_config()
        script = job.script_file(job.stage_script("build_script", ["echo must-not-run"]))
        args = [str(script) if a == "{script}" else a for a in args]
        before = s.snapshot(sd)
        r = job.call(args, timeout=30)
        if user_mistake:
            lines = stderr_lines(r.err)
            require(r.rc == BUILD_FAILURE, f"expected the build failure exit {BUILD_FAILURE}, got {r.describe()}")
            require(len(lines) == 1 and "image" in lines[0] and f"images here: {IMAGE}" in lines[0],
                    f"expected one line saying what to fix and naming the images: {short(r.err)}")
            # gitlab-runner runs cleanup after a failed prepare too.
            c = job.call(["cleanup"], timeout=30)
            require(c.rc == 0, f"cleanup after the failed prepare: {c.describe()}")
        after = s.snapshot(sd)
        if not user_mistake:
            expect_system_failure(r, " ".join(args)[:60])
        require(b"must-not-run" not in r.out, "the script ran")
        d = s.snapshot_diff(before, after)
        require(not d, f"the host changed: {d}")


def t_prepare_twice(s, ex, backend):
    sd = s.state_dir(backend)
    with Job(s, ex, sd) as job:
        job.prepare()
        job.run_ok("get_sources", ["echo first > /root/first"])
        state_before = Path(job.machine_dir, "state").read_text()
        before = s.snapshot(sd)
        r = job.call(["prepare"], timeout=60)
        after = s.snapshot(sd)
        expect_system_failure(r, "second prepare")
        d = s.snapshot_diff(before, after)
        require(not d, f"the second prepare changed the host: {d}")
        require(Path(job.machine_dir, "state").read_text() == state_before, "the second prepare rewrote the state file")
        r = job.run_ok("build_script", ["cat /root/first"])
        require("first" in r.lines, "the first machine is not usable after the second prepare")
        end_job(s, job)


# The job's own mistakes: gitlab-runner must not retry them (exit $BUILD_FAILURE_EXIT_CODE).
USER_MISTAKES = [
    ("prepare: unknown image", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "debian:no-such-image"}),
    ("prepare: image of a registry path that is not here", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "registry/x/base"}),
    ("prepare: image argument of a registry path that is not here", ["prepare", "registry.example/x/base"], {}),
    ("prepare: image that reduces to '..'", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "registry/x/.."}),
    ("prepare: --default-image that is not here", ["prepare", "--default-image", "nosuch"], {"CUSTOM_ENV_CI_JOB_IMAGE": None}),
    ("prepare: image '..'", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": ".."}),
    ("prepare: image with '..' inside", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "debian:a..b"}),
    ("prepare: image '.machines' (leading dot)", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "debian:.machines"}),
    ("prepare: image '.cache' (leading dot)", ["prepare", ".cache"], {}),
    ("prepare: image name of 65 characters", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "registry.example/x:" + "a" * 65}),
    ("prepare: image with a bad character", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "debian:book worm"}),
    ("prepare: image with a newline", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "debian:book\nworm"}),
    ("prepare: image with an empty tag", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "debian:"}),
    ("prepare: no image and no default", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": None}),
    ("prepare: image that is a file", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "debian:notadir"}),
    ("prepare: image that is a dangling symlink", ["prepare"], {"CUSTOM_ENV_CI_JOB_IMAGE": "debian:dangling"}),
]


BAD_INPUTS = [
    # (name, args, env overrides, needs a script file)
    ("prepare: no job id", ["prepare"], {"CUSTOM_ENV_CI_JOB_ID": None}),
    ("prepare: non-numeric job id", ["prepare"], {"CUSTOM_ENV_CI_JOB_ID": "12a4"}),
    ("prepare: empty job id", ["prepare"], {"CUSTOM_ENV_CI_JOB_ID": ""}),
    ("prepare: negative job id", ["prepare", "--id", "-5"], {}),
    ("prepare: job id with a newline", ["prepare"], {"CUSTOM_ENV_CI_JOB_ID": "12\n34"}),
    ("prepare: job id of 21 digits", ["prepare"], {"CUSTOM_ENV_CI_JOB_ID": "1" * 21}),
    ("prepare: --storage btrfs off btrfs", ["prepare", "--storage", "btrfs"], {}),
    ("prepare: unknown storage", ["prepare", "--storage", "zfs"], {}),
    ("prepare: unknown option", ["prepare", "--frobnicate"], {}),
    ("run: without prepare", ["run", "{script}", "build_script"], {}),
    ("run: missing script", ["run", "/nonexistent/script", "build_script"], {}),
    ("run: script is a directory", ["run", "/", "build_script"], {}),
    ("run: stage name of 65 characters", ["run", "{script}", "s" * 65], {}),
    ("run: no job id", ["run", "{script}", "build_script"], {"CUSTOM_ENV_CI_JOB_ID": None}),
    ("run: --shell zsh", ["run", "--shell", "zsh", "{script}", "build_script"], {}),
    ("toml: an unsafe image", ["toml", "../x"], {}),
    ("toml: two different images", ["toml", "a", "--default-image", "b"], {}),
    ("cleanup: job id with a path", ["cleanup", "--id", "1/../.."], {}),
    ("cleanup: job id of 21 digits", ["cleanup"], {"CUSTOM_ENV_CI_JOB_ID": "9" * 21}),
    ("cleanup: option of another command", ["cleanup", "--storage", "tmpfs"], {}),
    ("unknown option before the command", ["--frobnicate", "gitlab-config"], {}),
    ("unknown command", ["frobnicate"], {}),
    ("unknown command with a newline", ["frob\nnicate"], {}),
    ("no command", [], {}),
    ("gitlab-config with an argument", ["gitlab-config", "extra"], {}),
    ("relative state dir", ["--state-dir", "relative/state", "gitlab-config"], {}),
]


def chroot_create_fails(s, ex, backend, name, extra, timeout=300, interrupt_after=None):
    sd = s.state_dir(backend)
    before = s.snapshot(sd)
    image_before = tree_snapshot(os.path.realpath(Path(sd) / IMAGE)) if name == IMAGE else None
    argv = [ex.binary, "--state-dir", str(sd), "chroot-create", name] + extra
    c = Call(argv, str(s.tmproot), s.clean_env())
    try:
        if interrupt_after is not None:
            deadline = time.monotonic() + interrupt_after
            # Interrupt once debootstrap is at work (its work dir in the new generation exists), at the
            # latest after the delay.
            while (time.monotonic() < deadline and not list((Path(sd) / ".images" / name).glob("*/debootstrap"))
                   and c.p.poll() is None):
                time.sleep(0.05)
            time.sleep(2.0)
            if c.p.poll() is not None:
                raise Fail(f"chroot-create ended before the interruption: {short(c.err)}")
            c.kill_group(signal.SIGTERM)
            try:
                c.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                raise Fail("chroot-create did not stop within 30 s of SIGTERM")
        rc = c.wait(timeout)
    finally:
        if c.p.poll() is None:
            c.kill_group(signal.SIGKILL)
            c.p.wait()
    ex.check_sanitizer(bytes(c.err), "chroot-create")
    require(rc != 0, f"chroot-create {name} {extra} succeeded")
    require(rc > 0, f"chroot-create {name} {extra} was killed by signal {-rc} instead of failing")
    require(len(stderr_lines(c.err)) >= 1, "chroot-create failed silently")
    deadline = time.monotonic() + 5
    while True:
        # The image's lock file (an empty .locks/NAME) is the locking mechanism, not a leftover of the
        # create: nothing else may appear.
        after = s.snapshot(sd)
        lock = after["files"].get(f".locks/{name}")
        require(lock is None or (stat.S_ISREG(lock[0]) and lock[3] == 0), f".locks/{name} is not an empty file: {lock}")
        d = s.snapshot_diff(before, after, ignore_files=lambda p: p in (".locks", f".locks/{name}"))
        if not d or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    require(not d, f"a failed chroot-create left: {d}")
    left = s.our_processes([f"/.images/{name}/"], [f"/.images/{name}/"])
    require(not left, f"debootstrap processes left: {list(left.values())[:2]}")
    if image_before is not None:
        require(tree_snapshot(os.path.realpath(Path(sd) / IMAGE)) == image_before, "the existing image was changed")
    return rc


def t_chroot_create_invalid_names(s, ex, backend):
    for name in ("../evil", ".hidden", "a/b", "x" * 65, "", "bad name"):
        chroot_create_fails(s, ex, backend, name, [], timeout=30)


def tests(s):
    ex = s.ex
    out = [bind(s, f"{backend}: prepare twice: the second fails, the first machine is untouched", t_prepare_twice, ex,
                backend) for backend in ("overlay", "btrfs")]
    out.append(bind(s, "bad input: btrfs: --storage btrfs with an image that is not a subvolume", bad_input, ex, "btrfs",
                    ["prepare", "--storage", "btrfs"], {"CUSTOM_ENV_CI_JOB_IMAGE": "debian:plain"}))
    out += [bind(s, f"bad input: {name}", bad_input, ex, "overlay", args, env) for name, args, env in BAD_INPUTS]
    out += [bind(s, f"job's mistake (build failure): {name}", bad_input, ex, "overlay", args, env, user_mistake=True)
            for name, args, env in USER_MISTAKES]
    return out + [
        bind(s, "chroot-create: invalid names fail and leave nothing", t_chroot_create_invalid_names, ex, "overlay"),
        bind(s, "chroot-create: existing name fails and leaves the image alone", chroot_create_fails, ex, "overlay",
             IMAGE, []),
        bind(s, "chroot-create: unknown suite fails and leaves nothing", chroot_create_fails, ex, "overlay", "nosuite",
             ["--suite", "no-such-suite"]),
        bind(s, "chroot-create: --mirror file:///nonexistent fails and leaves nothing", chroot_create_fails, ex,
             "overlay", "nomirror", ["--suite", IMAGE, "--mirror", "file:///nonexistent"]),
        bind(s, "chroot-create: btrfs, --mirror file:///nonexistent fails and leaves no subvolume", chroot_create_fails,
             ex, "btrfs", "nomirror", ["--suite", IMAGE, "--mirror", "file:///nonexistent"]),
        bind(s, "chroot-create: SIGTERM during debootstrap leaves nothing", chroot_create_fails, ex, "overlay",
             "interrupted", ["--suite", IMAGE], interrupt_after=30),
    ]
