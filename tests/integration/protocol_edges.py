# SPDX-License-Identifier: GPL-2.0-or-later
"""The protocol at its edges: chroots without systemd, big scripts and output, cleanup twice, long
job ids, image references, exit codes from the environment, two jobs of one id."""

from __future__ import annotations

import hashlib
import os
import random
import secrets
from pathlib import Path

from tap import require

from jobs import BUILD_FAILURE, IMAGE, Job, SYSTEM_FAILURE, end_job, short, stderr_lines
from suite import bind


def t_no_systemd(s, ex, backend):
    sd = s.state_dir(backend)
    image = Path(os.path.realpath(Path(sd) / IMAGE))
    require(not (image / "lib/systemd/systemd").exists() and not (image / "usr/lib/systemd/systemd").exists(),
            f"{image} has systemd: this test needs a chroot without it")
    with Job(s, ex, sd) as job:
        job.prepare()
        r = job.run_ok("build_script", ["test ! -e /lib/systemd/systemd && echo no-systemd",
                                        "tr '\\0' ' ' < /proc/1/cmdline; echo", "echo works"])
        require("no-systemd" in r.lines and "works" in r.lines, f"job in a chroot without systemd: {short(r.out)}")
        require(any(line.split()[:1] == ["/run/nspawn-runner-init"] for line in r.lines), f"PID 1 is not nspawn-runner-init: {short(r.out)}")
        end_job(s, job)


def t_big_script_and_stage_names(s, ex, backend):
    """gitlab-runner puts every variable into the script, and a driver must take any stage name."""
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        # (Only in the script: the environment of a call cannot hold that much.)
        blob = secrets.token_hex(2 * 1024 * 1024 // 2)
        r = job.run_ok("build_script", [f"BIG={blob}", "echo big=${#BIG}", "printf '%s' \"$BIG\" | sha256sum | cut -c1-64"])
        require(f"big={len(blob)}" in r.lines and hashlib.sha256(blob.encode()).hexdigest() in r.lines,
                f"a 2 MiB script did not arrive whole: {short(r.out)}")
        for stage in ("step_my-step.2", "some_future_stage", "s" * 64, "step_ünïcode"):
            r = job.run_ok(stage, ["echo stage-ok"])
            require("stage-ok" in r.lines, f"stage {stage!r}: {short(r.out)}")
        end_job(s, job)


def t_exit_codes_from_env(s, ex, backend):
    """The exit codes come from BUILD_FAILURE_EXIT_CODE and SYSTEM_FAILURE_EXIT_CODE."""
    with Job(s, ex, s.state_dir(backend)) as job:
        job.env_override.update(BUILD_FAILURE_EXIT_CODE="7", SYSTEM_FAILURE_EXIT_CODE="9")
        job.prepare()
        r = job.run("build_script", ["exit 5"])
        require(r.rc == 7 and (r.exit_file or "").strip() == "5", f"script failure: {r.describe()}, file {r.exit_file!r}")
        r = job.call(["run", "/nonexistent", "build_script"])
        require(r.rc == 9, f"system failure: {r.describe()}")
        r = job.call(["frobnicate"])
        require(r.rc == 9, f"unknown command: {r.describe()}")
        end_job(s, job)


def t_big_output(s, ex, backend):
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        r = job.run("build_script", [], raw_script="#!/usr/bin/env bash\nhead -c 16777216 /dev/zero | tr '\\0' x\n"
                                                   "echo; echo to-stderr >&2\n")
        require(r.rc == 0, f"big output: {r.describe()}")
        require(r.out == b"x" * 16777216 + b"\n", f"16 MiB of output came back as {len(r.out)} bytes")
        require(r.err == b"to-stderr\n", f"stderr of the stage: {short(r.err)}")
        end_job(s, job)


def t_cleanup_twice(s, ex, backend):
    sd = s.state_dir(backend)
    with Job(s, ex, sd) as job:
        job.prepare()
        job.run_ok("build_script", ["true"])
        r1 = job.cleanup()
        r2 = job.cleanup()
        require(r1.rc == 0, f"first cleanup: {r1.describe()}")
        require(r2.rc == 0, f"second cleanup: {r2.describe()}")
        s.wait_job_gone(job)
    with Job(s, ex, sd) as job:
        before = s.snapshot(sd)
        r = job.cleanup()
        require(r.rc == 0, f"cleanup without prepare: {r.describe()}")
        d = s.snapshot_diff(before, s.snapshot(sd))
        require(not d, f"cleanup without prepare changed the host: {d}")


def t_long_id(s, ex, backend):
    job_id = str(random.randrange(10**19, 10**20))
    with Job(s, ex, s.state_dir(backend), job_id=job_id) as job:
        job.prepare()
        r = job.run_ok("build_script", ["cat /proc/sys/kernel/hostname"])
        require(f"nspawn-runner-{job.key}" in r.lines and job.key.startswith(job_id), f"hostname for a 20-digit id: {short(r.out)}")
        end_job(s, job)


def t_image_refs(s, ex, backend):
    sd = s.state_dir(backend)
    cases = [({"CUSTOM_ENV_CI_JOB_IMAGE": f"registry.example:5000/group/base:{IMAGE}@sha256:" + "ab" * 32}, []),
             # Forms the Python nspawn-runner accepted: a registry with a port, a path, no tag, a digest.
             ({"CUSTOM_ENV_CI_JOB_IMAGE": f"localhost:5000/{IMAGE}"}, []),
             ({"CUSTOM_ENV_CI_JOB_IMAGE": f"docker.io/library/{IMAGE}"}, []),
             ({"CUSTOM_ENV_CI_JOB_IMAGE": f"{IMAGE}@sha256:" + "cd" * 32}, []),
             ({"CUSTOM_ENV_CI_JOB_IMAGE": None}, [f"debian:{IMAGE}"]),
             ({"CUSTOM_ENV_CI_JOB_IMAGE": ""}, ["--default-image", IMAGE])]
    for env, args in cases:
        with Job(s, ex, sd) as job:
            job.gitlab_config()
            job.env_override.update(env)
            job.prepare_args = args
            job.prepare()
            require(job.state().get("image") == IMAGE, f"image {env} {args} became {job.state().get('image')!r}")
            job.run_ok("build_script", ["true"])
            # The Python tool's run --shell: bash and sh are accepted (the script runs with bash).
            for shell in ("bash", "/bin/sh"):
                script = job.script_file(job.stage_script("build_script", ["echo shell=$BASH_VERSION"]))
                r = job.call(["run", "--shell", shell, str(script), "build_script"])
                require(r.rc == 0 and any(l.startswith("shell=5") for l in r.lines), f"run --shell {shell}: {r.describe()}")
            end_job(s, job)


def t_same_job_id(s, ex, backend):
    """Two jobs with the same job id (two GitLab instances on one box) run side by side, each in its
    own machine: gitlab-config hands each prepare attempt its own key in job_env. A third prepare of
    that id, refused, is cleaned up as gitlab-runner always does: the others' machines stay."""
    sd = s.state_dir(backend)
    job_id = s.next_id()
    with Job(s, ex, sd, job_id=job_id) as a, Job(s, ex, sd, job_id=job_id) as b, \
            Job(s, ex, sd, job_id=job_id, image="debian:no-such-image") as c:
        a.prepare()
        b.prepare()
        require(a.key != b.key and a.key.startswith(f"{job_id}-") and b.key.startswith(f"{job_id}-"),
                f"keys of two prepares of job {job_id}: {a.key}, {b.key}")
        for job in (a, b):
            r = job.run_ok("build_script", [f"echo {job.key} > /root/mine", "cat /proc/sys/kernel/hostname"])
            require(f"nspawn-runner-{job.key}" in r.lines, f"hostname in {job.key}: {short(r.out)}")
        c.prepare(expect=BUILD_FAILURE)
        r = c.cleanup()
        require(r.rc == 0, f"cleanup of the refused prepare: {r.describe()}")
        for job in (a, b):
            r = job.run_ok("build_script", ["cat /root/mine"])
            require(job.key in r.lines, f"machine {job.key} after the refused prepare's cleanup: {short(r.out)}")
        end_job(s, b)
        r = a.run_ok("build_script", ["cat /root/mine"])
        require(a.key in r.lines, f"machine {a.key} after the other one's cleanup: {short(r.out)}")
        end_job(s, a)


def t_same_job_id_without_config(s, ex, backend):
    """A config.toml without config_exec (no key in job_env): machines are keyed by the job id alone, a
    second prepare of that id is refused, and its cleanup — gitlab-runner runs it all the same — leaves
    the first job's machine alone (it was made by another attempt: another JOB_RESPONSE_FILE)."""
    sd = s.state_dir(backend)
    job_id = s.next_id()
    no_config = {"builds_dir": "/builds", "cache_dir": "/cache"}
    with Job(s, ex, sd, job_id=job_id) as a, Job(s, ex, sd, job_id=job_id) as b:
        a.config, b.config = dict(no_config), dict(no_config)
        a.prepare()
        require(a.key == job_id and os.path.isdir(a.machine_dir), f"machine of job {job_id} without config: {a.key}")
        a.run_ok("build_script", ["echo first > /root/mine"])
        r = b.prepare(expect=SYSTEM_FAILURE)
        require(len(stderr_lines(r.err)) == 1, f"the refused prepare: {short(r.err)}")
        r = b.call(["run", str(b.script_file(b.stage_script("build_script", ["echo must-not-run"]))), "build_script"])
        require(r.rc == SYSTEM_FAILURE and b"must-not-run" not in r.out, f"run of the refused job: {r.describe()}")
        r = b.cleanup()
        require(r.rc == 0, f"cleanup of the refused prepare: {r.describe()}")
        r = a.run_ok("build_script", ["cat /root/mine"])
        require("first" in r.lines, f"the first job's machine after the refused prepare's cleanup: {short(r.out)}")
        end_job(s, a)


def tests(s):
    ex = s.ex
    out = []
    for backend in ("overlay", "btrfs"):
        p = f"{backend}: "
        out += [
            bind(s, p + "chroot without systemd runs jobs", t_no_systemd, ex, backend),
            bind(s, p + "2 MiB script and unusual stage names", t_big_script_and_stage_names, ex, backend),
            bind(s, p + "cleanup twice, and cleanup without prepare, succeed", t_cleanup_twice, ex, backend),
            bind(s, p + "two jobs of the same id run side by side; a refused prepare's cleanup leaves them",
                 t_same_job_id, ex, backend),
            bind(s, p + "without config_exec: a refused prepare of the same id, its run and cleanup leave the first "
                 "machine", t_same_job_id_without_config, ex, backend),
        ]
    return out + [
        bind(s, "overlay: exit codes follow BUILD_FAILURE_EXIT_CODE and SYSTEM_FAILURE_EXIT_CODE", t_exit_codes_from_env,
             ex, "overlay"),
        bind(s, "overlay: 16 MiB of output and stderr pass through", t_big_output, ex, "overlay"),
        bind(s, "overlay: a 20-digit job id works", t_long_id, ex, "overlay"),
        bind(s, "overlay: image references reduce to the chroot name (tag, digest, argument, default)", t_image_refs,
             ex, "overlay"),
    ]
