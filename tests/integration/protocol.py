# SPDX-License-Identifier: GPL-2.0-or-later
"""The executor protocol as gitlab-runner drives it: config, prepare, the stages, cleanup; exit codes,
signals to a stage, stdin, persistence between stages, concurrent jobs, the cache dir."""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import tomllib
from pathlib import Path

from tap import Fail, require

from host import diff_dicts, free_port, port_open, tree_snapshot
from jobs import BUILD_FAILURE, IMAGE, Job, STAGES_SUCCESS, SYSTEM_FAILURE, end_job, short, stderr_lines
from suite import bind


def t_gitlab_config(s, ex):
    version = ex.raw(["--version"])
    require(version.rc == 0 and version.text.startswith("nspawn-runner "), f"--version: {version.describe()}")
    sd = s.tmproot / "config-state"
    job = Job(s, ex, sd)
    with job:
        cfg = job.gitlab_config()
        r = job.call(["gitlab-config"])
        require(stderr_lines(r.err) == [], f"gitlab-config wrote to stderr: {short(r.err)}")
    for key, typ in (("builds_dir", str), ("cache_dir", str), ("builds_dir_is_shared", bool), ("hostname", str),
                     ("driver", dict)):
        require(isinstance(cfg.get(key), typ), f"gitlab-config: {key} missing or not {typ.__name__}: {cfg}")
    require(cfg["builds_dir"] == "/builds" and cfg["cache_dir"] == "/cache",
            f"builds_dir/cache_dir: {cfg['builds_dir']!r}, {cfg['cache_dir']!r}")
    require(cfg["builds_dir_is_shared"] is False, "builds_dir_is_shared is not false")
    require(cfg.get("shell") == "bash", f"shell {cfg.get('shell')!r}: gitlab-runner must write bash scripts")
    key = (cfg.get("job_env") or {}).get("NSPAWN_RUNNER_MACHINE", "")
    require(re.fullmatch(rf"{job.id}-[0-9a-f]{{8}}", key), f"job_env hands on no machine key JOBID-XXXXXXXX: {cfg.get('job_env')}")
    require(cfg["hostname"] == f"nspawn-runner-{key}", f"hostname {cfg['hostname']!r} is not the machine's name")
    drv = cfg["driver"]
    require(drv.get("name") == "nspawn-runner", f"driver.name {drv.get('name')!r}")
    require(isinstance(drv.get("version"), str) and version.text.split()[-1] == drv["version"],
            f"driver.version {drv.get('version')!r} differs from --version {version.text.strip()!r}")
    # Without a job id the host name stands in.
    r = ex.raw(["--state-dir", str(sd), "gitlab-config"])
    require(r.rc == 0, f"gitlab-config without a job: {r.describe()}")
    require(json.loads(r.out).get("hostname") == socket.gethostname(), f"hostname without a job: {short(r.out)}")
    require(not sd.exists(), "gitlab-config created the state dir")


def t_toml(s, ex):
    binary = os.path.realpath(ex.binary)
    weird = str(s.tmproot / "we\"ird \\ dir ü")

    def parse(args, env=None):
        r = ex.raw(args, env=env)
        require(r.rc == 0, f"toml {args}: {r.describe()}")
        try:
            return tomllib.loads(r.text)
        except tomllib.TOMLDecodeError as e:
            raise Fail(f"toml output does not parse ({e}): {short(r.out)}")

    def custom_of(doc, state_dir):
        require(isinstance(doc.get("runners"), list) and len(doc["runners"]) == 1, f"no single [[runners]]: {doc}")
        r0 = doc["runners"][0]
        require(r0.get("executor") == "custom", f"executor {r0.get('executor')!r}")
        require(r0.get("builds_dir") == "/builds" and r0.get("cache_dir") == "/cache", "builds_dir/cache_dir in toml")
        c = r0.get("custom") or {}
        for key, cmd in (("config", "gitlab-config"), ("prepare", "prepare"), ("run", "run"), ("cleanup", "cleanup")):
            require(isinstance(c.get(f"{key}_exec"), str) and os.path.realpath(c[f"{key}_exec"]) == binary,
                    f"{key}_exec {c.get(f'{key}_exec')!r} is not {binary}")
            a = c.get(f"{key}_args")
            want = (["--state-dir", state_dir] if state_dir else []) + [cmd]
            require(a == want, f"{key}_args {a!r}, expected {want!r}")
        for key in ("config_exec_timeout", "prepare_exec_timeout", "cleanup_exec_timeout", "graceful_kill_timeout",
                    "force_kill_timeout"):
            require(isinstance(c.get(key), int) and c[key] > 0, f"{key} missing or not a positive integer: {c.get(key)!r}")
        return c

    c = custom_of(parse(["--state-dir", str(s.tmproot / "toml-state"), "toml"]), str(s.tmproot / "toml-state"))
    # What the snippet says to run must work as written.
    r = ex.raw(c["config_args"], env=s.clean_env())
    require(r.rc == 0 and isinstance(json.loads(r.out), dict), f"running config_exec with config_args: {r.describe()}")
    custom_of(parse(["--state-dir", weird, "toml"]), weird)
    env = s.clean_env()
    env["NSPAWN_RUNNER_STATE_DIR"] = str(s.tmproot / "env-state")
    custom_of(parse(["toml"], env=env), str(s.tmproot / "env-state"))
    custom_of(parse(["toml"]), None)  # the default state dir needs no option
    # The Python tool's forms: `toml IMAGE` and `toml --default-image IMAGE` put it in prepare_args.
    for args in (["toml", IMAGE], ["toml", "--default-image", IMAGE], ["toml", IMAGE, "--default-image", IMAGE]):
        doc = parse(args)
        r0 = doc["runners"][0]
        require(r0.get("shell") == "bash", f"{args}: shell {r0.get('shell')!r}")
        require(r0["custom"].get("prepare_args") == ["prepare", "--default-image", IMAGE] and
                r0["custom"].get("run_args") == ["run"], f"{args}: {r0['custom']}")


def stage_plan(job, marker):
    """Commands per stage of a full successful job; every stage appends its name to a log."""
    log = "/root/.stages.log"
    guard = ("if gitlab-runner --version >/dev/null 2>&1; then gitlab-runner {0}; "
             "else echo 'WARNING: gitlab-runner not found, skipping {0}'; fi")
    return [
        ("prepare_script", [f"echo prepare_script >> {log}", "echo \"Running on $(cat /proc/sys/kernel/hostname)\"",
                            "echo tmp-fs=$(stat -f -c %T /tmp)"]),
        ("get_sources", [f"echo get_sources >> {log}", "mkdir -p \"$CI_PROJECT_DIR\"", "cd \"$CI_PROJECT_DIR\"",
                         "git init -q .", f"echo {marker} > README", "git add README",
                         "git -c user.email=ci@example.invalid -c user.name=ci commit -q -m init",
                         "echo commits=$(git rev-list --count HEAD)"]),
        ("restore_cache", [f"echo restore_cache >> {log}", guard.format("cache-extractor")]),
        ("download_artifacts", [f"echo download_artifacts >> {log}", guard.format("artifacts-downloader")]),
        ("build_script", [f"echo build_script >> {log}", "echo cwd=$PWD", "cat README",
                          "printf 'var=%s\\n' \"$MY_VAR\"", "echo job=$CI_JOB_ID",
                          "echo built > artifact.txt"]),
        ("step_release", [f"echo step_release >> {log}", "cat artifact.txt"]),
        ("after_script", [f"echo after_script >> {log}", "echo after=$(cat artifact.txt)"]),
        ("archive_cache", [f"echo archive_cache >> {log}", guard.format("cache-archiver")]),
        ("upload_artifacts_on_success", [f"echo upload_artifacts_on_success >> {log}",
                                         guard.format("artifacts-uploader")]),
        ("cleanup_file_variables", [f"echo cleanup_file_variables >> {log}", f"cat {log}",
                                    "echo driver-env=$(env | grep -c -e '^CUSTOM_ENV_' -e '^JOB_RESPONSE_FILE=' -e '^BUILD_EXIT_CODE_FILE=' || true)",
                                    f"test -e {job.tmpdir}/response.json && echo response-visible || echo response-hidden"]),
    ]


def t_success(s, ex, backend, storage=None):
    sd = s.state_dir(backend)
    marker = f"readme-{secrets.token_hex(6)}"
    with Job(s, ex, sd, prepare_args=["--storage", storage] if storage else []) as job:
        cfg = job.gitlab_config()
        r = job.prepare()
        require(f"nspawn-runner-{job.key}" in r.text and job.key.startswith(f"{job.id}-"),
                f"prepare did not name the machine after the job: {short(r.out)}")
        require(stderr_lines(r.err) == [], f"prepare wrote to stderr: {short(r.err)}")
        want_backend = storage or backend
        got = job.state().get("backend")
        require(got == want_backend, f"machine storage is {got!r}, expected {want_backend}")
        outs = {}
        for stage, cmds in stage_plan(job, marker):
            outs[stage] = job.run_ok(stage, cmds).lines
        require(f"Running on {cfg['hostname']}" in outs["prepare_script"],
                f"hostname in the machine differs from config's {cfg['hostname']!r}: {outs['prepare_script']}")
        require("tmp-fs=tmpfs" not in outs["prepare_script"] and any(x.startswith("tmp-fs=") for x in outs["prepare_script"]),
                f"/tmp in the machine: {[x for x in outs['prepare_script'] if x.startswith('tmp-fs=')]}, expected the machine's disk")
        require("commits=1" in outs["get_sources"], f"git in get_sources: {outs['get_sources']}")
        require(f"cwd={job.project_dir}" in outs["build_script"], f"build_script cwd: {outs['build_script']}")
        require(marker in outs["build_script"], "the checkout of get_sources is not there in build_script")
        require(f"var={job.user_vars['MY_VAR']}" in outs["build_script"], f"variable mangled: {outs['build_script']}")
        require(f"job={job.id}" in outs["build_script"], "CI_JOB_ID not seen in the script")
        require("built" in outs["step_release"] and "after=built" in outs["after_script"], "files did not persist")
        for st in ("restore_cache", "download_artifacts", "archive_cache", "upload_artifacts_on_success"):
            require(any(line.startswith("WARNING: gitlab-runner not found") for line in outs[st]),
                    f"{st}: a gitlab-runner was found in the machine although the host has none")
        order = [line for line in outs["cleanup_file_variables"] if line in STAGES_SUCCESS]
        require(order == STAGES_SUCCESS, f"stages ran as {order}")
        require("driver-env=0" in outs["cleanup_file_variables"], "the driver's environment leaks into the stage")
        require("response-hidden" in outs["cleanup_file_variables"], "the job response file (with the token) is visible in the machine")
        # What proves a machine gone later must see this one now.
        st = job.state()
        seen = {pid for pid, _ in s.job_processes(job)}
        require({int(st.get("nspawn_pid", 0)), int(st.get("init_pid", 0))} <= seen,
                f"the leftover check does not see the machine's processes ({st}, seen {sorted(seen)})")
        end_job(s, job)


def t_seccomp(s, ex, backend):
    """A job cannot reach past its machine: open_by_handle_at (a chroot escape), kexec_load and bpf
    fail with EPERM, keyctl with ENOSYS (what container runtimes in a job go on from), while ordinary
    calls work. Uses perl, which every Debian chroot has."""
    sd = s.state_dir(backend)
    probe = ("perl -e 'for ([\"open_by_handle_at\", 304, -100, 0, 0], [\"kexec_load\", 246, 0, 0, 0, 0], "
             "[\"bpf\", 321, 0, 0, 0], [\"keyctl\", 250, 0, 0, 0, 0, 0]) { my ($n, $nr, @a) = @$_; my $r = syscall($nr, @a); print \"$n=$r:\", $!+0, \"\\n\" }; "
             "print \"getppid=\", syscall(110), \"\\n\"'")
    with Job(s, ex, sd) as job:
        job.prepare()
        r = job.run_ok("build_script", [probe, "grep ^Seccomp: /proc/self/status"])
        eperm = 1
        for name in ("open_by_handle_at", "kexec_load", "bpf"):
            require(f"{name}=-1:{eperm}" in r.lines, f"{name} was not refused with EPERM: {r.lines}")
        require(f"keyctl=-1:{errno.ENOSYS}" in r.lines, f"keyctl was not refused with ENOSYS: {r.lines}")
        require(any(x.startswith("getppid=") and not x.startswith("getppid=-") for x in r.lines),
                f"an ordinary call failed: {r.lines}")
        require("Seccomp:\t2" in r.lines, f"no seccomp filter on the job's processes: {r.lines}")
        end_job(s, job)


def t_failure(s, ex, backend, storage=None):
    sd = s.state_dir(backend)
    with Job(s, ex, sd, prepare_args=["--storage", storage] if storage else []) as job:
        job.prepare()
        job.run_ok("get_sources", ["mkdir -p \"$CI_PROJECT_DIR\""])
        r = job.run("build_script", ["echo before-fail", "exit 42", "echo not-reached"])
        require(r.rc == BUILD_FAILURE, f"failing script: expected exit {BUILD_FAILURE}, got {r.describe()}")
        require("before-fail" in r.lines and "not-reached" not in r.lines, f"script output: {short(r.out)}")
        require(r.exit_file is not None, "BUILD_EXIT_CODE_FILE was not written")
        # gitlab-runner reads the first line as an integer: that is what allow_failure: exit_codes matches.
        first = r.exit_file.splitlines()[0] if r.exit_file else ""
        require(re.fullmatch(r"[0-9]+", first) is not None, f"BUILD_EXIT_CODE_FILE holds {r.exit_file!r}")
        require(int(first) == 42, f"BUILD_EXIT_CODE_FILE says {first}, the script exited 42")
        allowed = int(first) in [42]
        require(allowed, "allow_failure: exit_codes [42] would not match")
        # After a failure: after_script and the *_on_failure stages run in the same machine.
        job.run_ok("after_script", ["echo after-ran"])
        job.run_ok("archive_cache_on_failure", ["echo archiving"])
        job.run_ok("upload_artifacts_on_failure", ["echo uploading"])
        # A later failure with another code rewrites the file.
        r = job.run("step_extra", ["echo more", "exit 3"])
        require(r.rc == BUILD_FAILURE and (r.exit_file or "").strip() == "3", f"second failure: {r.describe()}, file {r.exit_file!r}")
        end_job(s, job)


def t_signal_exit(s, ex, backend):
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        r = job.run("build_script", ["echo dying", "kill -9 $$"])
        require(r.rc == BUILD_FAILURE, f"shell killed by SIGKILL: {r.describe()}")
        require((r.exit_file or "").strip() == "137", f"BUILD_EXIT_CODE_FILE {r.exit_file!r}, expected 137 (128+9)")
        job.run_ok("after_script", ["true"])
        end_job(s, job)


def t_persistence(s, ex, backend, storage=None):
    port = free_port()
    token = secrets.token_hex(8)
    with Job(s, ex, s.state_dir(backend), prepare_args=["--storage", storage] if storage else []) as job:
        job.prepare()
        job.run_ok("prepare_script", ["mkdir -p /srv/www", f"echo served-{token} > /srv/www/index.html",
                                      f"busybox httpd -p 127.0.0.1:{port} -h /srv/www >/dev/null 2>&1 </dev/null"])
        job.run_ok("get_sources", ["mkdir -p \"$CI_PROJECT_DIR\"", f"echo file-{token} > /root/persist",
                                   f"echo project-{token} > \"$CI_PROJECT_DIR/p.txt\""])
        r = job.run_ok("build_script", ["cat /root/persist", "cat p.txt",
                                        f"busybox wget -qO- http://127.0.0.1:{port}/index.html"])
        for want in (f"file-{token}", f"project-{token}", f"served-{token}"):
            require(want in r.lines, f"{want.split('-')[0]} did not persist across stages: {short(r.out)}")
        r = job.run_ok("after_script", [f"busybox wget -qO- http://127.0.0.1:{port}/index.html"])
        require(f"served-{token}" in r.lines, "the background server is gone in after_script")
        require(not port_open(port), "the job's server answers on the host's loopback: the job is not isolated")
        end_job(s, job)
        require(not port_open(port), f"the job's server still listens on port {port} after cleanup")


def t_concurrent(s, ex, backend, n=8):
    sd = s.state_dir(backend)
    image = os.path.realpath(Path(sd) / IMAGE)
    before = tree_snapshot(image)
    barrier = threading.Barrier(n, timeout=180)
    errors = []
    jobs = [Job(s, ex, sd, concurrent_id=i) for i in range(n)]
    markers = {job.id: f"1000.{job.id}" for job in jobs}

    def worker(i, job):
        try:
            job.prepare()
            job.run_ok("get_sources", ["mkdir -p \"$CI_PROJECT_DIR\"", f"echo {job.id} > /root/mine-{job.id}",
                                       f"echo {job.id} > \"$CI_BUILDS_DIR/owner\"",
                                       f"sleep {markers[job.id]} >/dev/null 2>&1 </dev/null &",
                                       "echo changed > /etc/hostname-of-job",
                                       "rm /etc/debian_version" if i % 2 == 0 else "true"])
            barrier.wait()
            r = job.run_ok("build_script", [
                "ls /root | grep '^mine-' || true",
                "cat \"$CI_BUILDS_DIR/owner\"",
                "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done | grep -o 'sleep 1000\\.[0-9]*' || true",
                "test -f /etc/debian_version && echo has-debian-version || echo no-debian-version",
            ])
            lines = r.lines
            mine = [line for line in lines if line.startswith("mine-")]
            if mine != [f"mine-{job.id}"]:
                errors.append(f"job {job.id} sees files {mine}")
            if job.id not in lines:
                errors.append(f"job {job.id}: its builds dir holds another job's file")
            sleeps = sorted(set(line for line in lines if line.startswith("sleep 1000.")))
            if sleeps != [f"sleep {markers[job.id]}"]:
                errors.append(f"job {job.id} sees processes {sleeps}")
            want = "no-debian-version" if i % 2 == 0 else "has-debian-version"
            if want not in lines:
                errors.append(f"job {job.id}: another job's deletion leaked in ({[x for x in lines if 'debian-version' in x]})")
            barrier.wait()
            r = job.cleanup()
            if r.rc != 0:
                errors.append(f"cleanup of job {job.id}: {r.describe()}")
        except threading.BrokenBarrierError:
            errors.append(f"job {job.id}: another job failed first")
        except Fail as e:
            errors.append(str(e))
            barrier.abort()
        except Exception as e:
            errors.append(f"job {job.id}: {type(e).__name__}: {e}")
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for job in jobs:
            job.__exit__(None, None, None)
    if errors:
        first = [e for e in errors if "failed first" not in e] or errors
        raise Fail("; ".join(first)[:400])
    for job in jobs:
        s.wait_job_gone(job)
    left = {m: p for m in markers.values() for p in s.our_processes([m], []).values()}
    require(not left, f"job processes survived cleanup: {list(left.values())[:3]}")
    after = tree_snapshot(image)
    d = diff_dicts(before, after, "base chroot")
    require(not d, f"the base chroot changed: {d}")


def t_cancel(s, ex, backend, sig=signal.SIGTERM, ignore_term=False):
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        job.run_ok("get_sources", ["mkdir -p \"$CI_PROJECT_DIR\"", "echo kept > /root/keep"])
        marker = f"1000.{job.id}1"
        bg_marker = f"1000.{job.id}2"
        cmds = ([f"trap '' TERM"] if ignore_term else []) + [
            f"sleep {bg_marker} >/dev/null 2>&1 &", "echo started", f"sleep {marker}"]
        call = job.start_run("build_script", cmds)
        if not call.wait_output(b"started\n", 30) or not s.wait_marker(marker, 10):
            call.abort()
            raise Fail(f"the stage did not start: {short(call.err)}")
        t0 = time.monotonic()
        call.kill_group(sig)
        try:
            call.p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            call.abort()
            raise Fail(f"run did not exit within 3 s of {sig.name}")
        rc = call.p.returncode
        s.diag(f"run exited {rc} {time.monotonic() - t0:.2f} s after {sig.name}")
        left = s.wait_no_marker(marker, 3.0 - (time.monotonic() - t0))
        left.update(s.wait_no_marker(bg_marker, 0.5))
        require(not left, f"stage processes survive the cancel by more than 3 s: {list(left.values())[:2]}")
        call.wait(10)
        err = bytes(call.err)
        ex.check_sanitizer(err, "cancelled run")
        if sig == signal.SIGTERM:
            require(rc in (BUILD_FAILURE, SYSTEM_FAILURE), f"cancelled run: exit {rc} (not a failure code gitlab-runner knows), stderr: {short(err)}")
        # gitlab-runner goes on with after_script and the *_on_failure stages in the same machine.
        r = job.run_ok("after_script", ["cat /root/keep"])
        require("kept" in r.lines, f"after_script ran in another machine: {short(r.out)}")
        job.run_ok("upload_artifacts_on_failure", ["echo uploading"])
        end_job(s, job)


def t_stdin(s, ex, backend):
    data = b"".join(b"%06d %s\n" % (i, secrets.token_hex(24).encode()) for i in range(4000)) + bytes(range(256))
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        r = job.run("build_script", [], stdin_data=data,
                    raw_script="#!/usr/bin/env bash\nset -o errexit\ncat\n")
        require(r.rc == 0, f"cat stage: {r.describe()}")
        require(r.out == data, f"stdin came back changed: {len(r.out)} of {len(data)} bytes, first difference at "
                             f"{next((i for i, (a, b) in enumerate(zip(r.out, data)) if a != b), min(len(r.out), len(data)))}")
        # gitlab-runner's own script reads /dev/null even while the caller's stdin stays open.
        r = job.run("build_script", ["cat", "echo after-cat"], stdin_data=b"not for the script\n", stdin_hold=True,
                    timeout=30)
        require(r.rc == 0 and "after-cat" in r.lines and "not for the script" not in r.lines,
                f"script with stdin from /dev/null: {r.describe()}, stdout {short(r.out)}")
        end_job(s, job)


def t_cache(s, ex, backend):
    sd = s.state_dir(backend)
    token = secrets.token_hex(8)
    with Job(s, ex, sd) as a:
        a.prepare()
        a.run_ok("archive_cache", ["mkdir -p /cache/group/project", f"echo {token} > /cache/group/project/c-{token}",
                                   "mkdir -p /builds/x && echo junk > /builds/x/junk"])
        end_job(s, a)
    host_file = Path(sd) / ".cache" / "group" / "project" / f"c-{token}"
    require(host_file.exists() and host_file.read_text().strip() == token, f"{host_file} not on the host")
    with Job(s, ex, sd) as b:
        b.prepare()
        r = b.run_ok("restore_cache", [f"cat /cache/group/project/c-{token}", "echo builds=$(ls -A /builds 2>/dev/null | wc -l)"])
        require(token in r.lines, f"the cache of the first job is not in the second: {short(r.out)}")
        require("builds=0" in r.lines, f"the builds dir is not fresh per job: {short(r.out)}")
        end_job(s, b)
    require(host_file.exists(), "the cache did not survive the second job's cleanup")


def t_host_gitlab_runner(s, ex, backend):
    token = secrets.token_hex(8)
    bindir = s.tmproot / f"fakebin-{token}"
    bindir.mkdir()
    fake = bindir / "gitlab-runner"
    content = f"#!/bin/sh\necho \"fake-gitlab-runner {token} $*\"\n"
    fake.write_text(content)
    fake.chmod(0o755)
    with Job(s, ex, s.state_dir(backend), path_prefix=str(bindir)) as job:
        job.prepare()
        r = job.run_ok("restore_cache", [
            "if gitlab-runner --version >/dev/null 2>&1; then gitlab-runner cache-extractor --file x; else echo no-runner; fi",
            "command -v gitlab-runner",
            "if (echo tampered >> /usr/local/bin/gitlab-runner) 2>/dev/null; then echo writable; else echo read-only; fi",
            "if (rm -f /usr/local/bin/gitlab-runner) 2>/dev/null && test ! -e /usr/local/bin/gitlab-runner; then echo removable; else echo kept; fi",
        ])
        require(f"fake-gitlab-runner {token} cache-extractor --file x" in r.lines, f"host gitlab-runner not run in the machine: {short(r.out)}")
        require("/usr/local/bin/gitlab-runner" in r.lines, f"gitlab-runner not at /usr/local/bin: {short(r.out)}")
        require("read-only" in r.lines and "kept" in r.lines, f"gitlab-runner is not read-only in the machine: {short(r.out)}")
        require(fake.read_text() == content, "the host's gitlab-runner was changed by the job")
        end_job(s, job)


TEST_GITLAB_CONFIG = "gitlab-config prints valid JSON with builds_dir, cache_dir, builds_dir_is_shared, hostname, driver"
TEST_TOML = "toml parses and carries all execs, args, timeouts and --state-dir"


def tests(s):
    ex = s.ex
    out = [bind(s, TEST_GITLAB_CONFIG, t_gitlab_config, ex), bind(s, TEST_TOML, t_toml, ex)]
    for backend in ("overlay", "btrfs"):
        p = f"{backend}: "
        out += [
            bind(s, p + "success through all stages", t_success, ex, backend),
            bind(s, p + "failing script exit 42 gives exit 1 and 42 in BUILD_EXIT_CODE_FILE", t_failure, ex, backend),
            bind(s, p + "the job's dangerous system calls fail with EPERM, keyrings with ENOSYS (seccomp)", t_seccomp, ex,
                 backend),
            bind(s, p + "shell killed by a signal reports 128+N", t_signal_exit, ex, backend),
            bind(s, p + "files and a background server persist across stages", t_persistence, ex, backend),
            bind(s, p + "8 concurrent jobs are isolated and leave the base chroot unchanged", t_concurrent, ex, backend),
            bind(s, p + "SIGTERM to run cancels the stage, after_script still runs", t_cancel, ex, backend),
            bind(s, p + "cancel of a stage that ignores SIGTERM (SIGKILL after the grace)", t_cancel, ex, backend,
                 ignore_term=True),
            bind(s, p + "SIGKILL to run's process group stops the stage", t_cancel, ex, backend, sig=signal.SIGKILL),
            bind(s, p + "stdin is passed through to the stage", t_stdin, ex, backend),
            bind(s, p + "cache dir persists across jobs, builds dir is fresh", t_cache, ex, backend),
            bind(s, p + "host gitlab-runner is visible and read-only in the machine", t_host_gitlab_runner, ex, backend),
        ]
    return out
