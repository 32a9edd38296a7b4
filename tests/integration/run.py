#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration tests of nspawn-runner against real systemd-nspawn machines.

Replays what gitlab-runner does with a custom executor (see /work/shared/docs/gitlab-custom-executor.md):
config → prepare → run per stage → cleanup, each call in its own process group with the job's $TMPDIR as
working directory and gitlab-runner's environment, scripts shaped like gitlab-runner's bash scripts.
Machines run on overlayfs (a temporary state dir under /var/tmp), on btrfs (a loop-mounted file system)
and on tmpfs, all made from ONE debootstrapped chroot (with busybox and python3) cached in tests/cache/;
the nested-sandbox tests add bubblewrap and podman to a copy of it, made once per run.
The lifecycle tests drive chroot-maintenance (real ansible-playbook runs), chroot-login, chroot-list
and gc on images made from copies of it; an i386 chroot is cached beside it on first use.
The nspawn-run tests create a user and a sudoers rule for it (the shipped drop-in, uncommented) and
run `sudo -u USER sudo nspawn-run …` as a person would; both are removed at the end.

Usage (as root, from the repository root):
    python3 tests/integration/run.py --build build --asan-build build-asan [-k PATTERN]

Prints one line per test ("ok N - name" / "not ok N - name: reason"), diagnostics as "# " lines, and
as the last line "N passed, N failed". Exits non-zero when any test failed. Python 3.11 stdlib only.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import copy
import errno
import fcntl
import hashlib
import json
import os
import pty
import pwd
import random
import re
import secrets
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tomllib
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
IMAGE = "bookworm"
IMAGE_I386 = "bookworm-i386"  # the cached i386 chroot (made once, with chroot-create --arch i386)
# The nested-sandbox tests' image: the shared chroot with these packages, made once per run and backend.
NESTED_IMAGE = "bookworm-nested"
NESTED_PACKAGES = ["bubblewrap", "podman", "crun"]
BUILD_FAILURE = 1
SYSTEM_FAILURE = 2
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")
CONTROL_RUN_DIR = Path("/run/nspawn-runner/machines")  # a machine's control socket, on the host's /run
SANITIZER_RE = re.compile(
    r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer|Sanitizer:DEADLYSIGNAL"
)
SANITIZE = "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
# gitlab-runner's stages, in the order it runs them (steps other than the main one are step_<name>).
STAGES_SUCCESS = ["prepare_script", "get_sources", "restore_cache", "download_artifacts", "build_script",
                  "step_release", "after_script", "archive_cache", "upload_artifacts_on_success",
                  "cleanup_file_variables"]


class Fail(Exception):
    """A test's assertion failed; the message is the short reason."""


class Skip(Exception):
    """A test cannot run here; the message says why (TAP: ok … # SKIP reason)."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def short(data, n=240):
    """The tail of some output as one line, for a reason or a diagnostic."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode(errors="replace")
    data = " | ".join(line for line in data.strip().splitlines() if line.strip())
    return data if len(data) <= n else "…" + data[-n:]


def out_lines(data):
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode(errors="replace")
    return data.splitlines()


def stderr_lines(data):
    return [line for line in out_lines(data) if line.strip()]


def ansi_c(s):
    """Quotes s as bash's $'…', the way gitlab-runner quotes its scripts."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def gitlab_script(variables, commands, cd_project):
    """A stage script shaped like the one gitlab-runner's bash shell writes."""
    body = [f"export {k}={ansi_c(v)}" for k, v in variables.items()]
    if cd_project:
        body.append("cd \"$CI_PROJECT_DIR\"")
    for c in commands:
        body.append("echo " + ansi_c(f"\x1b[32;1m$ {c}\x1b[0;m"))
        body.append(c)
    inner = "\n".join(body) + "\n"
    return ("#!/usr/bin/env bash\n\n"
            "trap 'exit 1' TERM\n\n"
            "set -o pipefail\n"
            "set -o errexit\n"
            "set +o noclobber\n"
            f"( trap 'exit 1' TERM; eval {ansi_c(inner)} ) < /dev/null\n"
            "exit 0\n")


def parse_state(text):
    d = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            d[k] = v
    return d


def proc_stat(pid):
    """(state, start time, comm) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rp = s.rindex(b")")
    fields = s[rp + 2:].split()
    return fields[0].decode(), int(fields[19]), s[s.index(b"(") + 1:rp].decode(errors="replace")


def process_alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def host_mounts():
    """The host's mounts as a multiset of (mount point, fs type, source)."""
    c = collections.Counter()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            c[(fields[4], rfields[0] if rfields else "", rfields[1] if len(rfields) > 1 else "")] += 1
    return c


def tree_snapshot(root):
    """Every entry below root (symlinks not followed) with type, owner, mode, size, mtime."""
    snap = {}
    root = str(root)
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            extra = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            snap[os.path.relpath(p, root)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                                              st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else 0, extra)
    return snap


def diff_dicts(a, b, what, limit=4):
    added = sorted(set(b) - set(a))
    removed = sorted(set(a) - set(b))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    parts = []
    if added:
        parts.append(f"{what} added: {', '.join(map(str, added[:limit]))}{' …' if len(added) > limit else ''}")
    if removed:
        parts.append(f"{what} removed: {', '.join(map(str, removed[:limit]))}{' …' if len(removed) > limit else ''}")
    if changed:
        parts.append(f"{what} changed: {', '.join(map(str, changed[:limit]))}{' …' if len(changed) > limit else ''}")
    return "; ".join(parts)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Result:
    def __init__(self, argv, rc, out, err, exit_file=None):
        self.argv, self.rc, self.out, self.err, self.exit_file = argv, rc, out, err, exit_file

    @property
    def text(self):
        return self.out.decode(errors="replace")

    @property
    def lines(self):
        return out_lines(self.out)

    def describe(self):
        return f"exit {self.rc}, stderr: {short(self.err) or '(empty)'}"


# The executor's calls that make, use or remove machines, and so their network: they run in the jobs'
# network namespace (see Suite.make_jobs_netns), whoever builds their command line.
NETNS_COMMANDS = {"prepare", "run", "cleanup", "gc", "machine-exec"}
JOBS_NETNS_PREFIX = []


class Call:
    """A running call in its own process group; output is collected by threads."""

    def __init__(self, argv, cwd, env, stdin_data=None, stdin_hold=False):
        if JOBS_NETNS_PREFIX and argv[:1] != JOBS_NETNS_PREFIX[:1] and NETNS_COMMANDS & set(argv) and \
                any(os.path.basename(str(a)) == "nspawn-runner" for a in argv):
            argv = JOBS_NETNS_PREFIX + list(argv)
        self.argv = argv
        self.out, self.err = bytearray(), bytearray()
        self.cond = threading.Condition()
        stdin = subprocess.PIPE if (stdin_data is not None or stdin_hold) else subprocess.DEVNULL
        self.p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, process_group=0)
        self.threads = [threading.Thread(target=self._read, args=(self.p.stdout, self.out), daemon=True),
                        threading.Thread(target=self._read, args=(self.p.stderr, self.err), daemon=True)]
        if stdin_data is not None:
            self.threads.append(threading.Thread(target=self._write, args=(stdin_data, not stdin_hold), daemon=True))
        for t in self.threads:
            t.start()

    def _read(self, f, buf):
        while True:
            chunk = f.read1(65536)
            if not chunk:
                break
            with self.cond:
                buf.extend(chunk)
                self.cond.notify_all()
        f.close()

    def _write(self, data, close):
        try:
            self.p.stdin.write(data)
            if close:
                self.p.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    def wait_output(self, needle, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while needle not in self.out:
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None and not any(t.is_alive() for t in self.threads[:2]):
                    return needle in self.out
                self.cond.wait(min(left, 0.2))
            return True

    def abort(self):
        """Kills the call's group, for a test that already failed; its output is not waited for."""
        self.kill_group(signal.SIGKILL)
        self.p.wait()

    def what(self):
        args = self.argv[1:]
        if args[:1] == ["--state-dir"]:
            args = args[2:]
        return " ".join(a for a in args if not a.startswith("/"))[:80] or "the call"

    def kill_group(self, sig):
        try:
            os.killpg(self.p.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout):
        """Waits for the call and its output; kills the group and fails when it takes longer."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group(signal.SIGKILL)
            self.p.wait()
            raise Fail(f"{self.what()} did not finish within {timeout} s (killed)")
        # Output ends when every holder of the pipes is gone; a stage's background process could keep
        # them open, which the tests avoid by redirecting.
        for t in self.threads[:2]:
            t.join(timeout=max(5.0, timeout / 4))
            if t.is_alive():
                raise Fail(f"output of {self.what()} still open after it exited")
        if self.p.stdin:
            try:
                self.p.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        return self.p.returncode


class Executor:
    """One build of the product."""

    def __init__(self, suite, binary, asan=False):
        self.suite, self.binary, self.asan = suite, str(binary), asan

    def check_sanitizer(self, err, what):
        if not self.asan:
            return
        if isinstance(err, (bytes, bytearray)):
            err = bytes(err).decode(errors="replace")
        m = SANITIZER_RE.search(err)
        if m:
            line = next((line for line in err.splitlines() if SANITIZER_RE.search(line)), m.group(0))
            self.suite.diag(f"sanitizer report from {what}:\n{err[-3000:]}")
            raise Fail(f"sanitizer report from {what}: {line.strip()[:160]}")

    def raw(self, args, env=None, cwd=None, timeout=60, stdin_data=None):
        argv = [self.binary] + list(args)
        c = Call(argv, cwd or str(self.suite.tmproot), env if env is not None else self.suite.clean_env(), stdin_data)
        rc = c.wait(timeout)
        r = Result(argv, rc, bytes(c.out), bytes(c.err))
        self.check_sanitizer(r.err, " ".join(args[:3]))
        return r


class Job:
    """One job, driven the way gitlab-runner drives a custom executor."""

    def __init__(self, suite, ex, state_dir, image=f"debian:{IMAGE}", job_id=None, prepare_args=(),
                 path_prefix=None, concurrent_id=0):
        self.suite, self.ex, self.state_dir = suite, ex, str(state_dir)
        self.id = str(job_id) if job_id is not None else suite.next_id()
        suite.ids.add(self.id)
        self.image, self.prepare_args, self.path_prefix = image, list(prepare_args), path_prefix
        self.concurrent_id = concurrent_id
        self.job_token = "glcbt-" + secrets.token_hex(10)
        self.tmpdir = Path(tempfile.mkdtemp(prefix="custom-executor", dir=suite.runner_tmp))
        self.config = {}
        self.prepared = self.cleaned = self.sources_done = False
        self.env_override = {}
        self.builds_dir, self.cache_dir = "/builds", "/cache"
        self.project_dir = f"{self.builds_dir}/{concurrent_id}/group/project"
        self.user_vars = {"MY_VAR": "it's \"quoted\" $HOME \\ back\ttab ünï", "CI_DEBUG_TRACE": "false"}
        response = {"id": int(self.id), "token": self.job_token, "image": {"name": image},
                    "variables": [{"key": k, "value": v, "public": True} for k, v in self.variables().items()],
                    "steps": [{"name": "script", "script": ["true"], "when": "on_success"}]}
        fd = os.open(self.tmpdir / "response.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(response, f)

    # -- environment and calls --
    @property
    def exit_code_file(self):
        return self.tmpdir / "build_exit_code"

    def variables(self):
        v = {"CI": "true", "GITLAB_CI": "true", "CI_SERVER": "yes", "CI_JOB_ID": self.id,
             "CI_JOB_IMAGE": self.image, "CI_BUILDS_DIR": self.builds_dir, "CI_PROJECT_DIR": self.project_dir,
             "CI_PROJECT_PATH": "group/project", "CI_CONCURRENT_ID": str(self.concurrent_id),
             "CI_CONCURRENT_PROJECT_ID": str(self.concurrent_id), "CI_JOB_TOKEN": self.job_token,
             "CI_JOB_SERVICES": "[]", "CI_JOB_STAGE": "test", "CI_PIPELINE_ID": "4242"}
        v.update(self.user_vars)
        return v

    def env(self):
        e = self.suite.clean_env()
        if self.path_prefix:
            e["PATH"] = f"{self.path_prefix}:{e['PATH']}"
        e.update(TMPDIR=str(self.tmpdir), BUILD_FAILURE_EXIT_CODE=str(BUILD_FAILURE),
                 SYSTEM_FAILURE_EXIT_CODE=str(SYSTEM_FAILURE), BUILD_EXIT_CODE_FILE=str(self.exit_code_file),
                 JOB_RESPONSE_FILE=str(self.tmpdir / "response.json"))
        e.update(self.config.get("job_env") or {})
        for k, v in self.variables().items():
            e[f"CUSTOM_ENV_{k}"] = v
        for k, v in self.env_override.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return e

    def argv(self, args):
        return ["--state-dir", self.state_dir] + list(args)

    def start(self, args, stdin_data=None, stdin_hold=False):
        try:
            self.exit_code_file.unlink()
        except FileNotFoundError:
            pass
        return Call([self.ex.binary] + self.argv(args), str(self.tmpdir), self.env(), stdin_data, stdin_hold)

    def finish(self, c, timeout, what):
        rc = c.wait(timeout)
        exit_file = self.exit_code_file.read_text() if self.exit_code_file.exists() else None
        r = Result(c.argv, rc, bytes(c.out), bytes(c.err), exit_file)
        self.ex.check_sanitizer(r.err, f"{what} of job {self.id}")
        return r

    def call(self, args, timeout=60, stdin_data=None):
        return self.finish(self.start(args, stdin_data), timeout, args[0] if args else "(no command)")

    # -- the four calls --
    def gitlab_config(self):
        r = self.call(["gitlab-config"], timeout=30)
        check(r.rc == 0, f"gitlab-config: {r.describe()}")
        try:
            cfg = json.loads(r.out) if r.out.strip() else {}
        except json.JSONDecodeError as e:
            raise Fail(f"gitlab-config printed invalid JSON ({e}): {short(r.out)}")
        check(isinstance(cfg, dict), f"gitlab-config printed {type(cfg).__name__}, not an object")
        self.config = cfg
        self.builds_dir = cfg.get("builds_dir") or self.builds_dir
        self.cache_dir = cfg.get("cache_dir") or self.cache_dir
        check(self.builds_dir and self.cache_dir, "no builds_dir/cache_dir from config")
        self.project_dir = f"{self.builds_dir}/{self.concurrent_id}/group/project"
        return cfg

    def prepare(self, expect=0, timeout=60):
        if not self.config:
            self.gitlab_config()
        self.prepared = True
        r = self.call(["prepare"] + self.prepare_args, timeout=timeout)
        if expect is not None:
            check(r.rc == expect, f"prepare of job {self.id}: {r.describe()}")
        return r

    def script_file(self, content):
        d = self.tmpdir / f"script{random.randrange(10**8, 10**9)}"
        d.mkdir(mode=0o700)
        p = d / "script"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        return p

    def stage_script(self, stage, commands):
        cd = self.sources_done and (stage in ("build_script", "after_script", "archive_cache",
                                              "archive_cache_on_failure", "upload_artifacts_on_success",
                                              "upload_artifacts_on_failure") or stage.startswith("step_"))
        if stage == "get_sources":  # gitlab-runner's checkout makes the project dir
            commands = ["mkdir -p \"$CI_PROJECT_DIR\""] + list(commands)
        return gitlab_script(self.variables(), commands, cd)

    def start_run(self, stage, commands, stdin_data=None, stdin_hold=False, raw_script=None):
        script = self.script_file(raw_script if raw_script is not None else self.stage_script(stage, commands))
        return self.start(["run", str(script), stage], stdin_data, stdin_hold)

    def run(self, stage, commands, timeout=60, stdin_data=None, stdin_hold=False, raw_script=None):
        c = self.start_run(stage, commands, stdin_data, stdin_hold, raw_script)
        r = self.finish(c, timeout, f"run {stage}")
        if stage == "get_sources" and r.rc == 0:
            self.sources_done = True
        return r

    def run_ok(self, stage, commands, **kw):
        r = self.run(stage, commands, **kw)
        check(r.rc == 0, f"stage {stage} of job {self.id}: {r.describe()}; stdout: {short(r.out)}")
        check(r.exit_file is None, f"stage {stage} succeeded but wrote {r.exit_file!r} to BUILD_EXIT_CODE_FILE")
        return r

    def cleanup(self, timeout=60):
        if self.ex.asan:
            log = Path(self.machine_dir) / "nspawn.log"
            if log.exists():
                self.ex.check_sanitizer(log.read_bytes(), f"the machine supervisor of job {self.id} (nspawn.log)")
        r = self.call(["cleanup"], timeout=timeout)
        self.cleaned = True
        return r

    # -- what the tests look at --
    @property
    def key(self):
        """The machine's key: gitlab-config hands it to the later calls in job_env; else the job id."""
        return (self.config.get("job_env") or {}).get("NSPAWN_RUNNER_MACHINE") or self.id

    @property
    def machine_dir(self):
        return f"{self.state_dir}/.machines/{self.key}"

    def state(self):
        return parse_state(Path(self.machine_dir, "state").read_text())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.prepared and not self.cleaned:
            try:
                self.cleanup()
            except Exception as e:  # best effort: the test already failed
                self.suite.diag(f"cleanup of job {self.id} after a failure: {e}")
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        return False


class Suite:
    def __init__(self, args):
        self.build = (REPO / args.build).resolve()  # an absolute args.build stays itself
        self.asan_build = REPO / args.asan_build
        # The shared chroot: <cache>/state/bookworm, made once with the product's chroot-create.
        self.cache_state = (REPO / args.cache_dir).resolve() / "state"
        self.tmproot = Path(tempfile.mkdtemp(prefix="nspawn-runner-it.", dir="/var/tmp"))
        self.runner_tmp = self.tmproot / "runner-tmp"
        self.runner_tmp.mkdir()
        self.id_base = random.randrange(10**8, 10**9) * 10000
        self.id_counter = 0
        self.id_lock = threading.Lock()
        self.ids = set()
        self.loops = []  # (device, backing file)
        self.own_mounts = []
        self.backends = {}
        self.extra_state_dirs = []
        self.lifecycles = []  # of the test that runs
        self.backend_errors = {}
        self.torn_down = False
        self.ex = Executor(self, self.build / "nspawn-runner")
        self.asan_ex = None
        self.asan_error = None
        self.asan_incomplete = None
        self.pending_diag = []
        self.host_mnt_ns = os.stat("/proc/self/ns/mnt").st_ino
        self.jobs_netns = None
        self.host_net_before = host_net_state()
        self.nspawn_run = None  # the nspawn-run tests' user, made on first use

    # -- output --
    def diag(self, text):
        for line in str(text).rstrip().splitlines():
            self.pending_diag.append(f"# {line}")

    def say(self, text):
        print(text, flush=True)

    def next_id(self):
        with self.id_lock:
            self.id_counter += 1
            return str(self.id_base + self.id_counter)

    def clean_env(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTOM_ENV_", "NSPAWN_RUNNER_"))}
        e.pop("TMPDIR", None)
        # Only the test of a host gitlab-runner decides whether machines get one.
        path = [d for d in e.get("PATH", STANDARD_PATH).split(":") if d and not os.access(os.path.join(d, "gitlab-runner"), os.X_OK)]
        for d in STANDARD_PATH.split(":"):
            if d not in path:
                path.append(d)
        e["PATH"] = ":".join(path)
        if "ASAN_OPTIONS" not in e:
            e["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        if "UBSAN_OPTIONS" not in e:
            e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        return e

    # -- processes and host state --
    def machine_mount(self, line, needles):
        """Whether a line of some process's mountinfo is a mount of one of our machines (or of a
        debootstrap target): an overlay whose layers are ours, a btrfs snapshot below .machines on our
        loop device, or, for specific needles, a mount point naming them. Other namespaces on this
        host may hold copies of the host's mounts, our temp dir's among them: those do not count."""
        left, _, right = line.partition(" - ")
        f, r = left.split(), right.split()
        if len(f) < 5 or len(r) < 2:
            return False
        root, mount_point, fstype, source = f[3], f[4], r[0], r[1]
        opts = r[2] if len(r) > 2 else ""
        if needles is None:  # anything of this run
            return ((fstype == "overlay" and str(self.tmproot) + "/" in opts) or
                    (source in {dev for dev, _ in self.loops} and root.startswith("/.machines/")))
        return ((fstype == "overlay" and any(n in opts for n in needles)) or
                (source in {dev for dev, _ in self.loops} and any(n in root for n in needles)) or
                any(n in mount_point for n in needles))

    def our_processes(self, cmd_needles=None, mnt_needles=None):
        """Live processes that belong to this run: their command line names one of cmd_needles (by
        default our temp dir), or they live in another mount namespace holding a mount of one of our
        machines (see machine_mount; mnt_needles=[] looks at command lines only)."""
        cmd_needles = cmd_needles if cmd_needles is not None else [str(self.tmproot) + "/"]
        found = {}
        me = os.getpid()
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == me:
                continue
            try:
                st = proc_stat(d)
                if st is None or st[0] in ("Z", "X"):
                    continue
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                hit = any(n in cmd for n in cmd_needles)
                if not hit and mnt_needles != [] and os.stat(f"/proc/{d}/ns/mnt").st_ino != self.host_mnt_ns:
                    with open(f"/proc/{d}/mountinfo") as f:
                        hit = any(self.machine_mount(line, mnt_needles) for line in f)
            except OSError:  # gone, or going
                continue
            if hit:
                found[(int(d), st[1])] = f"{d} {st[2]}: {cmd[:160]}"
        return found

    def propagate_dirs(self):
        try:
            names = os.listdir(PROPAGATE_DIR)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if n.startswith("nspawn-runner-") and n[len("nspawn-runner-"):].split("-")[0] in self.ids)

    def our_mounts(self):
        """The host's mounts that concern this run (other users of the host mount things too)."""
        prefixes = (str(self.tmproot), str(self.cache_state), "/run/systemd/nspawn")
        devs = {dev for dev, _ in self.loops}
        return {m: n for m, n in host_mounts().items()
                if m[0].startswith(prefixes) or m[2].startswith(prefixes) or m[2] in devs or "nspawn-runner" in m[0]}

    def snapshot(self, state_dir):
        return {"files": tree_snapshot(state_dir), "mounts": self.our_mounts(),
                "processes": self.our_processes(), "propagate": {n: 1 for n in self.propagate_dirs()}}

    def snapshot_diff(self, a, b, ignore_files=None):
        parts = []
        fa, fb = a["files"], b["files"]
        if ignore_files:
            fa = {k: v for k, v in fa.items() if not ignore_files(k)}
            fb = {k: v for k, v in fb.items() if not ignore_files(k)}
        for key, fa_, fb_ in (("files", fa, fb), ("mounts", a["mounts"], b["mounts"]),
                              ("processes", a["processes"], b["processes"]),
                              ("propagate", a["propagate"], b["propagate"])):
            d = diff_dicts(fa_, fb_, f"state dir {key}" if key == "files" else key)
            if d:
                parts.append(d)
        return "; ".join(parts)

    def job_processes(self, job):
        needle = f"/.machines/{job.key}/"
        return self.our_processes([needle], [needle])

    def wait_job_gone(self, job, timeout=5.0):
        """Liveness: after cleanup nothing of the job may remain (allowing time for exits to finish)."""
        needle = f"/.machines/{job.key}/"
        deadline = time.monotonic() + timeout
        while True:
            problems = []
            if os.path.lexists(job.machine_dir):
                problems.append(f"{job.machine_dir} exists: {sorted(os.listdir(job.machine_dir))[:6] if os.path.isdir(job.machine_dir) else ''}")
            procs = self.job_processes(job)
            if procs:
                problems.append("processes: " + "; ".join(list(procs.values())[:3]))
            if (PROPAGATE_DIR / f"nspawn-runner-{job.key}").exists():
                problems.append(f"{PROPAGATE_DIR}/nspawn-runner-{job.key} exists")
            if os.path.lexists(CONTROL_RUN_DIR / job.key):
                problems.append(f"{CONTROL_RUN_DIR}/{job.key} exists")
            mounts = [m for m in host_mounts() if needle in m[0] or needle in m[2]]
            if mounts:
                problems.append(f"host mounts: {mounts[:3]}")
            if not problems:
                return
            if time.monotonic() > deadline:
                raise Fail(f"job {job.id} left behind: " + "; ".join(problems))
            time.sleep(0.1)

    def wait_no_marker(self, marker, timeout):
        """Liveness: waits until no live process has marker in its command line; returns the rest."""
        deadline = time.monotonic() + timeout
        while True:
            procs = self.our_processes([marker], [])
            if not procs or time.monotonic() > deadline:
                return procs
            time.sleep(0.05)

    def wait_marker(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.our_processes([marker], []):
                return True
            time.sleep(0.05)
        return False

    # -- fixtures, made on first use --
    def chroot(self):
        img = self.cache_state / IMAGE
        if "chroot" in self.backend_errors:
            raise Fail(self.backend_errors["chroot"])
        try:
            if not img.is_dir():
                self.create_chroot()
            self.ensure_python(img)
        except Fail as e:
            self.backend_errors["chroot"] = f"cached chroot: {e}"
            raise Fail(self.backend_errors["chroot"])
        return img

    def ensure_python(self, img):
        """The lifecycle tests run Ansible in copies of the chroot: a cache made before it included
        python3 gets it, once, under the image's lock (the product's protocol: flock, then check that
        the file locked is still the one at the path, and remove it when done)."""
        if os.path.lexists(img / "usr/bin/python3"):
            return
        locks = self.cache_state / ".locks"
        locks.mkdir(mode=0o700, exist_ok=True)
        path = locks / IMAGE
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            if os.path.lexists(img / "usr/bin/python3"):
                return
            self.say(f"# installing python3 into the cached chroot {img} (once) …")
            t0 = time.monotonic()
            r = self.apt_install(img, ["python3"])
            if r.returncode != 0 or not os.path.lexists(img / "usr/bin/python3"):
                raise Fail(f"installing python3 into {img}: exit {r.returncode}: {short(r.stderr or r.stdout)}")
            self.say(f"# python3 installed in {time.monotonic() - t0:.0f} s")
        finally:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            os.close(fd)

    def i386_chroot(self):
        """The cached i386 chroot: <cache>/state/bookworm-i386, made once with the product's
        chroot-create --arch i386 (about 45 s), like the shared chroot."""
        img = self.cache_state / IMAGE_I386
        if "i386" in self.backend_errors:
            raise Fail(self.backend_errors["i386"])
        if not img.is_dir():
            try:
                self.create_chroot(IMAGE_I386, ["--arch", "i386", "--suite", IMAGE])
            except Fail as e:
                self.backend_errors["i386"] = f"cached i386 chroot: {e}"
                raise Fail(self.backend_errors["i386"])
        return img

    def create_chroot(self, name=IMAGE, extra=None):
        img = self.cache_state / name
        lock = self.cache_state / ".locks" / name
        if lock.exists():
            # Another chroot-create (an earlier or parallel run) may hold the image's lock: wait for it.
            with open(lock) as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    self.say(f"# waiting for another chroot-create of {img} to finish …")
                    fcntl.flock(f, fcntl.LOCK_EX)
                fcntl.flock(f, fcntl.LOCK_UN)
            if img.is_dir():
                return
        self.cache_state.mkdir(parents=True, exist_ok=True)
        if extra is None:
            extra = ["--suite", IMAGE, "--include", "busybox,python3"]
        argv = [self.ex.binary, "--state-dir", str(self.cache_state), "chroot-create", name] + list(extra)
        self.say(f"# creating the cached chroot {name} (once, in {self.cache_state.parent}): {' '.join(argv)}")
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=self.clean_env(), process_group=0)
        last = [""]
        tail = collections.deque(maxlen=20)

        def reader():
            for raw in p.stdout:
                line = raw.decode(errors="replace").rstrip()
                last[0] = line
                tail.append(line)
                if line.startswith(("nspawn-runner", "E:", "W:")):
                    self.say(f"# {line}")

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            while p.poll() is None:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.say(f"# chroot-create: {time.monotonic() - t0:.0f} s … {last[0][:100]}")
                if time.monotonic() - t0 > 900:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait()
                    raise Fail("chroot-create took more than 15 minutes")
        except BaseException:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait()
            raise
        t.join(5)
        if p.returncode != 0 or not img.is_dir():
            raise Fail(f"chroot-create failed with exit {p.returncode}: {short(chr(10).join(tail))}")
        self.say(f"# chroot created in {time.monotonic() - t0:.0f} s")

    def state_dir(self, backend):
        """The state dir of a backend: 'overlay' (host file system, the image a symlink to the cached
        chroot) or 'btrfs' (a loop-mounted btrfs, the image a subvolume copy of the chroot)."""
        if backend in self.backends:
            return self.backends[backend]
        if backend in self.backend_errors:
            raise Fail(self.backend_errors[backend])
        try:
            chroot = self.chroot()
            if backend == "overlay":
                sd = self.tmproot / "overlay-state"
                sd.mkdir()
                (sd / IMAGE).symlink_to(chroot)
                (sd / "notadir").write_text("an image must be a directory\n")
                (sd / "dangling").symlink_to(sd / "no-such-dir")
            else:
                sd = self.setup_btrfs(chroot)
                (sd / "plain").symlink_to(chroot)  # not a subvolume
        except Fail as e:
            self.backend_errors[backend] = f"{backend} state dir: {e}"
            raise Fail(self.backend_errors[backend])
        except (OSError, subprocess.SubprocessError) as e:
            self.backend_errors[backend] = f"{backend} state dir: {e}"
            raise Fail(self.backend_errors[backend])
        self.backends[backend] = sd
        return sd

    def nested_image(self, backend):
        """NESTED_IMAGE in the backend's state dir: the shared chroot plus NESTED_PACKAGES, made once per
        run (apt in a copy of the chroot in the run's temp dir, the host's network for its mirror);
        overlayfs (and tmpfs) take that copy through a symlink, btrfs a subvolume copy of it. Not in
        the shared chroot: only these tests need them."""
        key = f"nested image on {backend}"
        if key in self.backend_errors:
            raise Fail(self.backend_errors[key])
        sd = Path(self.state_dir(backend))
        if os.path.lexists(sd / NESTED_IMAGE):
            return NESTED_IMAGE
        t0 = time.monotonic()
        try:
            root = self.tmproot / "nested-image"
            if not root.is_dir():
                self.nested_image_make(root)
            if backend == "btrfs":
                self.sh(["btrfs", "-q", "subvolume", "create", str(sd / NESTED_IMAGE)])
                self.sh(["cp", "-a", "--reflink=auto", f"{root}/.", str(sd / NESTED_IMAGE)], timeout=600)
            else:
                (sd / NESTED_IMAGE).symlink_to(root)
        except (Fail, OSError, subprocess.SubprocessError) as e:
            self.backend_errors[key] = f"{key}: {e}"
            raise Fail(self.backend_errors[key])
        self.say(f"# {NESTED_IMAGE} ready on {backend} in {time.monotonic() - t0:.0f} s")
        return NESTED_IMAGE

    def nested_image_make(self, root):
        made = root.with_name(root.name + ".new")
        shutil.rmtree(made, ignore_errors=True)
        made.mkdir()
        self.sh(["cp", "-a", "--reflink=auto", f"{self.chroot()}/.", str(made)], timeout=600)
        r = self.apt_install(made, NESTED_PACKAGES, "--no-install-recommends")
        if r.returncode != 0:
            raise Fail(f"apt-get install {' '.join(NESTED_PACKAGES)}: exit {r.returncode}: {short(r.stderr or r.stdout)}")
        made.rename(root)

    def apt_install(self, root, packages, *options):
        """apt-get install in the chroot root, through systemd-nspawn on the host's network (the chroot's
        sources name the mirror); apt-get update only when the chroot's lists are too old."""
        apt = " ".join(["apt-get -q -y", *options, "install", *packages])
        cmd = f"export DEBIAN_FRONTEND=noninteractive; {{ {apt} || {{ apt-get -q update && {apt}; }}; }} && apt-get clean"
        return subprocess.run(["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "-D", str(root),
                               "--link-journal=no", "--console=pipe", "--", "/bin/sh", "-c", cmd],
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=900,
                              env=dict(self.clean_env(), SYSTEMD_NSPAWN_LOCK="0"))

    def sh(self, argv, timeout=300):
        r = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise Fail(f"{' '.join(map(str, argv))}: exit {r.returncode}: {short(r.stderr or r.stdout)}")
        return r.stdout.decode().strip()

    def setup_btrfs(self, chroot):
        self.say("# setting up a loop-mounted btrfs state dir …")
        t0 = time.monotonic()
        img = self.tmproot / "btrfs.img"
        mnt = self.tmproot / "btrfs-state"
        self.sh(["truncate", "-s", "4G", str(img)])
        self.sh(["mkfs.btrfs", "-q", str(img)])
        dev = self.sh(["losetup", "--find", "--show", str(img)])
        self.loops.append((dev, str(img)))
        mnt.mkdir()
        self.sh(["mount", dev, str(mnt)])
        self.own_mounts.append(str(mnt))
        self.sh(["btrfs", "-q", "subvolume", "create", str(mnt / IMAGE)])
        self.sh(["cp", "-a", "--reflink=auto", f"{chroot}/.", str(mnt / IMAGE)], timeout=600)
        self.say(f"# btrfs state dir ready in {time.monotonic() - t0:.0f} s ({dev} on {mnt})")
        return mnt

    def asan(self):
        """The sanitized executor; builds it when missing."""
        if self.asan_ex:
            return self.asan_ex
        if self.asan_error:
            raise Fail(self.asan_error)
        d = self.asan_build
        if not (d / "nspawn-runner").exists() or not (d / "nspawn-runner-init").exists():
            self.say(f"# building the sanitized build in {d} …")
            r = subprocess.run(["make", "-C", str(REPO), f"B={os.path.relpath(d, REPO)}", f"SANITIZE={SANITIZE}", "all"],
                               capture_output=True, stdin=subprocess.DEVNULL, timeout=900)
            if r.returncode != 0:
                msg = short(r.stderr or r.stdout, 300)
                if not (d / "nspawn-runner").exists():
                    self.asan_error = f"make of the sanitized build failed: {msg}"
                    raise Fail(self.asan_error)
                self.asan_incomplete = f"make B={d.name} SANITIZE=… all failed: {msg}"
        if (d / "nspawn-runner-init").exists():
            binary = d / "nspawn-runner"
        else:
            # The init is never sanitized (it is linked statically): pair the sanitized CLI with the
            # ordinary init in a directory of our own, so that the sanitizer pass can still run.
            own = self.tmproot / "asan"
            own.mkdir(exist_ok=True)
            shutil.copy2(d / "nspawn-runner", own / "nspawn-runner")
            shutil.copy2(self.build / "nspawn-runner-init", own / "nspawn-runner-init")
            binary = own / "nspawn-runner"
        self.asan_ex = Executor(self, binary, asan=True)
        return self.asan_ex

    # -- teardown --
    def state_dirs(self):
        return list(self.backends.values()) + self.extra_state_dirs

    def machines_left(self):
        left = []
        for sd in self.state_dirs():
            m = Path(sd) / ".machines"
            if m.is_dir():
                left += [str(m / n) for n in os.listdir(m)]
        return left

    def control_dirs_left(self):
        """The control directories on /run whose machine directory is (or was) in this run's temp dir."""
        root = str(self.tmproot) + "/"
        left = []
        for d in CONTROL_RUN_DIR.iterdir() if CONTROL_RUN_DIR.is_dir() else ():
            try:
                if os.readlink(d / "machine").startswith(root):
                    left.append(str(d))
            except OSError:
                pass
        return left

    def mounts_under_tmproot(self):
        root = str(self.tmproot) + "/"
        return sorted(m[0] for m in host_mounts() if m[0].startswith(root))

    def make_jobs_netns(self):
        """Jobs run in the default network mode, isolated: their veths, nft tables and forwarding are
        made in a network namespace of the suite's own (loopback only), never the host's; every call
        of NETNS_COMMANDS enters it. Everything else (debootstrap, apt in maintenance) keeps the
        host's network for the package mirror."""
        name = f"nspawn-runner-it-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        self.jobs_netns = name
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
        JOBS_NETNS_PREFIX[:] = ["nsenter", f"--net=/run/netns/{name}", "--"]

    def teardown(self):
        """Takes down whatever this run left, in any state; idempotent. Returns what it had to do."""
        if self.torn_down:
            return []
        self.torn_down = True
        notes = []
        if self.nspawn_run:
            notes += self.nspawn_run.remove()
        for sd in self.state_dirs():
            m = Path(sd) / ".machines"
            if not m.is_dir():
                continue
            for n in sorted(os.listdir(m)):
                notes.append(f"machine {m / n} left: ran cleanup")
                try:
                    subprocess.run(JOBS_NETNS_PREFIX + [self.ex.binary, "--state-dir", str(sd), "cleanup", "--id", n], capture_output=True,
                                   timeout=60, env=self.clean_env(), stdin=subprocess.DEVNULL)
                except Exception as e:
                    notes.append(f"cleanup of {n}: {e}")
        procs = self.our_processes()
        for (pid, start), desc in procs.items():
            notes.append(f"process left, killed: {desc}")
            st = proc_stat(pid)
            if st and st[1] == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        while procs and time.monotonic() < deadline and self.our_processes():
            time.sleep(0.1)
        for n in self.propagate_dirs():
            notes.append(f"{PROPAGATE_DIR / n} left: removed")
            shutil.rmtree(PROPAGATE_DIR / n, ignore_errors=True)
        for mp in reversed(self.mounts_under_tmproot()):
            if mp not in self.own_mounts:
                notes.append(f"mount left: {mp}")
            r = subprocess.run(["umount", mp], capture_output=True)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", mp], capture_output=True)
        for dev, backing in self.loops:
            r = subprocess.run(["losetup", "-j", backing], capture_output=True, text=True)
            if dev in r.stdout:
                subprocess.run(["losetup", "-d", dev], capture_output=True)
        if not self.mounts_under_tmproot():
            shutil.rmtree(self.tmproot, ignore_errors=True)
        else:
            notes.append(f"{self.tmproot} kept: mounts remain under it")
        if self.jobs_netns:
            subprocess.run(["ip", "netns", "del", self.jobs_netns], capture_output=True)
            self.jobs_netns = None
            JOBS_NETNS_PREFIX.clear()
        return notes


# ---------------------------------------------------------------------------------------------------
# Tests. Each takes the suite and raises Fail with a short reason.

def end_job(s, job):
    """cleanup succeeds and leaves nothing of the job."""
    r = job.cleanup()
    check(r.rc == 0, f"cleanup of job {job.id}: {r.describe()}")
    s.wait_job_gone(job)


def expect_system_failure(r, what):
    lines = stderr_lines(r.err)
    check(r.rc == SYSTEM_FAILURE, f"{what}: expected exit {SYSTEM_FAILURE}, got {r.describe()}")
    check(len(lines) == 1, f"{what}: expected one line on stderr, got {len(lines)}: {short(r.err)}")


def t_gitlab_config(s, ex):
    version = ex.raw(["--version"])
    check(version.rc == 0 and version.text.startswith("nspawn-runner "), f"--version: {version.describe()}")
    sd = s.tmproot / "config-state"
    job = Job(s, ex, sd)
    with job:
        cfg = job.gitlab_config()
        r = job.call(["gitlab-config"])
        check(stderr_lines(r.err) == [], f"gitlab-config wrote to stderr: {short(r.err)}")
    for key, typ in (("builds_dir", str), ("cache_dir", str), ("builds_dir_is_shared", bool), ("hostname", str),
                     ("driver", dict)):
        check(isinstance(cfg.get(key), typ), f"gitlab-config: {key} missing or not {typ.__name__}: {cfg}")
    check(cfg["builds_dir"] == "/builds" and cfg["cache_dir"] == "/cache",
          f"builds_dir/cache_dir: {cfg['builds_dir']!r}, {cfg['cache_dir']!r}")
    check(cfg["builds_dir_is_shared"] is False, "builds_dir_is_shared is not false")
    check(cfg.get("shell") == "bash", f"shell {cfg.get('shell')!r}: gitlab-runner must write bash scripts")
    key = (cfg.get("job_env") or {}).get("NSPAWN_RUNNER_MACHINE", "")
    check(re.fullmatch(rf"{job.id}-[0-9a-f]{{8}}", key), f"job_env hands on no machine key JOBID-XXXXXXXX: {cfg.get('job_env')}")
    check(cfg["hostname"] == f"nspawn-runner-{key}", f"hostname {cfg['hostname']!r} is not the machine's name")
    drv = cfg["driver"]
    check(drv.get("name") == "nspawn-runner", f"driver.name {drv.get('name')!r}")
    check(isinstance(drv.get("version"), str) and version.text.split()[-1] == drv["version"],
          f"driver.version {drv.get('version')!r} differs from --version {version.text.strip()!r}")
    # Without a job id the host name stands in.
    r = ex.raw(["--state-dir", str(sd), "gitlab-config"])
    check(r.rc == 0, f"gitlab-config without a job: {r.describe()}")
    check(json.loads(r.out).get("hostname") == socket.gethostname(), f"hostname without a job: {short(r.out)}")
    check(not sd.exists(), "gitlab-config created the state dir")


def t_toml(s, ex):
    binary = os.path.realpath(ex.binary)
    weird = str(s.tmproot / "we\"ird \\ dir ü")

    def parse(args, env=None):
        r = ex.raw(args, env=env)
        check(r.rc == 0, f"toml {args}: {r.describe()}")
        try:
            return tomllib.loads(r.text)
        except tomllib.TOMLDecodeError as e:
            raise Fail(f"toml output does not parse ({e}): {short(r.out)}")

    def custom_of(doc, state_dir):
        check(isinstance(doc.get("runners"), list) and len(doc["runners"]) == 1, f"no single [[runners]]: {doc}")
        r0 = doc["runners"][0]
        check(r0.get("executor") == "custom", f"executor {r0.get('executor')!r}")
        check(r0.get("builds_dir") == "/builds" and r0.get("cache_dir") == "/cache", "builds_dir/cache_dir in toml")
        c = r0.get("custom") or {}
        for key, cmd in (("config", "gitlab-config"), ("prepare", "prepare"), ("run", "run"), ("cleanup", "cleanup")):
            check(isinstance(c.get(f"{key}_exec"), str) and os.path.realpath(c[f"{key}_exec"]) == binary,
                  f"{key}_exec {c.get(f'{key}_exec')!r} is not {binary}")
            a = c.get(f"{key}_args")
            want = (["--state-dir", state_dir] if state_dir else []) + [cmd]
            check(a == want, f"{key}_args {a!r}, expected {want!r}")
        for key in ("config_exec_timeout", "prepare_exec_timeout", "cleanup_exec_timeout", "graceful_kill_timeout",
                    "force_kill_timeout"):
            check(isinstance(c.get(key), int) and c[key] > 0, f"{key} missing or not a positive integer: {c.get(key)!r}")
        return c

    c = custom_of(parse(["--state-dir", str(s.tmproot / "toml-state"), "toml"]), str(s.tmproot / "toml-state"))
    # What the snippet says to run must work as written.
    r = ex.raw(c["config_args"], env=s.clean_env())
    check(r.rc == 0 and isinstance(json.loads(r.out), dict), f"running config_exec with config_args: {r.describe()}")
    custom_of(parse(["--state-dir", weird, "toml"]), weird)
    env = s.clean_env()
    env["NSPAWN_RUNNER_STATE_DIR"] = str(s.tmproot / "env-state")
    custom_of(parse(["toml"], env=env), str(s.tmproot / "env-state"))
    custom_of(parse(["toml"]), None)  # the default state dir needs no option
    # The Python tool's forms: `toml IMAGE` and `toml --default-image IMAGE` put it in prepare_args.
    for args in (["toml", IMAGE], ["toml", "--default-image", IMAGE], ["toml", IMAGE, "--default-image", IMAGE]):
        doc = parse(args)
        r0 = doc["runners"][0]
        check(r0.get("shell") == "bash", f"{args}: shell {r0.get('shell')!r}")
        check(r0["custom"].get("prepare_args") == ["prepare", "--default-image", IMAGE] and
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
        check(f"nspawn-runner-{job.key}" in r.text and job.key.startswith(f"{job.id}-"),
              f"prepare did not name the machine after the job: {short(r.out)}")
        check(stderr_lines(r.err) == [], f"prepare wrote to stderr: {short(r.err)}")
        want_backend = storage or backend
        got = job.state().get("backend")
        check(got == want_backend, f"machine storage is {got!r}, expected {want_backend}")
        outs = {}
        for stage, cmds in stage_plan(job, marker):
            outs[stage] = job.run_ok(stage, cmds).lines
        check(f"Running on {cfg['hostname']}" in outs["prepare_script"],
              f"hostname in the machine differs from config's {cfg['hostname']!r}: {outs['prepare_script']}")
        check("tmp-fs=tmpfs" not in outs["prepare_script"] and any(x.startswith("tmp-fs=") for x in outs["prepare_script"]),
              f"/tmp in the machine: {[x for x in outs['prepare_script'] if x.startswith('tmp-fs=')]}, expected the machine's disk")
        check("commits=1" in outs["get_sources"], f"git in get_sources: {outs['get_sources']}")
        check(f"cwd={job.project_dir}" in outs["build_script"], f"build_script cwd: {outs['build_script']}")
        check(marker in outs["build_script"], "the checkout of get_sources is not there in build_script")
        check(f"var={job.user_vars['MY_VAR']}" in outs["build_script"], f"variable mangled: {outs['build_script']}")
        check(f"job={job.id}" in outs["build_script"], "CI_JOB_ID not seen in the script")
        check("built" in outs["step_release"] and "after=built" in outs["after_script"], "files did not persist")
        for st in ("restore_cache", "download_artifacts", "archive_cache", "upload_artifacts_on_success"):
            check(any(line.startswith("WARNING: gitlab-runner not found") for line in outs[st]),
                  f"{st}: a gitlab-runner was found in the machine although the host has none")
        order = [line for line in outs["cleanup_file_variables"] if line in STAGES_SUCCESS]
        check(order == STAGES_SUCCESS, f"stages ran as {order}")
        check("driver-env=0" in outs["cleanup_file_variables"], "the driver's environment leaks into the stage")
        check("response-hidden" in outs["cleanup_file_variables"], "the job response file (with the token) is visible in the machine")
        # What proves a machine gone later must see this one now.
        st = job.state()
        seen = {pid for pid, _ in s.job_processes(job)}
        check({int(st.get("nspawn_pid", 0)), int(st.get("init_pid", 0))} <= seen,
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
            check(f"{name}=-1:{eperm}" in r.lines, f"{name} was not refused with EPERM: {r.lines}")
        check(f"keyctl=-1:{errno.ENOSYS}" in r.lines, f"keyctl was not refused with ENOSYS: {r.lines}")
        check(any(x.startswith("getppid=") and not x.startswith("getppid=-") for x in r.lines),
              f"an ordinary call failed: {r.lines}")
        check("Seccomp:\t2" in r.lines, f"no seccomp filter on the job's processes: {r.lines}")
        end_job(s, job)


def t_failure(s, ex, backend, storage=None):
    sd = s.state_dir(backend)
    with Job(s, ex, sd, prepare_args=["--storage", storage] if storage else []) as job:
        job.prepare()
        job.run_ok("get_sources", ["mkdir -p \"$CI_PROJECT_DIR\""])
        r = job.run("build_script", ["echo before-fail", "exit 42", "echo not-reached"])
        check(r.rc == BUILD_FAILURE, f"failing script: expected exit {BUILD_FAILURE}, got {r.describe()}")
        check("before-fail" in r.lines and "not-reached" not in r.lines, f"script output: {short(r.out)}")
        check(r.exit_file is not None, "BUILD_EXIT_CODE_FILE was not written")
        # gitlab-runner reads the first line as an integer: that is what allow_failure: exit_codes matches.
        first = r.exit_file.splitlines()[0] if r.exit_file else ""
        check(re.fullmatch(r"[0-9]+", first) is not None, f"BUILD_EXIT_CODE_FILE holds {r.exit_file!r}")
        check(int(first) == 42, f"BUILD_EXIT_CODE_FILE says {first}, the script exited 42")
        allowed = int(first) in [42]
        check(allowed, "allow_failure: exit_codes [42] would not match")
        # After a failure: after_script and the *_on_failure stages run in the same machine.
        job.run_ok("after_script", ["echo after-ran"])
        job.run_ok("archive_cache_on_failure", ["echo archiving"])
        job.run_ok("upload_artifacts_on_failure", ["echo uploading"])
        # A later failure with another code rewrites the file.
        r = job.run("step_extra", ["echo more", "exit 3"])
        check(r.rc == BUILD_FAILURE and (r.exit_file or "").strip() == "3", f"second failure: {r.describe()}, file {r.exit_file!r}")
        end_job(s, job)


def t_signal_exit(s, ex, backend):
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        r = job.run("build_script", ["echo dying", "kill -9 $$"])
        check(r.rc == BUILD_FAILURE, f"shell killed by SIGKILL: {r.describe()}")
        check((r.exit_file or "").strip() == "137", f"BUILD_EXIT_CODE_FILE {r.exit_file!r}, expected 137 (128+9)")
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
            check(want in r.lines, f"{want.split('-')[0]} did not persist across stages: {short(r.out)}")
        r = job.run_ok("after_script", [f"busybox wget -qO- http://127.0.0.1:{port}/index.html"])
        check(f"served-{token}" in r.lines, "the background server is gone in after_script")
        check(not port_open(port), "the job's server answers on the host's loopback: the job is not isolated")
        end_job(s, job)
        check(not port_open(port), f"the job's server still listens on port {port} after cleanup")


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
    check(not left, f"job processes survived cleanup: {list(left.values())[:3]}")
    after = tree_snapshot(image)
    d = diff_dicts(before, after, "base chroot")
    check(not d, f"the base chroot changed: {d}")


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
        check(not left, f"stage processes survive the cancel by more than 3 s: {list(left.values())[:2]}")
        call.wait(10)
        err = bytes(call.err)
        ex.check_sanitizer(err, "cancelled run")
        if sig == signal.SIGTERM:
            check(rc in (BUILD_FAILURE, SYSTEM_FAILURE), f"cancelled run: exit {rc} (not a failure code gitlab-runner knows), stderr: {short(err)}")
        # gitlab-runner goes on with after_script and the *_on_failure stages in the same machine.
        r = job.run_ok("after_script", ["cat /root/keep"])
        check("kept" in r.lines, f"after_script ran in another machine: {short(r.out)}")
        job.run_ok("upload_artifacts_on_failure", ["echo uploading"])
        end_job(s, job)


def t_stdin(s, ex, backend):
    data = b"".join(b"%06d %s\n" % (i, secrets.token_hex(24).encode()) for i in range(4000)) + bytes(range(256))
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        r = job.run("build_script", [], stdin_data=data,
                    raw_script="#!/usr/bin/env bash\nset -o errexit\ncat\n")
        check(r.rc == 0, f"cat stage: {r.describe()}")
        check(r.out == data, f"stdin came back changed: {len(r.out)} of {len(data)} bytes, first difference at "
                             f"{next((i for i, (a, b) in enumerate(zip(r.out, data)) if a != b), min(len(r.out), len(data)))}")
        # gitlab-runner's own script reads /dev/null even while the caller's stdin stays open.
        r = job.run("build_script", ["cat", "echo after-cat"], stdin_data=b"not for the script\n", stdin_hold=True,
                    timeout=30)
        check(r.rc == 0 and "after-cat" in r.lines and "not for the script" not in r.lines,
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
    check(host_file.exists() and host_file.read_text().strip() == token, f"{host_file} not on the host")
    with Job(s, ex, sd) as b:
        b.prepare()
        r = b.run_ok("restore_cache", [f"cat /cache/group/project/c-{token}", "echo builds=$(ls -A /builds 2>/dev/null | wc -l)"])
        check(token in r.lines, f"the cache of the first job is not in the second: {short(r.out)}")
        check("builds=0" in r.lines, f"the builds dir is not fresh per job: {short(r.out)}")
        end_job(s, b)
    check(host_file.exists(), "the cache did not survive the second job's cleanup")


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
        check(f"fake-gitlab-runner {token} cache-extractor --file x" in r.lines, f"host gitlab-runner not run in the machine: {short(r.out)}")
        check("/usr/local/bin/gitlab-runner" in r.lines, f"gitlab-runner not at /usr/local/bin: {short(r.out)}")
        check("read-only" in r.lines and "kept" in r.lines, f"gitlab-runner is not read-only in the machine: {short(r.out)}")
        check(fake.read_text() == content, "the host's gitlab-runner was changed by the job")
        end_job(s, job)


# -- Containment (issue 11): each attack tries only its first step (the open, the remount, the
# write of the value already there) and the test fails when that step succeeds; nothing on the host
# changes either way. Network attacks are the network's (isolated mode) to test.
ATTACK_PROBE = r'''
attempt() { name=$1; shift; if ( "$@" ) >/dev/null 2>&1; then echo "ATTACK $name: SUCCEEDED"; else echo "ATTACK $name: refused"; fi; }
attempt mknod-host-disk mknod /tmp/sda b 8 0
attempt mknod-loop mknod /tmp/loop0 b 7 0
attempt open-planted-block-node sh -c 'exec 3</planted-loop'
attempt open-planted-tty-node sh -c 'exec 3</planted-tty'
attempt write-core-pattern sh -c 'v=$(cat /proc/sys/kernel/core_pattern); printf "%s\n" "$v" > /proc/sys/kernel/core_pattern'
attempt write-proc-sys-after-remount sh -c 'mount -o remount,rw /proc/sys 2>/dev/null; v=$(cat /proc/sys/kernel/hostname); printf "%s\n" "$v" > /proc/sys/kernel/hostname && test "$(cat /proc/sys/kernel/hostname)" = "$v" && ! grep -q " /proc/sys .*ro," /proc/self/mountinfo && test -w /proc/sys/vm/drop_caches'
attempt open-sysrq-trigger sh -c 'exec 3>/proc/sysrq-trigger'
attempt remount-proc-sys-rw mount -o remount,rw /proc/sys
attempt umount-proc-sys umount /proc/sys
attempt remount-sys-rw mount -o remount,rw /sys
attempt umount-sys umount /sys
attempt read-kmsg-under-overmount sh -c 'umount /proc/kmsg && exec 3</proc/kmsg'
attempt open-host-tty sh -c 'exec 3</dev/tty'
attempt open-console sh -c 'exec 3</dev/console'
attempt remount-gitlab-runner-rw mount -o remount,rw,bind /usr/local/bin/gitlab-runner
attempt umount-gitlab-runner umount /usr/local/bin/gitlab-runner
attempt raw-socket python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'
attempt mount-host-proc-sysrq sh -c 'mkdir -p /tmp/p && mount -t proc proc /tmp/p && exec 3>/tmp/p/sysrq-trigger'
echo uid_map=$(cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')
'''

STILL_WORKS_PROBE = r'''
set -e
useradd -m -u 1000 builder
touch /tmp/f && chown builder:builder /tmp/f && echo "chown=$(stat -c %u:%g /tmp/f)"
cp /usr/bin/id /tmp/suid-id && chmod 4755 /tmp/suid-id && echo "setuid=$(setpriv --reuid=1000 --regid=1000 --clear-groups /tmp/suid-id -u)"
mkdir -p /tmp/pkg/DEBIAN /tmp/pkg/usr/share/doc/it-pkg
printf 'Package: it-pkg\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n' > /tmp/pkg/DEBIAN/control
echo hello > /tmp/pkg/usr/share/doc/it-pkg/hello
dpkg-deb --root-owner-group --build /tmp/pkg /tmp/it-pkg.deb >/dev/null && dpkg -i /tmp/it-pkg.deb >/dev/null && echo "dpkg=$(dpkg-query -W -f='${Status}' it-pkg)"
echo "unshare=$(unshare -U -r id -u)"
echo "nested-mknod=$(unshare -U -r sh -c 'mknod /tmp/n c 1 3 2>/dev/null && echo yes || echo no')"
mkdir -p /cache/group/project && echo r > /cache/group/project/by-root && su builder -c 'echo b > /tmp/by-builder' && install -o builder -g builder /tmp/by-builder /cache/group/project/by-builder
echo "cache=$(stat -c %u /cache/group/project/by-root),$(stat -c %u /cache/group/project/by-builder)"
'''


def plant_device_nodes(job, backend):
    """Device nodes the host leaves in the machine's root, as a disk in hand would: a loop device and
    a host tty (world-readable). Overlay: in its upper dir; btrfs: in the snapshot. None on tmpfs
    (its upper layer is in the supervisor's own mount namespace)."""
    base = Path(job.machine_dir) / ("root" if backend == "btrfs" else "upper")
    planted = []
    for name, dev in (("planted-loop", (stat.S_IFBLK, 7, 0)), ("planted-tty", (stat.S_IFCHR, 4, 1))):
        os.mknod(base / name, 0o666 | dev[0], os.makedev(dev[1], dev[2]))
        os.chmod(base / name, 0o666)
        planted.append(base / name)
    return planted


def t_sec_attacks(s, ex, backend, storage=None):
    """Root in a job is not root on the host: every attack's first step is refused."""
    sd = s.state_dir(backend)
    token = secrets.token_hex(8)
    bindir = s.tmproot / f"fakebin-sec-{token}"
    bindir.mkdir()
    fake = bindir / "gitlab-runner"
    fake.write_text("#!/bin/sh\necho fake\n")
    fake.chmod(0o755)
    with Job(s, ex, sd, prepare_args=["--storage", storage] if storage else [], path_prefix=str(bindir)) as job:
        job.prepare()
        st = job.state()
        base = int(st.get("uid_base", "0"))
        check(base >= 0x70000000 and base % 65536 == 0, f"no user id range in the machine's state: {st}")
        if storage != "tmpfs":
            plant_device_nodes(job, backend)
        r = job.run_ok("build_script", [ATTACK_PROBE])
        results = [line for line in r.lines if line.startswith("ATTACK ")]
        check(len(results) == ATTACK_PROBE.count("\nattempt "), f"not every attack reported: {results}")
        if storage == "tmpfs":
            results = [x for x in results if "planted" not in x]
        won = [x for x in results if not x.endswith(": refused") and "planted" not in x or "SUCCEEDED" in x]
        check(not won, f"attacks succeeded: {won}")
        # The job is one user namespace below the machine's (which locks the machine's mounts), with
        # the machine's 65536 ids; the machine's are the range of its state.
        check("uid_map=0 0 65536" in r.lines, f"uid map in the job is not 0 0 65536: {short(r.out)}")
        init_map = " ".join(Path(f"/proc/{st['init_pid']}/uid_map").read_text().split())
        check(init_map == f"0 {base} 65536", f"uid map of the machine's init is not 0 {base} 65536: {init_map}")
        end_job(s, job)


def t_sec_still_works(s, ex, backend, storage=None):
    """What a build needs as root still works: chown, setuid programs, dpkg -i of a local package,
    nested user namespaces; and files in /cache keep their owners for the next job."""
    sd = s.state_dir(backend)
    with Job(s, ex, sd, prepare_args=["--storage", storage] if storage else []) as a:
        a.prepare()
        r = a.run_ok("build_script", [STILL_WORKS_PROBE])
        for want in ("chown=1000:1000", "setuid=0", "dpkg=install ok installed", "unshare=0", "nested-mknod=no",
                     "cache=0,1000"):
            check(want in r.lines, f"{want} not seen: {short(r.out)}")
        end_job(s, a)
    on_host = Path(sd) / ".cache" / "group" / "project"
    owners = (os.stat(on_host / "by-root").st_uid, os.stat(on_host / "by-builder").st_uid)
    check(owners == (0, 1000), f"/cache files are owned by {owners} on the host, expected (0, 1000)")
    with Job(s, ex, sd) as b:
        b.prepare()
        r = b.run_ok("build_script", ["echo next=$(stat -c %u /cache/group/project/by-root),"
                                      "$(stat -c %u /cache/group/project/by-builder)",
                                      "echo x >> /cache/group/project/by-root && echo appended"])
        check("next=0,1000" in r.lines and "appended" in r.lines, f"the next job sees other owners: {short(r.out)}")
        end_job(s, b)
    shutil.rmtree(on_host, ignore_errors=True)


# Nested sandboxes in a job: bubblewrap with every namespace and a fresh /proc (its PID 1 is bwrap, the
# job's is the machine's init); podman as the README shows it, with an image imported from a tarball
# made here. Then what a nested user, mount and PID namespace with a fresh procfs could uncover:
# nspawn's overmounts hide nothing a job may use, and /sys stays read-only.
NESTED_PROBE = r'''
set -e
echo "bwrap=$(bwrap --unshare-all --bind / / --dev /dev --proc /proc sh -c 'echo uid=$(id -u) pid1=$(head -c 5 /proc/1/cmdline)')"
tar -C / -chf /tmp/mini.tar bin/busybox $(ldd /bin/busybox | grep -o '/[^ ]*' | sed 's|^/||')
podman --storage-driver vfs import -q /tmp/mini.tar localhost/mini >/dev/null
echo "podman=$(podman --storage-driver vfs run --rm --network=host --cgroups=disabled localhost/mini /bin/busybox sh -c 'echo pid=$$ $(/bin/busybox ls /bin)')"
echo "podman-images=$(podman --storage-driver vfs images --format '{{.Repository}}')"
echo "fresh-proc=$(unshare -U -r -m -p -f --mount-proc sh -c 'head -c 6 /proc/1/stat')"
attempt() { name=$1; shift; if unshare -U -r -m -p -f --mount-proc sh -c "$*" >/dev/null 2>&1; then echo "NESTED $name: SUCCEEDED"; else echo "NESTED $name: refused"; fi; }
attempt write-core-pattern 'v=$(cat /proc/sys/kernel/core_pattern); printf "%s\n" "$v" > /proc/sys/kernel/core_pattern'
attempt open-sysrq-trigger 'exec 3>/proc/sysrq-trigger'
attempt read-kmsg 'exec 3</proc/kmsg'
attempt write-hostname 'v=$(cat /proc/sys/kernel/hostname); printf "%s\n" "$v" > /proc/sys/kernel/hostname'
attempt write-irq-affinity 'v=$(cat /proc/irq/default_smp_affinity); printf "%s\n" "$v" > /proc/irq/default_smp_affinity'
attempt remount-sysfs-rw 'mount -o remount,rw /sys'
'''


def t_sec_nested(s, ex, backend, storage=None):
    """Nested sandboxes work without privileges: bubblewrap and podman run a command in a job (unshare
    -U -r: t_sec_still_works); a fresh procfs in a nested user and PID namespace is writable nowhere the
    job's /proc is not."""
    sd = s.state_dir(backend)
    image = s.nested_image(backend)
    with Job(s, ex, sd, image=image, prepare_args=["--storage", storage] if storage else []) as job:
        job.prepare()
        r = job.run_ok("build_script", [NESTED_PROBE], timeout=180)
        check("bwrap=uid=0 pid1=bwrap" in r.lines, f"bwrap in the job (PID 1 of its /proc is bwrap): {short(r.out, 600)}")
        check("podman-images=localhost/mini" in r.lines, f"podman import in the job: {short(r.out, 600)}")
        podman = [line for line in r.lines if line.startswith("podman=")]
        check(podman == ["podman=pid=1 busybox"], f"podman run in the job (its command PID 1, the image's /bin): {short(r.out, 600)}")
        # The attempts below run with a procfs of their own (PID 1 in it is their shell), not the job's.
        check("fresh-proc=1 (sh)" in r.lines, f"no fresh procfs in a nested namespace: {short(r.out, 600)}")
        results = [line for line in r.lines if line.startswith("NESTED ")]
        check(len(results) == NESTED_PROBE.count("\nattempt "), f"not every attempt reported: {results}")
        won = [x for x in results if not x.endswith(": refused")]
        check(not won, f"a nested namespace uncovered: {won}")
        end_job(s, job)


def t_sec_ranges(s, ex, backend, n=4):
    """Concurrent machines get distinct id ranges; cleanup frees them for the next jobs."""
    sd = s.state_dir(backend)
    jobs = [Job(s, ex, sd) for _ in range(n)]
    try:
        for j in jobs:
            j.prepare()
        bases = [j.state().get("uid_base") for j in jobs]
        check(len(set(bases)) == n and None not in bases, f"ranges of {n} concurrent machines: {bases}")
        for j in jobs:
            end_job(s, j)
    finally:
        for j in jobs:
            j.__exit__(None, None, None)
    with Job(s, ex, sd) as j:
        j.prepare()
        check(j.state().get("uid_base") == str(0x70000000), f"the first range was not freed: {j.state()}")
        end_job(s, j)


def t_sec_devices_cgroup(s, ex, backend):
    """Off systemd, the machine is in a devices cgroup that lists only the harmless set, and in a pids,
    memory and cpu cgroup of its own; all of them go with cleanup."""
    sd = s.state_dir(backend)
    with Job(s, ex, sd) as job:
        job.prepare()
        cgs = Path(job.machine_dir, "cgroups").read_text().split()
        dev = [c for c in cgs if "/devices/" in c]
        check(len(dev) == 1, f"no devices cgroup recorded: {cgs}")
        allowed = Path(dev[0], "devices.list").read_text().split("\n")
        check("a *:* rwm" not in allowed and "c 1:3 rwm" in allowed and not any(x.startswith("b ") for x in allowed),
              f"devices.list of the machine: {allowed}")
        nspawn = int(job.state()["nspawn_pid"])
        for c in cgs:
            check(str(nspawn) in Path(c, "cgroup.procs").read_text().split(), f"systemd-nspawn is not in {c}")
        end_job(s, job)
    left = [c for c in cgs if os.path.exists(c)]
    check(not left, f"cgroups left after cleanup: {left}")


def sockets_under(root):
    """Every unix socket below root (not following symlinks)."""
    found = []
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            try:
                if stat.S_ISSOCK(os.lstat(os.path.join(d, n)).st_mode):
                    found.append(os.path.join(d, n))
            except OSError:
                pass
    return found


def t_sec_control_socket(s, ex, backend, storage=None):
    """The machines' control sockets are on the host's /run, not on the state dir's disk: whoever mounts
    that disk elsewhere finds none, a job does not see them, and from a machine's user namespace another
    machine's is out of reach (its directory is root's, 0700)."""
    sd = s.state_dir(backend)
    args = ["--storage", storage] if storage else []
    with Job(s, ex, sd, prepare_args=args) as a, Job(s, ex, sd, prepare_args=args) as b:
        a.prepare()
        b.prepare()
        # A disk in hand: the state dir's file system mounted elsewhere, as the host sees it (btrfs: the
        # loop device mounted once more).
        mnt = Path(tempfile.mkdtemp(prefix="disk-in-hand.", dir=s.tmproot))
        dev = next((d for d, _ in s.loops), None) if backend == "btrfs" else None
        s.sh(["mount", dev, str(mnt)] if dev else ["mount", "--bind", str(sd), str(mnt)])
        try:
            found = sockets_under(mnt / ".machines")
            check(not found, f"sockets on the state dir's disk: {found[:3]}")
            check(not (mnt / ".machines" / b.key / "control").exists(), "the machine's directory still has control/")
        finally:
            s.sh(["umount", str(mnt)])
            mnt.rmdir()
        for job in (a, b):
            run_dir = CONTROL_RUN_DIR / job.key
            sock = run_dir / "control" / "control.sock"
            check(run_dir.is_dir(), f"no {run_dir}")
            st = os.lstat(run_dir)
            check(stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o700,
                  f"{run_dir}: mode {stat.S_IMODE(st.st_mode):o}, owner {st.st_uid}")
            check(stat.S_ISSOCK(os.lstat(sock).st_mode), f"{sock} is not a socket")
            check(os.readlink(run_dir / "machine") == job.machine_dir, f"{run_dir}/machine does not name {job.machine_dir}")
            fs = s.sh(["stat", "-f", "-c", "%T", str(sock)])
            check(fs == "tmpfs" and os.lstat(sock).st_dev != os.stat(sd).st_dev, f"the socket is on {fs}, the state dir's device")
            on_disk = sockets_under(job.machine_dir)
            check(not on_disk, f"sockets in the machine's directory: {on_disk[:3]}")
        # From job a: the host's /run is not the machine's; its own control directory is covered.
        other = CONTROL_RUN_DIR / b.key / "control" / "control.sock"
        r = a.run_ok("build_script", [f"test -e {other} && echo other=seen || echo other=unseen",
                                      "echo own=$(ls -A /run/nspawn-runner-control | wc -l)"])
        check("other=unseen" in r.lines and "own=0" in r.lines, f"what job a sees: {short(r.out)}")
        # From a's user namespace, but in the host's mount namespace (an escape a would need first):
        # b's socket cannot even be looked up.
        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n"
                 "try: s.connect(sys.argv[1])\nexcept PermissionError: print('refused')\nelse: print('CONNECTED')")
        r = subprocess.run(["nsenter", "-t", a.state()["init_pid"], "--user", "/usr/bin/python3", "-c", probe, str(other)],
                           capture_output=True, text=True, timeout=30)
        check(r.stdout.strip() == "refused", f"b's socket from a's user namespace: {r.stdout.strip()} {short(r.stderr)}")
        end_job(s, a)
        end_job(s, b)


def t_gc_control_dirs(s, ex):
    """gc removes the control directories on /run of machines that are gone (of any state dir) and
    keeps the others; a machine whose control directory went (as with a reboot's /run) is dead to gc."""
    sd = s.state_dir("overlay")
    elsewhere = Path(tempfile.mkdtemp(prefix="other-state.", dir=s.tmproot))
    made = {}
    for what, target in (("gone", s.tmproot / "no-such-state" / ".machines" / "x"), ("unlinked", None),
                         ("elsewhere", elsewhere)):
        d = CONTROL_RUN_DIR / s.next_id()
        (d / "control").mkdir(parents=True)
        if target:
            (d / "machine").symlink_to(target)
        made[what] = d
    try:
        with Job(s, ex, sd) as job:
            job.prepare()
            gc_counts(ex.raw(["--state-dir", str(sd), "gc"], timeout=120))
            left = {w: d.exists() for w, d in made.items()}
            check(left == {"gone": False, "unlinked": False, "elsewhere": True}, f"after gc, present: {left}")
            check((CONTROL_RUN_DIR / job.key).is_dir(), "gc removed a live machine's control directory")
            r = job.run_ok("build_script", ["echo alive"])
            check("alive" in r.lines, f"the job after gc: {short(r.out)}")
            # /run emptied under a running machine: no one can reach it any more, gc takes it down.
            init = int(job.state()["init_pid"])
            shutil.rmtree(CONTROL_RUN_DIR / job.key)
            r = job.run("after_script", ["echo must-not-run"])
            expect_system_failure(r, "run without the control directory")
            machines = gc_counts(ex.raw(["--state-dir", str(sd), "gc"], timeout=120))[0]
            check(machines == 1, f"gc removed {machines} machines, expected the one without a control directory")
            s.wait_job_gone(job)
            check(not process_alive(init), "the machine's init survived gc")
            end_job(s, job)
    finally:
        for d in made.values():
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(elsewhere, ignore_errors=True)


# Forks up to 200 sleeping children, takes them all down and fails: the next stage has its tasks back.
FORK_BOMB = """python3 -c '
import os, time
kids = []
try:
    for i in range(200):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
except OSError as e:
    print("fork refused after", len(kids), e)
for pid in kids:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
raise SystemExit(3)'"""


def t_sec_limits(s, ex, backend, storage=None):
    """A bounded fork bomb and memory hog hit the job's limits (from the configuration, one from the
    image's playbook): each stage fails as a build failure with one line naming the limit, and the
    next stage and the next job work. The bounds keep the host safe even if a limit were missing."""
    sd = s.state_dir(backend)
    conf = s.tmproot / f"limits-conf-{secrets.token_hex(4)}"
    conf.mkdir()
    (conf / "nspawn-runner.conf").write_text("job_tasks_max = 64\njob_memory_max = 256M\njob_swap_max = off\n")
    (conf / f"{IMAGE}.yaml").write_text("- hosts: all\n  vars:\n    nspawn_runner_job_memory_max: 128M\n  tasks: []\n")
    try:
        with Job(s, ex, sd, prepare_args=["--storage", storage] if storage else []) as job:
            job.env_override["NSPAWN_RUNNER_CONFIG_DIR"] = str(conf)
            job.prepare()
            r = job.run("build_script", [FORK_BOMB])
            check(r.rc == BUILD_FAILURE, f"fork bomb: {r.describe()}")
            lines = [x for x in stderr_lines(r.err) if "limit" in x]
            check(lines == ["nspawn-runner: The job hit its tasks limit (job_tasks_max = 64 tasks): a fork was refused."],
                  f"fork bomb: no one line naming the limit: {short(r.err)}")
            r = job.run("build_script", ["python3 -c 'b = bytearray(600 << 20); print(len(b))'"])
            check(r.rc == BUILD_FAILURE, f"memory hog: {r.describe()}")
            lines = [x for x in stderr_lines(r.err) if "limit" in x]
            check(lines == ["nspawn-runner: The job hit its memory limit (job_memory_max = 128.0 MiB): the kernel killed a "
                            "process."], f"memory hog: no one line naming the playbook's limit: {short(r.err)}")
            r = job.run_ok("after_script", ["echo still-here"])
            check("still-here" in r.lines, "the stage after the limits did not run")
            check(stderr_lines(r.err) == [], f"a stage within the limits reports one: {short(r.err)}")
            end_job(s, job)
        with Job(s, ex, sd) as job:
            job.prepare()
            job.run_ok("build_script", ["python3 -c 'b = bytearray(300 << 20)'", "for i in $(seq 100); do true & done; wait"])
            end_job(s, job)
    finally:
        shutil.rmtree(conf, ignore_errors=True)


def btrfs_fs_uuid(s, mnt):
    out = s.sh(["btrfs", "filesystem", "show", str(mnt)])
    m = re.search(r"uuid: ([0-9a-f-]{36})", out)
    if not m:
        raise Fail(f"no uuid in btrfs filesystem show: {short(out)}")
    return m.group(1)


def t_disk_limit(s, ex, backend, storage=None):
    """job_disk_max: on tmpfs the file system's size, on btrfs the snapshot's qgroup (quotas switched on
    by prepare). A stage writing past it fails as a build failure with one line naming the limit, one
    under it works, a stage after it works, and so does the next job; cleanup leaves no qgroup. On
    overlayfs prepare warns once that it is not enforced."""
    sd = s.state_dir(backend)
    conf = s.tmproot / f"disk-conf-{secrets.token_hex(4)}"
    conf.mkdir()
    (conf / "nspawn-runner.conf").write_text("job_disk_max = 64M\n")
    where = storage or backend
    qgroups = None
    if where == "btrfs":
        qgroups = Path("/sys/fs/btrfs") / btrfs_fs_uuid(s, sd) / "qgroups"
        quotas_were_on = qgroups.exists()
    ids = []
    try:
        for n in range(2):
            with Job(s, ex, sd, prepare_args=["--storage", storage] if storage else []) as job:
                job.env_override["NSPAWN_RUNNER_CONFIG_DIR"] = str(conf)
                r = job.prepare()
                warn = [x for x in stderr_lines(r.err) if "job_disk_max" in x]
                if where == "overlay":
                    check(len(warn) == 1 and "not enforced" in warn[0], f"overlay: no one warning: {short(r.err)}")
                    r = job.run("build_script", ["exit 1"])
                    check(r.rc == BUILD_FAILURE and not [x for x in stderr_lines(r.err) if "limit" in x], f"overlay: {r.describe()}")
                    end_job(s, job)
                    return
                check(not [x for x in warn if "not enforced" in x], f"{where}: warned: {short(r.err)}")
                if where == "btrfs":
                    ids.append(int(s.sh(["btrfs", "inspect-internal", "rootid", str(Path(job.machine_dir) / "root")])))
                    check((qgroups / f"0_{ids[-1]}").exists(), f"btrfs: the snapshot has no qgroup ({qgroups})")
                r = job.run_ok("build_script", ["dd if=/dev/zero of=/var/tmp/small bs=1M count=16 status=none", "sync",
                                                "rm /var/tmp/small", "echo under-the-cap"])
                check("under-the-cap" in r.lines and stderr_lines(r.err) == [], f"under the cap: {short(r.out + r.err)}")
                if n:
                    end_job(s, job)
                    break
                r = job.run("build_script", ["dd if=/dev/zero of=/var/tmp/big bs=1M count=200 status=none"])
                check(r.rc == BUILD_FAILURE, f"past the cap: {r.describe()}")
                lines = [x for x in stderr_lines(r.err) if "limit" in x]
                check(lines == ["nspawn-runner: The job hit its disk limit (job_disk_max = 64.0 MiB): its disk is full."],
                      f"past the cap: no one line naming the limit: {short(r.err)}")
                check(("No space left" if where == "tmpfs" else "Disk quota exceeded") in "\n".join(stderr_lines(r.err)),
                      f"past the cap: not ENOSPC/EDQUOT: {short(r.err)}")
                r = job.run_ok("after_script", ["rm /var/tmp/big", "echo still-here"])
                check("still-here" in r.lines and stderr_lines(r.err) == [], f"after the cap: {short(r.out + r.err)}")
                end_job(s, job)
        for i in ids:
            # The kernel drops a deleted subvolume in the background: its qgroup must go with it (cleanup
            # removes it on 6.1; newer kernels refuse that and remove it in the commit after the drop).
            s.sh(["btrfs", "subvolume", "sync", str(sd), str(i)], timeout=180)
            deadline = time.monotonic() + 15
            while (qgroups / f"0_{i}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            check(not (qgroups / f"0_{i}").exists(), f"btrfs: qgroup 0/{i} of a removed snapshot is left")
    finally:
        shutil.rmtree(conf, ignore_errors=True)
        if qgroups is not None and not quotas_were_on:
            subprocess.run(["btrfs", "quota", "disable", str(sd)], capture_output=True)


def t_sec_project_caches(s, ex, backend):
    """A job sees only its own project's cache, at the path gitlab-runner uses (<cache_dir>/<the
    repository URL's path>), and not another project's."""
    sd = s.state_dir(backend)
    token = secrets.token_hex(6)
    host_cache = Path(sd) / ".cache/team-a/app/default/cache.zip"

    def project_job(project):
        job = Job(s, ex, sd)
        job.user_vars.update(CI_REPOSITORY_URL=f"https://gitlab-ci-token:{job.job_token}@gitlab.example.com/{project}.git",
                             CI_PROJECT_PATH=project)
        return job

    with project_job("team-a/app") as a:
        a.prepare()
        check(a.state().get("cache_subdir") == "team-a/app", f"cache dir of the job: {a.state()}")
        a.run_ok("archive_cache", [f"mkdir -p /cache/team-a/app/default && echo {token} > /cache/team-a/app/default/cache.zip"])
        end_job(s, a)
    check(host_cache.read_text().strip() == token, "the cache is not at <cache_dir>/team-a/app/default/cache.zip on the host")
    with project_job("team-b/lib") as b:
        b.prepare()
        r = b.run_ok("restore_cache", ["echo top=$(ls -A /cache | tr '\\n' ' ')",
                                       "echo b=$(ls -A /cache/team-b | tr '\\n' ' ')",
                                       "if cat /cache/team-a/app/default/cache.zip 2>/dev/null; then echo READ; else echo unreadable; fi",
                                       "if mkdir -p /cache/team-a/app 2>/dev/null && echo x > /cache/team-a/app/default/cache.zip; "
                                       "then echo wrote; fi"])
        check("top=team-b" in r.lines and "b=lib" in r.lines and "unreadable" in r.lines, f"another project's cache: {short(r.out)}")
        end_job(s, b)
    check(host_cache.read_text().strip() == token, "another project's job changed team-a's cache")
    with project_job("team-a/app") as c:
        c.prepare()
        r = c.run_ok("restore_cache", ["cat /cache/team-a/app/default/cache.zip"])
        check(token in r.lines, f"the project's next job does not see its cache: {short(r.out)}")
        end_job(s, c)
    for p in ("team-a", "team-b"):
        shutil.rmtree(Path(sd) / ".cache" / p, ignore_errors=True)


def t_no_systemd(s, ex, backend):
    sd = s.state_dir(backend)
    image = Path(os.path.realpath(Path(sd) / IMAGE))
    check(not (image / "lib/systemd/systemd").exists() and not (image / "usr/lib/systemd/systemd").exists(),
          f"{image} has systemd: this test needs a chroot without it")
    with Job(s, ex, sd) as job:
        job.prepare()
        r = job.run_ok("build_script", ["test ! -e /lib/systemd/systemd && echo no-systemd",
                                        "tr '\\0' ' ' < /proc/1/cmdline; echo", "echo works"])
        check("no-systemd" in r.lines and "works" in r.lines, f"job in a chroot without systemd: {short(r.out)}")
        check(any(line.split()[:1] == ["/run/nspawn-runner-init"] for line in r.lines), f"PID 1 is not nspawn-runner-init: {short(r.out)}")
        end_job(s, job)


def t_kill_nspawn(s, ex, backend):
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        job.run_ok("get_sources", ["echo alive > /root/alive"])
        st = job.state()
        check("nspawn_pid" in st, f"no nspawn_pid in the state file: {st}")
        pid = int(st["nspawn_pid"])
        pst = proc_stat(pid)
        check(pst is not None and pst[2] == "systemd-nspawn", f"nspawn_pid {pid} is {pst}")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(not process_alive(pid), "systemd-nspawn survived SIGKILL")
        r = job.run("build_script", ["cat /root/alive"])
        check(r.rc == 0 and "alive" in r.lines, f"the stage after systemd-nspawn was killed: {r.describe()}, stdout {short(r.out)}")
        end_job(s, job)


def t_kill_prepare(s, ex, backend, delay):
    with Job(s, ex, s.state_dir(backend)) as job:
        job.gitlab_config()
        job.prepared = True
        c = job.start(["prepare"])
        time.sleep(delay)
        c.kill_group(signal.SIGKILL)
        rc = c.wait(30)
        s.diag(f"prepare killed after {delay * 1000:.0f} ms: exit {rc}, machine dir {'exists' if os.path.exists(job.machine_dir) else 'absent'}")
        end_job(s, job)
        # gitlab-runner's retry of prepare must start from nothing.
        job.cleaned = False
        job.prepare()
        r = job.run_ok("build_script", ["echo again"])
        check("again" in r.lines, "the job does not work after the retry")
        end_job(s, job)


def t_term_prepare(s, ex, backend, delay):
    """gitlab-runner's prepare timeout: SIGTERM to the group while the machine starts."""
    with Job(s, ex, s.state_dir(backend)) as job:
        job.gitlab_config()
        job.prepared = True
        c = job.start(["prepare"])
        time.sleep(delay)
        c.kill_group(signal.SIGTERM)
        rc = c.wait(30)
        err = bytes(c.err)
        ex.check_sanitizer(err, "prepare")
        if rc == 0:
            s.diag(f"prepare finished within {delay * 1000:.0f} ms, before SIGTERM")
        else:
            lines = stderr_lines(err)
            check(rc == SYSTEM_FAILURE and len(lines) == 1,
                  f"prepare stopped by SIGTERM: exit {rc}, stderr {short(err)} (expected exit 2 with one line)")
            # A failed prepare takes down what it made, without waiting for cleanup.
            s.wait_job_gone(job)
        end_job(s, job)


def t_kill_init(s, ex, backend):
    """The machine dies (its PID 1 is killed) while a stage runs: a system failure, then cleanup."""
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        marker = f"1000.{job.id}3"
        call = job.start_run("build_script", ["echo started", f"sleep {marker}"])
        if not call.wait_output(b"started\n", 30) or not s.wait_marker(marker, 10):
            call.abort()
            raise Fail(f"the stage did not start: {short(call.err)}")
        init = int(job.state()["init_pid"])
        check(proc_stat(init) is not None and proc_stat(init)[2].startswith("nspawn-runner-i"), f"init_pid {init} is {proc_stat(init)}")
        os.kill(init, signal.SIGKILL)
        try:
            call.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            call.abort()
            raise Fail("run did not notice within 5 s that the machine died")
        rc = call.wait(10)
        r = Result(call.argv, rc, bytes(call.out), bytes(call.err))
        ex.check_sanitizer(r.err, "run")
        expect_system_failure(r, "run while the machine died")
        r = job.run("after_script", ["echo must-not-run"])
        expect_system_failure(r, "run in a dead machine")
        check("must-not-run" not in r.lines, "a stage ran in a dead machine")
        end_job(s, job)
        check(not s.our_processes([marker], []), "the stage's process survived its machine")


def t_big_script_and_stage_names(s, ex, backend):
    """gitlab-runner puts every variable into the script, and a driver must take any stage name."""
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        # (Only in the script: the environment of a call cannot hold that much.)
        blob = secrets.token_hex(2 * 1024 * 1024 // 2)
        r = job.run_ok("build_script", [f"BIG={blob}", "echo big=${#BIG}", "printf '%s' \"$BIG\" | sha256sum | cut -c1-64"])
        check(f"big={len(blob)}" in r.lines and hashlib.sha256(blob.encode()).hexdigest() in r.lines,
              f"a 2 MiB script did not arrive whole: {short(r.out)}")
        for stage in ("step_my-step.2", "some_future_stage", "s" * 64, "step_ünïcode"):
            r = job.run_ok(stage, ["echo stage-ok"])
            check("stage-ok" in r.lines, f"stage {stage!r}: {short(r.out)}")
        end_job(s, job)


def t_btrfs_plain_image(s, ex, backend):
    """On btrfs, an image that is not a subvolume falls back to overlayfs; --storage btrfs refuses it."""
    sd = s.state_dir(backend)
    with Job(s, ex, sd, image="debian:plain") as job:
        job.prepare()
        check(job.state().get("backend") == "overlay", f"plain image on btrfs: storage {job.state().get('backend')!r}")
        r = job.run_ok("build_script", ["cat /etc/debian_version"])
        check(any(re.fullmatch(r"[0-9]+(\.[0-9]+)*", line) for line in r.lines), f"no Debian in the machine: {short(r.out)}")
        end_job(s, job)


def t_unusual_state_dirs(s, ex, backend):
    """A state dir with a long path works (its machines' paths are longer than sun_path, which their
    control sockets on /run do not care about); one whose path overlayfs cannot take fails cleanly."""
    chroot = s.chroot()
    long_sd = s.tmproot / ("long-" + "d" * 60) / ("e" * 60) / ("f" * 60) / "state"
    long_sd.mkdir(parents=True)
    (long_sd / IMAGE).symlink_to(chroot)
    s.extra_state_dirs.append(long_sd)
    with Job(s, ex, long_sd) as job:
        check(len(f"{job.machine_dir}/control.sock") > 108, "the path is not long enough to test")
        job.prepare()
        r = job.run_ok("build_script", ["echo long-ok"])
        check("long-ok" in r.lines, f"job in a long state dir: {short(r.out)}")
        end_job(s, job)
    bad_sd = s.tmproot / "state,with:colon"
    bad_sd.mkdir()
    (bad_sd / IMAGE).symlink_to(chroot)
    s.extra_state_dirs.append(bad_sd)
    with Job(s, ex, bad_sd) as job:
        r = job.prepare(expect=None)
        expect_system_failure(r, "prepare in a state dir with ',' and ':'")
        s.wait_job_gone(job)
        check(job.cleanup().rc == 0, "cleanup failed")


def t_corrupt_state(s, ex, backend):
    """cleanup finds and stops the machine even when its state file is garbage."""
    for garbage in ("", "garbage without an equals sign\n", "nspawn_pid=abc\ninit_pid=-1\n", "\0\0\0"):
        with Job(s, ex, s.state_dir(backend)) as job:
            job.prepare()
            job.run_ok("build_script", ["true"])
            check(s.job_processes(job), "no machine processes seen")
            Path(job.machine_dir, "state").write_text(garbage)
            r = job.cleanup()
            check(r.rc == 0, f"cleanup with state {garbage!r}: {r.describe()}")
            s.wait_job_gone(job)


def t_exit_codes_from_env(s, ex, backend):
    """The exit codes come from BUILD_FAILURE_EXIT_CODE and SYSTEM_FAILURE_EXIT_CODE."""
    with Job(s, ex, s.state_dir(backend)) as job:
        job.env_override.update(BUILD_FAILURE_EXIT_CODE="7", SYSTEM_FAILURE_EXIT_CODE="9")
        job.prepare()
        r = job.run("build_script", ["exit 5"])
        check(r.rc == 7 and (r.exit_file or "").strip() == "5", f"script failure: {r.describe()}, file {r.exit_file!r}")
        r = job.call(["run", "/nonexistent", "build_script"])
        check(r.rc == 9, f"system failure: {r.describe()}")
        r = job.call(["frobnicate"])
        check(r.rc == 9, f"unknown command: {r.describe()}")
        end_job(s, job)


def t_big_output(s, ex, backend):
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        r = job.run("build_script", [], raw_script="#!/usr/bin/env bash\nhead -c 16777216 /dev/zero | tr '\\0' x\n"
                                                   "echo; echo to-stderr >&2\n")
        check(r.rc == 0, f"big output: {r.describe()}")
        check(r.out == b"x" * 16777216 + b"\n", f"16 MiB of output came back as {len(r.out)} bytes")
        check(r.err == b"to-stderr\n", f"stderr of the stage: {short(r.err)}")
        end_job(s, job)


def t_cleanup_twice(s, ex, backend):
    sd = s.state_dir(backend)
    with Job(s, ex, sd) as job:
        job.prepare()
        job.run_ok("build_script", ["true"])
        r1 = job.cleanup()
        r2 = job.cleanup()
        check(r1.rc == 0, f"first cleanup: {r1.describe()}")
        check(r2.rc == 0, f"second cleanup: {r2.describe()}")
        s.wait_job_gone(job)
    with Job(s, ex, sd) as job:
        before = s.snapshot(sd)
        r = job.cleanup()
        check(r.rc == 0, f"cleanup without prepare: {r.describe()}")
        d = s.snapshot_diff(before, s.snapshot(sd))
        check(not d, f"cleanup without prepare changed the host: {d}")


def t_long_id(s, ex, backend):
    job_id = str(random.randrange(10**19, 10**20))
    with Job(s, ex, s.state_dir(backend), job_id=job_id) as job:
        job.prepare()
        r = job.run_ok("build_script", ["cat /proc/sys/kernel/hostname"])
        check(f"nspawn-runner-{job.key}" in r.lines and job.key.startswith(job_id), f"hostname for a 20-digit id: {short(r.out)}")
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
            check(job.state().get("image") == IMAGE, f"image {env} {args} became {job.state().get('image')!r}")
            job.run_ok("build_script", ["true"])
            # The Python tool's run --shell: bash and sh are accepted (the script runs with bash).
            for shell in ("bash", "/bin/sh"):
                script = job.script_file(job.stage_script("build_script", ["echo shell=$BASH_VERSION"]))
                r = job.call(["run", "--shell", shell, str(script), "build_script"])
                check(r.rc == 0 and any(l.startswith("shell=5") for l in r.lines), f"run --shell {shell}: {r.describe()}")
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
        check(a.key != b.key and a.key.startswith(f"{job_id}-") and b.key.startswith(f"{job_id}-"),
              f"keys of two prepares of job {job_id}: {a.key}, {b.key}")
        for job in (a, b):
            r = job.run_ok("build_script", [f"echo {job.key} > /root/mine", "cat /proc/sys/kernel/hostname"])
            check(f"nspawn-runner-{job.key}" in r.lines, f"hostname in {job.key}: {short(r.out)}")
        c.prepare(expect=BUILD_FAILURE)
        r = c.cleanup()
        check(r.rc == 0, f"cleanup of the refused prepare: {r.describe()}")
        for job in (a, b):
            r = job.run_ok("build_script", ["cat /root/mine"])
            check(job.key in r.lines, f"machine {job.key} after the refused prepare's cleanup: {short(r.out)}")
        end_job(s, b)
        r = a.run_ok("build_script", ["cat /root/mine"])
        check(a.key in r.lines, f"machine {a.key} after the other one's cleanup: {short(r.out)}")
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
        check(a.key == job_id and os.path.isdir(a.machine_dir), f"machine of job {job_id} without config: {a.key}")
        a.run_ok("build_script", ["echo first > /root/mine"])
        r = b.prepare(expect=SYSTEM_FAILURE)
        check(len(stderr_lines(r.err)) == 1, f"the refused prepare: {short(r.err)}")
        r = b.call(["run", str(b.script_file(b.stage_script("build_script", ["echo must-not-run"]))), "build_script"])
        check(r.rc == SYSTEM_FAILURE and b"must-not-run" not in r.out, f"run of the refused job: {r.describe()}")
        r = b.cleanup()
        check(r.rc == 0, f"cleanup of the refused prepare: {r.describe()}")
        r = a.run_ok("build_script", ["cat /root/mine"])
        check("first" in r.lines, f"the first job's machine after the refused prepare's cleanup: {short(r.out)}")
        end_job(s, a)


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
            check(r.rc == BUILD_FAILURE, f"expected the build failure exit {BUILD_FAILURE}, got {r.describe()}")
            check(len(lines) == 1 and "image" in lines[0] and f"images here: {IMAGE}" in lines[0],
                  f"expected one line saying what to fix and naming the images: {short(r.err)}")
            # gitlab-runner runs cleanup after a failed prepare too.
            c = job.call(["cleanup"], timeout=30)
            check(c.rc == 0, f"cleanup after the failed prepare: {c.describe()}")
        after = s.snapshot(sd)
        if not user_mistake:
            expect_system_failure(r, " ".join(args)[:60])
        check(b"must-not-run" not in r.out, "the script ran")
        d = s.snapshot_diff(before, after)
        check(not d, f"the host changed: {d}")


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
        check(not d, f"the second prepare changed the host: {d}")
        check(Path(job.machine_dir, "state").read_text() == state_before, "the second prepare rewrote the state file")
        r = job.run_ok("build_script", ["cat /root/first"])
        check("first" in r.lines, "the first machine is not usable after the second prepare")
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
            tmp = Path(sd) / f".create-{name}"
            # Interrupt once debootstrap is at work (its target exists), at the latest after the delay.
            while time.monotonic() < deadline and not tmp.exists() and c.p.poll() is None:
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
    check(rc != 0, f"chroot-create {name} {extra} succeeded")
    check(rc > 0, f"chroot-create {name} {extra} was killed by signal {-rc} instead of failing")
    check(len(stderr_lines(c.err)) >= 1, "chroot-create failed silently")
    deadline = time.monotonic() + 5
    while True:
        # The image's lock file (an empty .locks/NAME) is the locking mechanism, not a leftover of the
        # create: nothing else may appear.
        after = s.snapshot(sd)
        lock = after["files"].get(f".locks/{name}")
        check(lock is None or (stat.S_ISREG(lock[0]) and lock[3] == 0), f".locks/{name} is not an empty file: {lock}")
        d = s.snapshot_diff(before, after, ignore_files=lambda p: p in (".locks", f".locks/{name}"))
        if not d or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(not d, f"a failed chroot-create left: {d}")
    left = s.our_processes([f"/.create-{name}"], [f"/.create-{name}"])
    check(not left, f"debootstrap processes left: {list(left.values())[:2]}")
    if image_before is not None:
        check(tree_snapshot(os.path.realpath(Path(sd) / IMAGE)) == image_before, "the existing image was changed")
    return rc


def t_chroot_create_invalid_names(s, ex, backend):
    for name in ("../evil", ".hidden", "a/b", "x" * 65, "", "bad name"):
        chroot_create_fails(s, ex, backend, name, [], timeout=30)


# ---------------------------------------------------------------------------------------------------
# The chroot lifecycle: images with generations, chroot-maintenance running real Ansible playbooks,
# chroot-login, chroot-list, gc. Each test has a state dir and a config dir of its own. Images are
# made the way the product lays them out (<state>/<name> -> .images/<name>/<N>, N.info beside it)
# from the cached chroot: a copy on the host's file system, a snapshot of the btrfs state dir's
# subvolume on btrfs. Only the cached i386 chroot is made by chroot-create (once).

def lifecycle_run(s, fn, *a, **kw):
    """Runs a lifecycle test; then removes its dirs and checks that its maintenance containers left
    no runtime dirs (systemd-nspawn's /run/systemd/nspawn/propagate/<machine>) on the host."""
    before = set(propagate_names())
    try:
        fn(*a, **kw)
    finally:
        for lc in s.lifecycles:
            lc.remove()
        s.lifecycles.clear()
        left = sorted(n for n in set(propagate_names()) - before if n.startswith("nspawn-runner-maint-") or n.isdigit())
        for n in left:
            shutil.rmtree(PROPAGATE_DIR / n, ignore_errors=True)
    check(not left, f"maintenance containers left {PROPAGATE_DIR}/{', '.join(left)} (removed)")


def host_arch():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()


def marker_playbook(version, suite=IMAGE, long_task=None):
    """Two plays (three with long_task): write /etc/marker, then read it back and check it."""
    suite_var = f"    nspawn_runner_chroot_suite: {suite}\n" if suite else ""
    text = f"""\
# nspawn-runner test playbook
- name: write the marker
  hosts: all
  gather_facts: false
  vars:
{suite_var}    other_variable: not ours
  tasks:
    - name: the marker file
      copy:
        content: "{version}\\n"
        dest: /etc/marker
        mode: "0644"
- name: read the marker
  hosts: all
  gather_facts: false
  tasks:
    - name: read it
      command: cat /etc/marker
      register: marker
      changed_when: false
    - name: check it
      assert:
        that: marker.stdout == "{version}"
"""
    if long_task:
        text += f"""\
- name: a long task
  hosts: all
  gather_facts: false
  tasks:
    - name: sleep
      shell: sleep {long_task}
      changed_when: false
"""
    return text


def py_fs_usage(path):
    """What the product's fs_usage() counts: st_blocks of every entry below path (and path itself),
    not following symlinks nor leaving the file system."""
    st = os.stat(path)
    dev = st.st_dev
    total = st.st_blocks * 512
    stack = [path]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                try:
                    est = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                total += est.st_blocks * 512
                if stat.S_ISDIR(est.st_mode) and est.st_dev == dev:
                    stack.append(e.path)
    return total


def used_percent(path):
    """The product's measure of how full a file system is."""
    sv = os.statvfs(path)
    return 100 - (sv.f_bavail * 100) // sv.f_blocks


class Lifecycle:
    """A state dir and a config dir of one lifecycle test, on the host's file system ('overlay') or
    on the btrfs state dir's file system ('btrfs')."""

    def __init__(self, s, ex, backend, tag):
        self.s, self.ex, self.backend = s, ex, backend
        token = secrets.token_hex(4)
        if backend == "btrfs":
            self.mnt = Path(s.state_dir("btrfs"))
            base = self.mnt
        else:
            s.chroot()
            self.mnt = None
            base = s.tmproot
        self.sd = base / f"lc-{tag}-{token}"
        self.sd.mkdir()
        s.extra_state_dirs.append(self.sd)
        self.conf = s.tmproot / f"lc-conf-{tag}-{token}"
        self.conf.mkdir()
        s.lifecycles.append(self)

    def remove(self):
        """Removes the dirs once nothing runs in them (copies of the chroot add up); else teardown
        takes care."""
        machines = self.sd / ".machines"
        if (machines.is_dir() and os.listdir(machines)) or self.processes():
            return
        shutil.rmtree(self.sd, ignore_errors=True)
        shutil.rmtree(self.conf, ignore_errors=True)
        if not self.sd.exists():
            self.s.extra_state_dirs.remove(self.sd)

    # -- the product --
    def argv(self, args):
        return [self.ex.binary, "--state-dir", str(self.sd), "--config-dir", str(self.conf)] + list(args)

    def start(self, args):
        return Call(self.argv(args), str(self.s.tmproot), self.s.clean_env())

    def nr(self, args, timeout=300):
        c = self.start(args)
        rc = c.wait(timeout)
        r = Result(c.argv, rc, bytes(c.out), bytes(c.err))
        self.ex.check_sanitizer(r.err, args[0])
        return r

    def maintenance(self, name=None, want="updated", timeout=300):
        """chroot-maintenance [NAME] of a single image, which must end as want."""
        r = self.nr(["chroot-maintenance"] + ([name] if name else []), timeout=timeout)
        name = name or self.images()[0]
        counts = {k: int(k == want) for k in ("created", "updated", "unchanged", "FAILED")}
        check(r.rc == (1 if want == "FAILED" else 0), f"chroot-maintenance {name}: {r.describe()}; stdout: {short(r.out)}")
        lines = [line for line in r.lines if line.strip()]
        check(f"[1/1] {name}: maintenance …" in lines, f"no progress line '[1/1] {name}: maintenance …': {short(r.out)}")
        ends = [line for line in lines if line.startswith(f"[1/1] {name}: ") and not line.endswith("maintenance …")]
        check(len(ends) == 1 and re.fullmatch(rf"\[1/1\] {re.escape(name)}: {want} in [0-9]+ s", ends[0]),
              f"progress of {name}: {ends}, expected '{want} in N s'")
        summary = (rf"maintenance: {counts['created']} created, {counts['updated']} updated, "
                   rf"{counts['unchanged']} unchanged, {counts['FAILED']} failed in [0-9]+ s")
        check(lines and re.fullmatch(summary, lines[-1]), f"last line {lines[-1] if lines else ''!r}, expected '{summary}'")
        return r

    # -- images --
    def make_image(self, name, marker=None, gen=1, suite=IMAGE, refreshed=None):
        """Generation gen of image name, from the cached chroot."""
        d = self.sd / ".images" / name
        d.mkdir(parents=True, exist_ok=True)
        g = d / str(gen)
        if self.backend == "btrfs":
            self.s.sh(["btrfs", "-q", "subvolume", "snapshot", str(self.mnt / IMAGE), str(g)])
        else:
            g.mkdir()
            self.s.sh(["cp", "-a", "--reflink=auto", f"{self.s.chroot()}/.", str(g)], timeout=600)
        if marker is not None:
            (g / "etc/marker").write_text(marker + "\n")
        (d / f"{gen}.info").write_text(f"suite={suite}\narch={host_arch()}\nrefreshed={refreshed or int(time.time())}\n")
        (self.sd / name).symlink_to(f".images/{name}/{gen}")
        return g

    def make_mini_image(self, name, gen=1, suite=IMAGE, refreshed=None, python=False):
        """Generation gen of image name holding only what commands that do not start it look at: the
        host's bash (its ELF header tells the architecture), an os-release, and on demand a python3
        (only tested for being executable)."""
        d = self.sd / ".images" / name
        g = d / str(gen)
        (g / "usr/bin").mkdir(parents=True)
        (g / "etc").mkdir()
        shutil.copy2("/usr/bin/bash", g / "usr/bin/bash")
        (g / "etc/os-release").write_text(f'PRETTY_NAME="Debian GNU/Linux 12 ({IMAGE})"\nVERSION_CODENAME={IMAGE}\n')
        if python:
            (g / "usr/bin/python3").write_text("#!/bin/sh\nexit 1\n")
            (g / "usr/bin/python3").chmod(0o755)
        (d / f"{gen}.info").write_text(f"suite={suite}\narch={host_arch()}\nrefreshed={refreshed or int(time.time())}\n")
        (self.sd / name).symlink_to(f".images/{name}/{gen}")
        return g

    def playbook(self, name, text, where="conf"):
        p = (self.conf if where == "conf" else self.sd) / f"{name}.yaml"
        p.write_text(text)
        return p

    def images(self):
        return sorted(n for n in os.listdir(self.sd) if not n.startswith(".") and (self.sd / n).is_dir())

    def current(self, name):
        t = os.readlink(self.sd / name)
        m = re.fullmatch(rf"\.images/{re.escape(name)}/([1-9][0-9]*)", t)
        check(m is not None, f"{name} links to {t!r}, not to a generation")
        return int(m.group(1))

    def entries(self, name):
        d = self.sd / ".images" / name
        return sorted(os.listdir(d)) if d.is_dir() else []

    def only_generation(self, name, gen, what):
        e = self.entries(name)
        check(e == sorted([str(gen), f"{gen}.info"]), f"{what}: .images/{name} holds {e}, expected only generation {gen}")

    def lock_files(self):
        d = self.sd / ".locks"
        return sorted(os.listdir(d)) if d.is_dir() else []

    def marker(self, name, gen=None):
        p = self.sd / name if gen is None else self.sd / ".images" / name / str(gen)
        try:
            return (p / "etc/marker").read_text().strip()
        except FileNotFoundError:
            return None

    def list_json(self):
        r = self.nr(["chroot-list", "--json"], timeout=120)
        check(r.rc == 0, f"chroot-list --json: {r.describe()}")
        try:
            data = json.loads(r.out)
        except json.JSONDecodeError as e:
            raise Fail(f"chroot-list --json printed invalid JSON ({e}): {short(r.out)}")
        check(isinstance(data, list), f"chroot-list --json printed a {type(data).__name__}, not a list")
        keys = {"name", "suite", "arch", "size_bytes", "generation", "jobs", "network", "state", "refreshed"}
        for d in data:
            check(isinstance(d, dict) and set(d) == keys, f"chroot-list --json: an entry is not an object with {sorted(keys)}: {d}")
            check(d.get("state") in ("ready", "missing") and
                  all(isinstance(d[k], str) for k in ("name", "suite", "arch", "refreshed")) and
                  all(isinstance(d[k], int) and not isinstance(d[k], bool) for k in ("size_bytes", "generation", "jobs")),
                  f"chroot-list --json: wrong types in {d}")
        return {d["name"]: d for d in data}

    # -- processes --
    def processes(self, markers=()):
        """Live processes of this state dir's generations: their command line names one (cp,
        ansible-playbook, systemd-nspawn, debootstrap), our playbooks or a marker, or their mount
        namespace has one as a mount's root (what runs inside a container on a generation).
        Machines of jobs are not counted."""
        needle = str(self.sd) + "/.images/"
        roots = [needle]
        if self.mnt is not None:
            roots.append("/" + os.path.relpath(self.sd, self.mnt) + "/.images/")
        cmd_needles = [needle, str(self.conf) + "/"] + list(markers)
        found = {}
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                st = proc_stat(d)
                if st is None or st[0] in ("Z", "X"):
                    continue
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                hit = any(n in cmd for n in cmd_needles)
                if not hit and os.stat(f"/proc/{d}/ns/mnt").st_ino != self.s.host_mnt_ns:
                    with open(f"/proc/{d}/mountinfo") as f:
                        hit = any(len(line.split()) > 3 and any(line.split()[3].startswith(r) for r in roots) for line in f)
            except OSError:
                continue
            if hit:
                found[(int(d), st[1])] = f"{d} {st[2]}: {cmd[:140]}"
        return found

    def wait_no_processes(self, markers=(), timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            procs = self.processes(markers)
            if not procs or time.monotonic() > deadline:
                return procs
            time.sleep(0.1)

    def kill_processes(self, procs, markers=()):
        """Takes down what a test found left (so that the host stays clean even when it failed)."""
        for _ in range(3):
            for (pid, start) in procs:
                st = proc_stat(pid)
                if st and st[1] == start:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            procs = self.wait_no_processes(markers, 5)
            if not procs:
                return


def t_maint_refresh(s, ex, backend):
    """A playbook of several plays refreshes an image into a new generation; run again with nothing
    to change, it reports unchanged and keeps the generation."""
    lc = Lifecycle(s, ex, backend, "refresh")
    name = "pb"
    lc.make_image(name, marker="version-0")
    # On btrfs the playbook lives in the state dir, on overlay in the config dir: both are looked at.
    lc.playbook(name, marker_playbook("version-1"), where="state" if backend == "btrfs" else "conf")
    t0 = int(time.time())
    r = lc.maintenance(name, "updated")
    check("PLAY [write the marker]" in r.text and "PLAY [read the marker]" in r.text,
          f"not both plays ran: {short(r.out)}")
    check(lc.current(name) == 2, f"after the refresh {name} is at generation {lc.current(name)}, expected 2")
    check(lc.marker(name) == "version-1", f"/etc/marker of the new generation is {lc.marker(name)!r}")
    lc.only_generation(name, 2, "after the refresh (no job uses generation 1)")
    info = parse_state((lc.sd / ".images" / name / "2.info").read_text())
    check(info.get("suite") == IMAGE and info.get("arch") == host_arch(), f"2.info: {info}")
    check(int(info.get("refreshed", 0)) >= t0, f"2.info: refreshed={info.get('refreshed')} is before the refresh ({t0})")
    check(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")
    if backend == "btrfs":
        check(os.stat(lc.sd / ".images" / name / "2").st_ino == 256, "the new generation on btrfs is not a subvolume")
    # Nothing changed: every task is idempotent. Without a name, every image (and playbook) is done.
    r = lc.maintenance(None, "unchanged")
    check("PLAY [read the marker]" in r.text, f"the playbook did not run again: {short(r.out)}")
    check(lc.current(name) == 2, f"an unchanged refresh switched {name} to generation {lc.current(name)}")
    lc.only_generation(name, 2, "after an unchanged refresh")
    check(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")
    left = lc.wait_no_processes()
    check(not left, f"processes left: {list(left.values())[:3]}")


def t_maint_while_job(s, ex, backend):
    """A job keeps the generation it started on while maintenance switches the image; the old
    generation goes with the job's cleanup, not before."""
    lc = Lifecycle(s, ex, backend, "live")
    name = "live"
    lc.make_image(name, marker="version-1")
    lc.playbook(name, marker_playbook("version-2"))
    with Job(s, ex, lc.sd, image=f"debian:{name}") as a, Job(s, ex, lc.sd, image=f"debian:{name}") as b:
        a.prepare()
        r = a.run_ok("get_sources", ["cat /etc/marker"])
        check("version-1" in r.lines, f"job A on generation 1 reads {short(r.out)}")
        lst = lc.list_json()
        check(lst[name]["generation"] == 1 and lst[name]["jobs"] == 1, f"chroot-list before the refresh: {lst[name]}")
        lc.maintenance(name, "updated")
        check(lc.current(name) == 2, f"{name} is at generation {lc.current(name)} after the refresh")
        check((lc.sd / ".images" / name / "1").is_dir(), "generation 1 was removed while job A runs on it")
        lst = lc.list_json()
        check(lst[name]["generation"] == 2 and lst[name]["jobs"] == 0, f"chroot-list after the refresh: {lst[name]}")
        r = a.run_ok("build_script", ["cat /etc/marker", "ls /usr/bin | wc -l"])
        check("version-1" in r.lines, f"job A sees {short(r.out)} after the refresh, expected its generation's version-1")
        check(any(re.fullmatch(r"[0-9]+", x) and int(x) > 100 for x in r.lines), f"job A's /usr/bin: {short(r.out)}")
        b.prepare()
        r = b.run_ok("build_script", ["cat /etc/marker"])
        check("version-2" in r.lines, f"a new job reads {short(r.out)}, expected the new generation's version-2")
        lst = lc.list_json()
        check(lst[name]["generation"] == 2 and lst[name]["jobs"] == 1, f"chroot-list with a job on each generation: {lst[name]}")
        g = lc.nr(["gc"])
        check(g.rc == 0, f"gc: {g.describe()}")
        check((lc.sd / ".images" / name / "1").is_dir(), "gc removed generation 1 while job A runs on it")
        end_job(s, b)
        check((lc.sd / ".images" / name / "1").is_dir(), "job B's cleanup removed generation 1 while job A runs on it")
        r = a.run_ok("after_script", ["cat /etc/marker"])
        check("version-1" in r.lines, f"job A's last stage reads {short(r.out)}")
        end_job(s, a)
    lc.only_generation(name, 2, "after the last job of generation 1 was cleaned up")
    check(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")


def t_maint_plain_dir_while_job(s, ex):
    """An image that is a plain directory (generation 0) is not replaced while a job runs on it (the
    job keeps its files); once the job is gone, the refresh makes it generation 1, with the suite of
    its os-release."""
    lc = Lifecycle(s, ex, "overlay", "plain")
    name = "plaindir"
    lc.s.sh(["cp", "-a", "--reflink=auto", f"{s.chroot()}/.", str(lc.sd / name)], timeout=600)
    (lc.sd / name / "etc/marker").write_text("version-1\n")
    # (No suite in the playbook: the image's own, from its os-release, stays its suite.)
    lc.playbook(name, marker_playbook("version-2", suite=None))
    with Job(s, ex, lc.sd, image=f"debian:{name}") as a:
        a.prepare()
        outputs = lambda r: [line for line in r.lines if not line.startswith("\x1b")]  # not the echoed commands
        r = a.run_ok("get_sources", ["ls /usr/bin | wc -l", "cat /etc/marker"])
        before = outputs(r)
        check("version-1" in before, f"the job reads {short(r.out)}")
        r = lc.maintenance(name, "FAILED")
        check(any("jobs" in line for line in stderr_lines(r.err)), f"the failure does not say jobs run on it: {short(r.err)}")
        check(not (lc.sd / name).is_symlink() and (lc.sd / name / "usr/bin/bash").exists(),
              "the plain directory was replaced while a job runs on it")
        check(lc.entries(name) == [], f"the refused refresh left {lc.entries(name)}")
        check(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")
        r = a.run_ok("build_script", ["ls /usr/bin | wc -l", "cat /etc/marker"])
        check(outputs(r) == before, f"the running job's files changed: {outputs(r)}, before {before}")
        end_job(s, a)
    lc.maintenance(name, "updated")
    check(lc.current(name) == 1, f"{name} is at generation {lc.current(name)}, expected 1")
    check(lc.marker(name) == "version-2", f"the new generation's marker is {lc.marker(name)!r}")
    lc.only_generation(name, 1, "after the refresh (the plain directory is collected)")
    lst = lc.list_json()
    check(lst[name]["suite"] == IMAGE and lst[name]["generation"] == 1,
          f"chroot-list of the refreshed plain image: {lst[name]}, expected suite {IMAGE!r} (its os-release)")
    with Job(s, ex, lc.sd, image=f"debian:{name}") as b:
        b.prepare()
        r = b.run_ok("build_script", ["cat /etc/marker"])
        check("version-2" in r.lines, f"a new job reads {short(r.out)}")
        end_job(s, b)


def propagate_names():
    try:
        return os.listdir(PROPAGATE_DIR)
    except FileNotFoundError:
        return []


def t_maint_kill(s, ex, backend, when):
    """kill -9 of chroot-maintenance (the process alone, as a crash or the OOM killer would) after
    `when` seconds or, for 'ansible', while a playbook task runs."""
    lc = Lifecycle(s, ex, backend, "kill")
    name = "k"
    lc.make_image(name, marker="version-1")
    sleep_marker = f"1000.{random.randrange(10**8, 10**9)}" if when == "ansible" else None
    lc.playbook(name, marker_playbook("version-2", long_task=sleep_marker))
    markers = [sleep_marker] if sleep_marker else []
    propagate_before = set(propagate_names())
    c = lc.start(["chroot-maintenance", name])
    problems = []
    try:
        if when == "ansible":
            if not s.wait_marker(sleep_marker, 120):
                raise Fail(f"the playbook's long task did not start: {short(c.out + c.err)}")
        else:
            time.sleep(when)
        at_work = sorted({desc.split(":")[0].split(" ", 1)[1] for desc in lc.processes(markers).values()})
        running = c.p.poll() is None
        os.kill(c.p.pid, signal.SIGKILL)
        rc = c.p.wait(timeout=10)
        s.diag(f"chroot-maintenance {'killed' if running else 'had ended (exit %d) before the kill' % rc} "
               f"{'while a playbook task ran' if when == 'ansible' else f'after {when} s'} (at work: {', '.join(at_work) or '-'}); "
               f".images/{name}: {lc.entries(name)}")
        if when == "ansible":
            check(running, "chroot-maintenance ended before the kill")
        left = lc.wait_no_processes(markers, 5.0)
        if left:
            problems.append(f"processes of the killed maintenance still run 5 s later: {'; '.join(list(left.values())[:3])}")
            lc.kill_processes(left, markers)
            # systemd-nspawn, killed, leaves its propagation dir (named after the generation's dir).
            for n in set(propagate_names()) - propagate_before:
                if n.isdigit() and (lc.sd / ".images" / name / n).exists():
                    shutil.rmtree(PROPAGATE_DIR / n, ignore_errors=True)
    finally:
        if c.p.poll() is None:
            c.abort()
        else:
            c.kill_group(signal.SIGKILL)
    cur = lc.current(name)
    if cur == 1:
        check(lc.marker(name) == "version-1", f"generation 1's marker is {lc.marker(name)!r}")
    else:
        # The kill came after the switch: the new generation must be complete.
        check(lc.marker(name) == "version-2" and (lc.sd / ".images" / name / f"{cur}.info").exists(),
              f"{name} is at generation {cur} with marker {lc.marker(name)!r} after the kill")
    g = lc.nr(["gc"])
    check(g.rc == 0 and re.fullmatch(r"gc: removed 0 leftover machine\(s\), [0-9]+ unused generation\(s\), 0 cache dir\(s\); "
                                     r"freed [0-9.]+ MiB", g.text.strip()), f"gc: {g.describe()}, stdout {short(g.out)}")
    lc.only_generation(name, cur, "after gc")
    check(lc.lock_files() == [], f"lock files left after gc: {lc.lock_files()}")
    with Job(s, ex, lc.sd, image=f"debian:{name}") as job:
        job.prepare()
        r = job.run_ok("build_script", ["cat /etc/marker"])
        check(lc.marker(name) in r.lines, f"a job after the kill reads {short(r.out)}, expected {lc.marker(name)}")
        end_job(s, job)
    check(lc.lock_files() == [], f"lock files left after the job: {lc.lock_files()}")
    check(not problems, "; ".join(problems))


# (name, text, the lines the error may name (None: any), the key it must name)
MALFORMED_PLAYBOOKS = [
    ("invalid YAML", "- hosts: all\n  vars: [unclosed\n  tasks: []\n", {2, 3}, None),
    ("bad indentation", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: bookworm\n   tasks: []\n", {3, 4}, None),
    ("a tab in the indentation", "- hosts: all\n\tvars: {}\n", {2}, None),
    ("an empty file", "", None, None),
    ("only comments", "# nothing here\n\n", None, None),
    ("a top-level mapping", "hosts: all\ntasks: []\n", {1}, None),
    ("a top-level scalar", "just a string\n", {1}, None),
    ("an empty list", "[]\n", {1}, None),
    ("a play that is not a mapping", "- hosts: all\n  tasks: []\n- just a string\n", {3}, None),
    ("vars that is not a mapping", "- hosts: all\n  vars:\n    - nspawn_runner_chroot_suite\n", {2, 3}, "vars"),
    ("a suite that is a list", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite:\n      - bookworm\n", {3, 4},
     "nspawn_runner_chroot_suite"),
    ("a suite that is a mapping", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: {a: 1}\n", {3},
     "nspawn_runner_chroot_suite"),
    ("a suite that is null", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite:\n", {3, 4}, "nspawn_runner_chroot_suite"),
    ("recreate that is a quoted string", "- hosts: all\n  vars:\n    nspawn_runner_maint_recreate: 'yes'\n", {3},
     "nspawn_runner_maint_recreate"),
    ("recreate that is not a boolean", "- hosts: all\n  vars:\n    nspawn_runner_maint_recreate: sometimes\n", {3},
     "nspawn_runner_maint_recreate"),
    ("include with a mapping item",
     "- hosts: all\n  vars:\n    nspawn_runner_chroot_include:\n      - python3\n      - {name: curl}\n", {4, 5},
     "nspawn_runner_chroot_include"),
    ("an unknown nspawn_runner_ variable", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suit: bookworm\n", {3},
     "nspawn_runner_chroot_suit"),
    ("a template value", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: \"{{ suite }}\"\n", {3},
     "nspawn_runner_chroot_suite"),
    ("two documents", "- hosts: all\n  tasks: []\n---\n- hosts: all\n  tasks: []\n", {3, 4}, None),
    ("an empty mirror", "- hosts: all\n  vars:\n    nspawn_runner_chroot_mirror: ''\n", {3}, "nspawn_runner_chroot_mirror"),
    ("an arch with a space", "- hosts: all\n  vars:\n    nspawn_runner_chroot_arch: amd 64\n", {3}, "nspawn_runner_chroot_arch"),
    ("an undefined alias", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: *nope\n", {3}, None),
]


def t_malformed_playbooks(s, ex):
    """Every malformed playbook: chroot-maintenance of an existing image, and chroot-create and
    chroot-maintenance of a missing one, fail with one line FILE:LINE: naming the key, and change
    nothing."""
    lc = Lifecycle(s, ex, "overlay", "malformed")
    (lc.sd / "img").symlink_to(s.chroot())
    errors = collections.defaultdict(list)  # (kind, problem) -> the commands that had it
    for i, (kind, text, want_lines, key) in enumerate(MALFORMED_PLAYBOOKS):
        where = "state" if i % 2 else "conf"
        files = {"img": lc.playbook("img", text, where), "new": lc.playbook("new", text, where)}
        before = s.snapshot(lc.sd)
        for args in (["chroot-maintenance", "img"], ["chroot-create", "new"], ["chroot-maintenance", "new"]):
            r = lc.nr(args, timeout=60)
            path = str(files[args[1]])
            lines = stderr_lines(r.err)
            problem = None
            m = re.fullmatch(rf"nspawn-runner: {re.escape(path)}:([0-9]+): .+", lines[0]) if len(lines) == 1 else None
            if r.rc == 0:
                problem = "succeeded"
            elif len(lines) != 1:
                problem = f"{len(lines)} lines on stderr: {short(r.err)}"
            elif not m:
                problem = f"the error is not FILE:LINE: …: {lines[0]!r}"
            elif want_lines is not None and int(m.group(1)) not in want_lines:
                problem = f"the error names line {m.group(1)}, expected {sorted(want_lines)}: {lines[0]!r}"
            elif key and key not in lines[0]:
                problem = f"the error does not name {key}: {lines[0]!r}"
            elif args[0] == "chroot-maintenance" and not re.search(
                    r"^maintenance: 0 created, 0 updated, 0 unchanged, 1 failed", r.text, re.M):
                problem = f"no summary with 1 failed: {short(r.out)}"
            if problem:
                errors[(kind, problem.replace(path, "FILE"))].append(" ".join(args))
        d = s.snapshot_diff(before, s.snapshot(lc.sd))
        if d:
            errors[(kind, f"the state dir changed: {d}")].append("")
        for f in files.values():
            f.unlink()
    check(not errors, f"{len(errors)} problem(s): " +
          " | ".join(f"{kind} ({', '.join(cmds)}): {problem}" for (kind, problem), cmds in list(errors.items())[:6]))


def small_fs(s, tag, size_mib, options="defaults"):
    """A loop-mounted ext4 of size_mib MiB (no reserved blocks); returns (device, mount point, backing)."""
    backing = s.tmproot / f"{tag}.img"
    mnt = s.tmproot / f"{tag}-mnt"
    s.sh(["truncate", "-s", f"{size_mib}M", str(backing)])
    s.sh(["mkfs.ext4", "-q", "-F", "-m", "0", str(backing)])
    dev = s.sh(["losetup", "--find", "--show", str(backing)])
    s.loops.append((dev, str(backing)))
    mnt.mkdir()
    s.sh(["mount", "-o", options, dev, str(mnt)])
    s.own_mounts.append(str(mnt))
    return dev, mnt, backing


def small_fs_remove(s, dev, mnt, backing):
    subprocess.run(["umount", str(mnt)], capture_output=True)
    subprocess.run(["losetup", "-d", dev], capture_output=True)
    if not any(m[0] == str(mnt) for m in host_mounts()):
        s.own_mounts.remove(str(mnt))
        s.loops.remove((dev, str(backing)))
        mnt.rmdir()
        backing.unlink()


def fake_dead_process():
    """(pid, start time) of a process that has exited."""
    p = subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL)
    st = proc_stat(p.pid)
    p.kill()
    p.wait()
    return p.pid, st[1]


def gc_counts(r):
    m = re.fullmatch(r"gc: removed ([0-9]+) leftover machine\(s\), ([0-9]+) unused generation\(s\), ([0-9]+) cache dir\(s\); "
                     r"freed ([0-9]+\.[0-9]) MiB", r.text.strip())
    check(r.rc == 0 and m is not None, f"gc: {r.describe()}, stdout {short(r.out)}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), float(m.group(4))


def t_gc_threshold(s, ex):
    """gc on a small file system: leftover machines go, a running job's and a locked one stay;
    least recently used caches go while the file system is fuller than the threshold, fresh ones
    stay."""
    s.chroot()
    dev, mnt, backing = small_fs(s, "gc", 96)
    try:
        sd = mnt
        s.extra_state_dirs.append(sd)
        (sd / IMAGE).symlink_to(s.chroot())
        run_gc = lambda threshold: gc_counts(ex.raw(["--state-dir", str(sd), "gc", "--threshold", str(threshold)], timeout=120))
        with Job(s, ex, sd) as job:
            job.prepare()
            job.run_ok("build_script", ["echo running"])
            # Leftovers: a machine whose init and nspawn are gone, and one without a state file.
            dead = s.next_id()
            s.ids.add(dead)
            (sd / ".machines" / dead / "root/etc").mkdir(parents=True)
            (sd / ".machines" / dead / "root/etc/junk").write_bytes(os.urandom(300 * 1024))
            (ipid, istart), (npid, nstart) = fake_dead_process(), fake_dead_process()
            (sd / ".machines" / dead / "state").write_text(
                f"image={IMAGE}\nimage_path={os.path.realpath(s.chroot())}\nbackend=overlay\nnspawn_pid={npid}\n"
                f"nspawn_start={nstart}\ninit_pid={ipid}\ninit_start={istart}\n")
            nostate = s.next_id()
            s.ids.add(nostate)
            (sd / ".machines" / nostate).mkdir(mode=0o700)
            # A machine being prepared right now (prepare holds a lock on its dir) is not a leftover.
            held = s.next_id()
            s.ids.add(held)
            (sd / ".machines" / held).mkdir(mode=0o700)
            held_fd = os.open(sd / ".machines" / held, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(held_fd, fcntl.LOCK_EX)
                # gitlab-runner's caches: <project>/<key>/cache.zip, 8 MiB each.
                now = time.time()
                ages = {"a": 5 * 3600, "b": 4 * 3600, "c": 3 * 3600, "d": 0, "e": 6 * 3600}
                caches = {}
                for k, age in ages.items():
                    d = sd / ".cache" / f"group/project-{k}" / f"key-{k}"
                    d.mkdir(parents=True)
                    with open(d / "cache.zip", "wb") as f:
                        for _ in range(8):
                            f.write(os.urandom(1 << 20))
                        os.fsync(f.fileno())
                    os.utime(d / "cache.zip", (now - age, now - age))
                    caches[k] = d
                # e: an old archive, but another file of the dir was just written: the dir is in use.
                (caches["e"] / "fresh").write_text("in use\n")
                os.sync()
                machines = lambda: sorted(os.listdir(sd / ".machines"))
                n_m, n_g, n_c, _ = run_gc(100)
                check((n_m, n_g, n_c) == (2, 0, 0), f"gc --threshold 100 removed {n_m} machine(s), {n_g} generation(s), "
                                                    f"{n_c} cache dir(s); expected 2, 0, 0")
                check(machines() == sorted([job.key, held]), f"machines after gc: {machines()}, expected the job's and the locked one")
                check(all(d.is_dir() for d in caches.values()), "gc --threshold 100 removed a cache")
                r = job.run_ok("build_script", ["echo still-running"])
                check("still-running" in r.lines, "the job's machine does not work after gc")
                # A threshold between the usage after removing the oldest one and two of them.
                os.sync()
                sv = os.statvfs(sd)
                before = used_percent(sd)
                blocks = lambda d: sum(os.lstat(p).st_blocks * 512 for p in d.iterdir()) // sv.f_frsize
                after1 = 100 - ((sv.f_bavail + blocks(caches["a"])) * 100) // sv.f_blocks
                after2 = 100 - ((sv.f_bavail + blocks(caches["a"]) + blocks(caches["b"])) * 100) // sv.f_blocks
                threshold = (after1 + after2) // 2
                s.diag(f"file system {before}% used; after removing 1 cache {after1}%, 2 caches {after2}%: threshold {threshold}")
                check(before > after1 > threshold >= after2, f"cannot place a threshold: {before}, {after1}, {after2}")
                n_m, n_g, n_c, freed = run_gc(threshold)
                gone = sorted(k for k, d in caches.items() if not d.exists())
                check(gone == ["a", "b"], f"gc --threshold {threshold} (usage {before}%) removed caches {gone}, expected the two "
                                          f"oldest [a, b] (usage now {used_percent(sd)}%)")
                check(n_c == 2 and (n_m, n_g) == (0, 0), f"gc reported {n_m}, {n_g}, {n_c}, expected 0, 0, 2")
                check(abs(freed - 16.0) <= 0.2, f"gc reported {freed} MiB freed, expected 16.0")
                check(used_percent(sd) <= threshold, f"usage {used_percent(sd)}% is above the threshold {threshold}")
                # However full: a cache used in the last 15 minutes stays.
                n_m, n_g, n_c, _ = run_gc(1)
                gone = sorted(k for k, d in caches.items() if not d.exists())
                check(gone == ["a", "b", "c"] and n_c == 1, f"gc --threshold 1 left {sorted(set(caches) - set(gone))} "
                                                            f"(reported {n_c}), expected the fresh ones [d, e]")
            finally:
                os.close(held_fd)
            n_m, _, _, _ = run_gc(100)
            check(n_m == 1 and machines() == [job.key], f"after its lock was released gc removed {n_m}; machines {machines()}")
            end_job(s, job)
        check(not os.listdir(sd / ".machines"), f"machines left: {os.listdir(sd / '.machines')}")
    finally:
        for n in (os.listdir(mnt / ".machines") if (mnt / ".machines").is_dir() else []):
            subprocess.run(JOBS_NETNS_PREFIX + [ex.binary, "--state-dir", str(mnt), "cleanup", "--id", n], capture_output=True, timeout=60,
                           env=s.clean_env(), stdin=subprocess.DEVNULL)
        if mnt in s.extra_state_dirs:
            s.extra_state_dirs.remove(mnt)
        small_fs_remove(s, dev, mnt, backing)


def t_gc_noatime(s, ex):
    """On a noatime mount (the appliance's SSD), a cache a job only reads is as used as one it writes:
    gc goes by the last use nspawn-runner records when a job of the project starts, not by atime."""
    s.chroot()
    dev, mnt, backing = small_fs(s, "gc-noatime", 64, "noatime")
    try:
        sd = mnt
        s.extra_state_dirs.append(sd)
        (sd / IMAGE).symlink_to(s.chroot())
        now = time.time()
        # read: written 5 h ago, read by a job now; old: 4 h; newer: 3 h; each 8 MiB.
        ages = {"read": 5 * 3600, "old": 4 * 3600, "newer": 3 * 3600}
        caches = {}
        for k, age in ages.items():
            d = sd / ".cache" / "group" / "sub" / f"project-{k}" / "default-key"
            d.mkdir(parents=True)
            with open(d / "cache.zip", "wb") as f:
                for _ in range(8):
                    f.write(os.urandom(1 << 20))
            os.utime(d / "cache.zip", (now - age, now - age))
            caches[k] = d
        os.sync()
        zip_read = caches["read"] / "cache.zip"
        with Job(s, ex, sd) as job:
            job.env_override["CUSTOM_ENV_CI_PROJECT_PATH"] = "group/sub/project-read"
            job.prepare()
            # gitlab-runner's cache-extractor only reads the archive; the job cannot see the record.
            r = job.run_ok("restore_cache", ["cat /cache/group/sub/project-read/default-key/cache.zip | wc -c",
                                             "python3 -c \"import os; p = '/cache/group/sub/project-read'; "
                                             "print('xattrs', os.listxattr(p)); "
                                             "os.setxattr(p, 'trusted.nspawn-runner.last-use', b'9999999999')\" 2>&1 | "
                                             "tail -1 || true", "grep ^CapEff: /proc/self/status"])
            check(str(8 << 20) in r.lines, f"the job did not read the cache: {short(r.out)}")
            cap_eff = [int(l.split()[1], 16) for l in r.lines if l.startswith("CapEff:")]
            if cap_eff and cap_eff[0] & (1 << 21):
                s.diag("jobs hold CAP_SYS_ADMIN (no user namespace): they can read and change the trusted.* record")
            else:
                check("xattrs []" in r.lines and any("PermissionError" in l for l in r.lines),
                      f"the job sees or changes the last-use record: {short(r.out)}")
            end_job(s, job)
        st = os.stat(zip_read)
        check(abs(st.st_atime - (now - ages["read"])) < 2, "the mount keeps atime: not a noatime test")
        os.sync()
        sv = os.statvfs(sd)
        before = used_percent(sd)
        blocks = sum(os.lstat(p).st_blocks * 512 for p in caches["old"].iterdir()) // sv.f_frsize
        after1 = 100 - ((sv.f_bavail + blocks) * 100) // sv.f_blocks
        check(before > after1, f"cannot place a threshold: {before}% used, {after1}% after removing one cache")
        r = ex.raw(["--state-dir", str(sd), "gc", "--threshold", str(after1)], timeout=120)
        _, _, n_c, _ = gc_counts(r)
        gone = sorted(k for k, d in caches.items() if not d.exists())
        check(gone == ["old"] and n_c == 1, f"gc --threshold {after1} (usage {before}%) removed {gone}, expected only the "
                                            f"least recently used [old] (the oldest archive, [read], was just used)")
    finally:
        if mnt in s.extra_state_dirs:
            s.extra_state_dirs.remove(mnt)
        small_fs_remove(s, dev, mnt, backing)


def t_gc_generations(s, ex):
    """gc removes every generation that is neither current nor used, and counts each."""
    lc = Lifecycle(s, ex, "overlay", "gcgen")
    d = lc.sd / ".images" / "gens"
    for g in (1, 2, 3, 5):
        (d / str(g) / "usr/bin").mkdir(parents=True)
        (d / str(g) / "usr/bin/file").write_bytes(os.urandom(64 * 1024))
    for g in (1, 3):
        (d / f"{g}.info").write_text(f"suite={IMAGE}\narch={host_arch()}\nrefreshed={int(time.time())}\n")
    (d / "4.info").write_text("suite=x\n")  # an info without its generation
    (lc.sd / "gens").symlink_to(".images/gens/1")
    n_m, n_g, n_c, freed = gc_counts(lc.nr(["gc"]))
    lc.only_generation("gens", 1, "after gc")
    check(n_g == 3, f"gc removed generations 2, 3 and 5 of one image but reported {n_g} unused generation(s)")
    check(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")


def pty_run(s, argv, send, timeout=120):
    """Runs argv on a terminal; once the output has shown 'Editing' and then a root prompt, types
    send. Returns (exit status, everything the terminal showed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=str(s.tmproot), env=s.clean_env(),
                         start_new_session=True)
    os.close(slave)
    buf = bytearray()
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                raise Fail(f"{' '.join(argv[-2:])} did not finish within {timeout} s: {short(buf)}")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the terminal is gone
                    data = b""
                if not data:
                    break
                buf += data
            elif p.poll() is not None:
                break
            if not sent:
                i = buf.find(b"Editing")
                if i >= 0 and b"# " in buf[i:]:
                    os.write(master, send.encode())
                    sent = True
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        os.close(master)
    return rc, bytes(buf)


def t_chroot_login(s, ex, backend):
    """chroot-login: exit 0 keeps the edit as a new generation (a running job keeps its own),
    a non-zero exit drops it."""
    lc = Lifecycle(s, ex, backend, "login")
    name = "edit"
    lc.make_image(name, marker="version-1")
    token = secrets.token_hex(6)
    with Job(s, ex, lc.sd, image=f"debian:{name}") as a:
        a.prepare()
        rc, out = pty_run(s, lc.argv(["chroot-login", name]),
                          f"echo login-{token} > /etc/login-marker; echo $((6*7))-edited; exit 0\n")
        ex.check_sanitizer(out, "chroot-login")
        check(rc == 0, f"chroot-login with exit 0: exit {rc}: {short(out)}")
        check(b"42-edited" in out, f"the commands did not run in the shell: {short(out)}")
        check(lc.current(name) == 2, f"{name} is at generation {lc.current(name)} after the login, expected 2")
        check((lc.sd / name / "etc/login-marker").read_text().strip() == f"login-{token}", "the edit is not in generation 2")
        info = parse_state((lc.sd / ".images" / name / "2.info").read_text())
        check(info.get("suite") == IMAGE, f"2.info after the login: {info}")
        r = a.run_ok("build_script", ["cat /etc/login-marker 2>/dev/null || echo no-login-marker"])
        check("no-login-marker" in r.lines, f"the running job sees the edit: {short(r.out)}")
        with Job(s, ex, lc.sd, image=f"debian:{name}") as b:
            b.prepare()
            r = b.run_ok("build_script", ["cat /etc/login-marker"])
            check(f"login-{token}" in r.lines, f"a new job does not see the edit: {short(r.out)}")
            end_job(s, b)
        # A non-zero exit drops the edit.
        entries = lc.entries(name)
        rc, out = pty_run(s, lc.argv(["chroot-login", name]), "echo dropped > /etc/dropped-marker; echo $((6*7))-edited; exit 3\n")
        ex.check_sanitizer(out, "chroot-login")
        check(rc != 0, f"chroot-login with exit 3 succeeded: {short(out)}")
        check(b"42-edited" in out, f"the commands did not run in the shell: {short(out)}")
        check(lc.current(name) == 2, f"{name} is at generation {lc.current(name)} after a dropped login")
        check(not (lc.sd / name / "etc/dropped-marker").exists(), "the dropped edit is in the image")
        check(lc.entries(name) == entries, f"a dropped login left {sorted(set(lc.entries(name)) - set(entries))}")
        check(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")
        end_job(s, a)
    lc.only_generation(name, 2, "after the job on generation 1 was cleaned up")


def t_chroot_login_pipe(s, ex):
    """chroot-login without a terminal (a script, ssh without -t): the shell runs the commands on
    stdin at once; exit 0 keeps them as a new generation, another status drops them."""
    lc = Lifecycle(s, ex, "overlay", "login-pipe")
    name = "piped"
    lc.make_image(name)
    token = secrets.token_hex(6)
    for commands, want_rc, want_gen in ((f"echo {token} > /etc/piped-marker\necho $((6*7))-piped\n", 0, 2),
                                        ("echo dropped > /etc/dropped-marker\necho $((6*7))-piped\nexit 3\n", None, 2)):
        c = Call(lc.argv(["chroot-login", name]), str(s.tmproot), s.clean_env(), stdin_data=commands.encode())
        rc = c.wait(120)
        ex.check_sanitizer(bytes(c.err), "chroot-login")
        out = bytes(c.out).decode(errors="replace")
        check(rc == want_rc if want_rc is not None else rc != 0, f"chroot-login with commands on a pipe: exit {rc}: "
                                                                 f"{short(out)} {short(bytes(c.err))}")
        check("42-piped" in out.splitlines(), f"the commands on stdin did not run: {short(out)}")
        check(lc.current(name) == want_gen, f"{name} is at generation {lc.current(name)}, expected {want_gen}")
    check((lc.sd / name / "etc/piped-marker").read_text().strip() == token, "the kept edit is not in the image")
    check(not (lc.sd / name / "etc/dropped-marker").exists(), "the dropped edit is in the image")
    check(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")


def t_suppress_sync(s, ex):
    """Jobs' machines run with nspawn's --suppress-sync (their disk is thrown away): by default, not
    with job_suppress_sync = no in nspawn-runner.conf, not for an image whose playbook sets
    nspawn_runner_job_suppress_sync: false."""
    lc = Lifecycle(s, ex, "overlay", "sync")
    (lc.sd / IMAGE).symlink_to(s.chroot())
    (lc.sd / "keepsync").symlink_to(s.chroot())
    lc.playbook("keepsync", "- hosts: all\n  vars:\n    nspawn_runner_job_suppress_sync: false\n  tasks: []\n")
    probe = ("python3 -c \"import os, time; fd = os.open('/root/f', os.O_WRONLY | os.O_CREAT); t = time.monotonic(); "
             "[os.fsync(fd) for _ in range(200)]; print('fsync-ms=%d' % ((time.monotonic() - t) * 1000))\"")
    seen = {}
    for what, image, conf, want in (("default", IMAGE, "", True), ("job_suppress_sync = no", IMAGE, "job_suppress_sync = no\n", False),
                                    ("the playbook's false", "keepsync", "", False)):
        (lc.conf / "nspawn-runner.conf").write_text(conf)
        with Job(s, ex, lc.sd, image=f"debian:{image}") as job:
            job.env_override["NSPAWN_RUNNER_CONFIG_DIR"] = str(lc.conf)
            job.prepare()
            st = parse_state(Path(job.machine_dir, "state").read_text())
            with open(f"/proc/{st['nspawn_pid']}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            check((b"--suppress-sync=yes" in argv) == want and (st.get("suppress_sync") == "1") == want,
                  f"{what}: nspawn {'without' if want else 'with'} --suppress-sync: {argv}, state {st}")
            # In the machine: fsync() does nothing (nspawn's seccomp filter), or does its work.
            r = job.run_ok("build_script", ["echo x > /root/f", probe])
            seen[what] = " ".join(l for l in r.lines if l.startswith("fsync-ms="))
            end_job(s, job)
    s.diag("200 fsync()s in a job: " + "; ".join(f"{k}: {v}" for k, v in seen.items()))


def t_chroot_list(s, ex):
    """chroot-list, as text and JSON, of a generation image and of a plain symlink image."""
    lc = Lifecycle(s, ex, "overlay", "list")
    r = lc.nr(["chroot-list", "--json"])
    check(r.rc == 0 and json.loads(r.out) == [], f"chroot-list --json of an empty state dir: {r.describe()}, {short(r.out)}")
    refreshed = 1700000000
    g = lc.make_mini_image("gen", gen=3, suite="lc-suite", refreshed=refreshed)
    (lc.sd / "plain").symlink_to(s.chroot())
    (lc.sd / "afile").write_text("not an image\n")
    (lc.sd / "dangling").symlink_to(lc.sd / "nothing")
    (lc.sd / ".hidden").mkdir()
    # As the Python tool did: an image a playbook defines but that does not exist yet is listed.
    lc.playbook("todo", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: trixie\n  tasks: []\n")
    lc.playbook("gen", "- hosts: all\n  tasks: []\n", where="state")
    plain = os.path.realpath(s.chroot())
    # The network column: the playbook's nspawn_runner_network, else the configured default.
    lc.playbook("gen", "- hosts: all\n  vars:\n    nspawn_runner_network: none\n")
    stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    want = {
        "gen": {"name": "gen", "suite": "lc-suite", "arch": host_arch(), "size_bytes": py_fs_usage(g), "generation": 3,
                "jobs": 0, "network": "none", "state": "ready", "refreshed": stamp(refreshed)},
        "plain": {"name": "plain", "suite": IMAGE, "arch": host_arch(), "size_bytes": py_fs_usage(plain), "generation": 0,
                  "jobs": 0, "network": "isolated", "state": "ready", "refreshed": stamp(int(os.stat(plain).st_mtime))},
        "todo": {"name": "todo", "suite": "", "arch": "", "size_bytes": 0, "generation": 0, "jobs": 0,
                 "network": "isolated", "state": "missing", "refreshed": "-"},
    }
    got = lc.list_json()
    check(sorted(got) == ["gen", "plain", "todo"], f"chroot-list --json lists {sorted(got)}, expected [gen, plain, todo]")
    for n, w in want.items():
        check(got[n] == w, f"chroot-list --json: {got[n]}, expected {w}")
    r = lc.nr(["chroot-list"])
    check(r.rc == 0, f"chroot-list: {r.describe()}")
    lines = [line for line in r.lines if line.strip()]
    check(lines and lines[0].split() == ["NAME", "SUITE", "ARCH", "SIZE", "GEN", "JOBS", "NETWORK", "REFRESHED"],
          f"header: {lines[:1]}")
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    check(sorted(rows) == ["gen", "plain", "todo"], f"chroot-list lists {sorted(rows)}")
    for n, w in want.items():
        exp = [n, w["suite"] or "-", w["arch"] or "-", f"{w['size_bytes'] / (1 << 20):.1f}", "M", str(w["generation"]),
               str(w["jobs"]), w["network"], "missing" if w["state"] == "missing" else w["refreshed"]]
        check(rows[n] == exp, f"chroot-list row {rows[n]}, expected {exp}")


def t_i386(s, ex):
    """An i386 chroot made by chroot-create --arch i386 (cached) runs jobs under the x86 personality."""
    chroot = s.i386_chroot()
    lc = Lifecycle(s, ex, "overlay", "i386")
    (lc.sd / "x86").symlink_to(chroot)
    with Job(s, ex, lc.sd, image="debian:x86") as job:
        job.prepare()
        r = job.run_ok("build_script", ["echo machine=$(uname -m)", "echo dpkg=$(dpkg --print-architecture)",
                                        "echo bits=$(getconf LONG_BIT)"])
        check("machine=i686" in r.lines, f"uname -m in the i386 machine: {short(r.out)}")
        check("dpkg=i386" in r.lines and "bits=32" in r.lines, f"the i386 machine: {short(r.out)}")
        end_job(s, job)
    lst = lc.list_json()
    check(lst["x86"]["arch"] == "i386" and lst["x86"]["suite"] == IMAGE, f"chroot-list of the i386 chroot: {lst['x86']}")


# (Debian arch, ELF e_machine, class, data encoding, binfmt_misc entry of qemu-user-static)
FOREIGN_ARCHES = [("arm64", 183, 2, 1, "qemu-aarch64"), ("armhf", 40, 1, 1, "qemu-arm"), ("ppc64el", 21, 2, 1, "qemu-ppc64le"),
                  ("riscv64", 243, 2, 1, "qemu-riscv64"), ("s390x", 22, 2, 2, "qemu-s390x")]
BINFMT = Path("/proc/sys/fs/binfmt_misc")


def elf_header(machine, cls, data):
    end = "<" if data == 1 else ">"
    ident = b"\x7fELF" + bytes([cls, data, 1, 0]) + bytes(8)
    hdr = ident + struct.pack(end + "HHI", 2, machine, 1)
    return hdr + bytes(64 - len(hdr))


def binfmt_enabled(entry):
    try:
        return (BINFMT / entry).read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        return False


def t_foreign_arch(s, ex):
    """A chroot of another architecture: without its qemu binfmt_misc entry enabled, prepare fails
    with one line; with it, prepare gets past the architecture check. The host's entries decide
    which applies; a private mount namespace with a fake binfmt_misc shows the other case too."""
    lc = Lifecycle(s, ex, "overlay", "foreign")
    for arch, machine, cls, data, _ in FOREIGN_ARCHES:
        bash = lc.sd / f"f-{arch}" / "usr/bin/bash"
        bash.parent.mkdir(parents=True)
        bash.write_bytes(elf_header(machine, cls, data))
        bash.chmod(0o755)
        (lc.sd / f"f-{arch}" / "bin").symlink_to("usr/bin")
    # binfmt_misc as this host may not have it: one entry disabled, the others missing.
    sim = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
           "mount -t tmpfs -o size=1m,mode=755 nspawn-runner-binfmt /proc/sys/fs/binfmt_misc && "
           "echo enabled > /proc/sys/fs/binfmt_misc/status && echo disabled > /proc/sys/fs/binfmt_misc/qemu-aarch64 && "
           "exec \"$@\"", "sh"]

    def expect_qemu_error(r, arch, entry, what):
        expect_system_failure(r, what)
        line = stderr_lines(r.err)[0]
        check("qemu-user-static" in line and str(BINFMT / entry) in line and arch in line,
              f"{what}: the error does not name qemu-user-static, {BINFMT / entry} and {arch}: {line}")

    def prepare(arch, entry, enabled, simulated):
        what = f"prepare of an {arch} chroot" + (" without binfmt_misc" if simulated else "")
        with Job(s, ex, lc.sd, image=f"debian:f-{arch}") as job:
            job.gitlab_config()
            job.prepared = True
            before = s.snapshot(lc.sd)
            c = Call((sim if simulated else []) + [ex.binary] + job.argv(["prepare"]), str(job.tmpdir), job.env())
            r = job.finish(c, 60, "prepare")
            if not enabled:
                expect_qemu_error(r, arch, entry, what)
                d = s.snapshot_diff(before, s.snapshot(lc.sd))
                check(not d, f"the failed {what} changed the host: {d}")
            else:
                # Past the architecture check the machine starts or fails for other reasons (the chroot
                # has nothing but a bash header): only the architecture check is judged.
                err = r.err.decode(errors="replace")
                check("qemu-user-static" not in err and "no usable bash" not in err and "rchitecture" not in err,
                      f"{what} with {entry} enabled: {r.describe()}")
            end_job(s, job)

    seen, problems = [], []
    for arch, _, _, _, entry in FOREIGN_ARCHES:
        enabled = binfmt_enabled(entry)
        seen.append(f"{entry} {'enabled' if enabled else 'not enabled'}")
        try:
            prepare(arch, entry, enabled, False)
        except Fail as e:
            problems.append(str(e))
    s.diag("binfmt_misc: " + ", ".join(seen))
    for arch, _, _, _, entry in (FOREIGN_ARCHES[0], FOREIGN_ARCHES[4]):
        try:
            prepare(arch, entry, False, True)
        except Fail as e:
            problems.append(str(e))
    before = s.snapshot(lc.sd)
    c = Call(sim + lc.argv(["chroot-create", "foreign", "--arch", "arm64", "--suite", IMAGE]), str(s.tmproot), s.clean_env())
    rc = c.wait(60)
    ex.check_sanitizer(bytes(c.err), "chroot-create")
    lines = stderr_lines(c.err)
    if not (rc == 1 and lines and "qemu-user-static" in lines[0] and str(BINFMT / "qemu-aarch64") in lines[0]):
        problems.append(f"chroot-create --arch arm64 without binfmt_misc: exit {rc}, stderr {short(c.err)}")
    # (The error may be followed by the usual summary that nothing was left.)
    elif not (len(lines) == 1 or (len(lines) == 2 and "nothing was left behind" in lines[1])):
        problems.append(f"chroot-create --arch arm64 without binfmt_misc: {len(lines)} lines: {short(c.err)}")
    d = s.snapshot_diff(before, s.snapshot(lc.sd))
    if d:
        problems.append(f"the failed chroot-create changed the host: {d}")
    check(not problems, " | ".join(problems))


def t_maint_without_ansible(s, ex):
    """A refresh with a playbook on a host without ansible-playbook (hidden in a private mount
    namespace) fails clearly and leaves the image as it was."""
    lc = Lifecycle(s, ex, "overlay", "noansible")
    name = "na"
    (lc.make_mini_image(name, python=True) / "etc/marker").write_text("version-1\n")
    lc.playbook(name, marker_playbook("version-2"))
    before = s.snapshot(lc.sd)
    hide = "mount --bind /dev/null /usr/bin/ansible-playbook && exec \"$@\""
    c = Call(["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh"] +
             lc.argv(["chroot-maintenance", name]), str(s.tmproot), s.clean_env())
    rc = c.wait(300)
    ex.check_sanitizer(bytes(c.err), "chroot-maintenance")
    check(rc == 1, f"chroot-maintenance without ansible-playbook: exit {rc}, stderr {short(c.err)}")
    check(any("Ansible" in line for line in stderr_lines(c.err)), f"the error does not say Ansible is missing: {short(c.err)}")
    check(re.search(r"^maintenance: 0 created, 0 updated, 0 unchanged, 1 failed", bytes(c.out).decode(), re.M),
          f"no summary with 1 failed: {short(c.out)}")
    check(lc.current(name) == 1 and lc.marker(name) == "version-1", "the image changed")
    d = s.snapshot_diff(before, s.snapshot(lc.sd))
    check(not d, f"the failed refresh left: {d}")


# ---------------------------------------------------------------------------------------------------
# nspawn-run: a person's throwaway machine, through sudo.

NSPAWN_RUN_FAILURE = 125  # nspawn-run's own failures (the command's status passes through)
DEFAULT_STATE_DIR = Path("/var/lib/nspawn-runner")
SUDOERS_DIR = Path("/etc/sudoers.d")


class NspawnRunUser:
    """A test user allowed nspawn-run by the shipped sudoers drop-in (its rule uncommented, naming the
    user and the built binary), and a state dir holding the cached chroots, which every call sees as
    /var/lib/nspawn-runner in a mount namespace of its own (sudo's caller cannot choose a state dir)."""

    def __init__(self, s):
        self.s = s
        self.user = "nsrt" + secrets.token_hex(4)
        self.binary = s.build / "nspawn-run"
        self.state = s.tmproot / "nspawn-run-state"
        self.sudoers = SUDOERS_DIR / f"nspawn-run-test-{self.user}"  # no '.': sudo skips such names
        self.made_mountpoint = False
        self.home = None
        self.state.mkdir()
        (self.state / IMAGE).symlink_to(s.chroot().resolve())
        if (s.cache_state / IMAGE_I386).is_dir():
            (self.state / IMAGE_I386).symlink_to((s.cache_state / IMAGE_I386).resolve())
        r = subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", "nspawn-run test",
                            self.user], capture_output=True, text=True)
        check(r.returncode == 0, f"useradd: {short(r.stderr)}")
        self.home = Path(pwd.getpwnam(self.user).pw_dir)
        self.uid, self.gid = pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid
        shipped = (REPO / "conf/nspawn-run.sudoers").read_text()
        rules = [line[1:] for line in shipped.splitlines() if line.startswith("#%nspawn-run ")]
        check(len(rules) == 1, f"the shipped sudoers drop-in has {len(rules)} commented-out rules, not 1")
        check(not any(line.strip() and not line.startswith("#") for line in shipped.splitlines()),
              "the shipped sudoers drop-in is not off by default")
        # Both builds: the sanitizer pass runs the same tests with the ASan/UBSan one.
        rule = rules[0].replace("%nspawn-run", self.user).replace(
            "/usr/bin/nspawn-run", f"{self.binary}, {(s.asan_build / 'nspawn-run').resolve()}")
        tmp = s.tmproot / "sudoers"
        tmp.write_text(shipped + rule + "\n")
        r = subprocess.run(["visudo", "-c", "-q", "-f", str(tmp)], capture_output=True, text=True)
        check(r.returncode == 0, f"visudo -c of the drop-in: {short(r.stdout + r.stderr)}")
        os.chmod(tmp, 0o440)
        shutil.move(tmp, self.sudoers)
        if not DEFAULT_STATE_DIR.exists():
            DEFAULT_STATE_DIR.mkdir(mode=0o755)
            self.made_mountpoint = True

    def remove(self):
        notes = []
        self.sudoers.unlink(missing_ok=True)
        r = subprocess.run(["pkill", "--signal", "KILL", "-U", self.user], capture_output=True)
        if r.returncode == 0:
            notes.append(f"processes of {self.user} left: killed")
        if self.home:
            r = subprocess.run(["userdel", "--remove", self.user], capture_output=True, text=True)
            if r.returncode != 0:
                notes.append(f"userdel {self.user}: {short(r.stderr)}")
        if self.made_mountpoint:
            try:
                DEFAULT_STATE_DIR.rmdir()
            except OSError as e:
                notes.append(f"{DEFAULT_STATE_DIR}: {e}")
        return notes

    def argv(self, args, via_sudo=True, sudo_args=(), as_root_env=None, prelude="true"):
        """nspawn-run with args as the test user through sudo (or as the user without sudo, or as root
        with the environment as_root_env), in a mount namespace where the test's state dir is the default
        (and where the shell commands prelude ran first)."""
        if as_root_env is not None:
            inner = ["env", "-i", *[f"{k}={v}" for k, v in as_root_env.items()], str(self.binary)]
        elif via_sudo:
            inner = ["sudo", "-u", self.user, "sudo", "-n", *sudo_args, str(self.binary)]
        else:
            inner = ["sudo", "-u", self.user, str(self.binary)]
        # In the suite's network namespace, like the executor's calls: the machine's isolated network is made there.
        return JOBS_NETNS_PREFIX + ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" ' + str(DEFAULT_STATE_DIR) +
                # The defaults of limits and network, whatever an installed package's configuration says.
                ' && { [ ! -d /etc/nspawn-runner ] || mount -t tmpfs tmpfs /etc/nspawn-runner; }' +
                f' && {prelude} && exec "$@"', str(self.state), *inner, *args]

    def run(self, args, timeout=60, **kw):
        argv = self.argv(args, **kw)
        try:
            p = subprocess.run(argv, cwd=self.home, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout,
                               env=self.s.clean_env())
        except subprocess.TimeoutExpired:
            raise Fail(f"nspawn-run {' '.join(args)[:60]} did not finish within {timeout} s")
        self.check_sanitizer(p.stderr)
        return Result(argv, p.returncode, p.stdout, p.stderr)

    @staticmethod
    def check_sanitizer(err):
        err = bytes(err).decode(errors="replace")
        check(not SANITIZER_RE.search(err), f"sanitizer report: {short(err, 400)}")

    def leftovers(self):
        """What a finished nspawn-run could have left: its /run directory, nspawn's propagate directory,
        the test user's processes, a lock file in the state dir."""
        left = [str(p) for p in Path("/run").glob("nspawn-run.*")]
        if PROPAGATE_DIR.is_dir():
            left += [n for n in os.listdir(PROPAGATE_DIR) if n.startswith(f"nspawn-run-{self.uid}-")]
        r = subprocess.run(["pgrep", "-a", "-U", self.user], capture_output=True, text=True)
        left += [f"process {line}" for line in r.stdout.splitlines()]
        left += [f"lock {p}" for p in (self.state / ".locks").glob("*")] if (self.state / ".locks").is_dir() else []
        left += [f"machine {p.name}" for p in (self.state / ".machines").glob("*")] if (self.state / ".machines").is_dir() else []
        return left + network_leftovers(self.s.jobs_netns)

    def check_clean(self):
        deadline = time.monotonic() + 5
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        check(not left, f"left behind: {left[:4]}")


def nspawn_run_user(s, asan=False):
    """The nspawn-run tests' user, calling the build's nspawn-run (or the sanitized build's)."""
    if asan:
        s.asan()
        u = copy.copy(nspawn_run_user(s))
        u.binary = (s.asan_build / "nspawn-run").resolve()
        return u
    if s.nspawn_run is None:
        if "nspawn-run" in s.backend_errors:
            raise Fail(s.backend_errors["nspawn-run"])
        try:
            s.nspawn_run = NspawnRunUser(s)
        except Fail as e:
            s.backend_errors["nspawn-run"] = f"nspawn-run test user: {e}"
            raise Fail(s.backend_errors["nspawn-run"])
    return s.nspawn_run


def t_nspawn_run_identity(s, asan=False):
    """The command runs as the caller (uid, gid, name, passwd entry), in the caller's working directory
    in their bound home, and what it writes there is the caller's on the host."""
    u = nspawn_run_user(s, asan)
    (u.home / "sub").mkdir(exist_ok=True)
    os.chown(u.home / "sub", u.uid, u.gid)
    r = u.run(["-n", IMAGE, "sh", "-c", 'echo uid=$(id -u) gid=$(id -g) name=$(id -un) group=$(id -gn); '
               'echo home=$HOME; echo pwd=$(pwd); getent passwd $(id -un); echo hi >"$HOME/from-machine"; '
               f'test -e {s.tmproot} || echo host-private; test -e {REPO} || echo repo-private'])
    check(r.rc == 0, f"nspawn-run id: {r.describe()}")
    grp_name = subprocess.run(["id", "-gn", u.user], capture_output=True, text=True).stdout.strip()
    want = [f"uid={u.uid} gid={u.gid} name={u.user} group={grp_name}", f"home={u.home}", f"pwd={u.home}",
            "host-private", "repo-private"]  # the home is the only host directory there
    for w in want:
        check(w in r.lines, f"expected {w!r}: {short(r.out)}")
    check(any(line.startswith(f"{u.user}:x:{u.uid}:{u.gid}:nspawn-run test:{u.home}:") for line in r.lines),
          f"the caller's passwd entry: {short(r.out)}")
    st = (u.home / "from-machine").stat()
    check((st.st_uid, st.st_gid) == (u.uid, u.gid), f"file written in the home is owned by {st.st_uid}:{st.st_gid}")
    r = u.run(["-n", IMAGE, "pwd"])  # the argv's cwd is the home: a subdirectory of it is kept too
    check(r.rc == 0 and r.lines == [str(u.home)], f"pwd: {r.describe()}")
    u.check_clean()


def t_nspawn_run_exit_status(s, asan=False):
    """The command's exit status passes through; a command that is not there is nspawn's failure, not 0."""
    u = nspawn_run_user(s, asan)
    for status in (0, 1, 42, 125):
        r = u.run(["-n", IMAGE, "sh", "-c", f"exit {status}"])
        check(r.rc == status, f"exit {status}: {r.describe()}")
    r = u.run(["-n", IMAGE, "sh", "-c", "kill -TERM $$"])
    check(r.rc == 255, f"a command killed by SIGTERM (nspawn's stub init says 255): {r.describe()}")
    r = u.run(["-n", IMAGE, "/no/such/command"])
    check(r.rc != 0, f"a missing command: {r.describe()}")
    u.check_clean()


def t_nspawn_run_ephemeral(s, asan=False):
    """The base is read-only and nothing of a machine is kept: what one writes (outside the home) is gone
    in the next one and never reaches the chroot; the image's own root account cannot be reached."""
    u = nspawn_run_user(s, asan)
    chroot = s.chroot().resolve()
    before = sorted(os.listdir(chroot / "var/tmp")), (chroot / "etc").stat().st_mtime_ns
    r = u.run(["-n", IMAGE, "sh", "-c", "touch /var/tmp/nspawn-run-mark && ls /var/tmp/nspawn-run-mark; "
               "touch /etc/nspawn-run-mark 2>/dev/null && echo wrote-etc; su -c true root </dev/null 2>/dev/null && echo root; exit 0"])
    check(r.rc == 0 and r.lines == ["/var/tmp/nspawn-run-mark"], f"first machine: {r.describe()}")
    r = u.run(["-n", IMAGE, "sh", "-c", "test ! -e /var/tmp/nspawn-run-mark && echo gone"])
    check(r.rc == 0 and r.lines == ["gone"], f"second machine: {r.describe()}")
    after = sorted(os.listdir(chroot / "var/tmp")), (chroot / "etc").stat().st_mtime_ns
    check(before == after, f"the chroot changed: {before} -> {after}")
    u.check_clean()


NSPAWN_RUN_BAD_IMAGES = ["../etc", "a/b", "/var/lib/nspawn-runner/bookworm", ".images", "", "x" * 65, "bad name",
                         "no-such-image"]
NSPAWN_RUN_WIDENING = [["--bind=/:/mnt", "-n", IMAGE, "id"], ["-n", IMAGE, "--bind-ro=/etc/shadow:/x", "id"],
                       ["--user=root", "-n", IMAGE, "id"], ["-u", "root", "-n", IMAGE, "id"],
                       ["-D", "/", "-n", IMAGE, "id"], ["--directory=/", "id"], ["--image=/dev/sda", "id"],
                       ["--state-dir", str(DEFAULT_STATE_DIR), "-n", IMAGE, "id"], ["-n", IMAGE, "--setenv=LD_PRELOAD=/x", "id"],
                       ["-xn", IMAGE, "id"], ["-n"], ["id"]]


def t_nspawn_run_bad_input(s, asan=False):
    """Unknown or unsafe image names and every option that could widen access are refused in one line,
    exit 125, before any machine; so is a call without sudo, and an environment variable sudo's caller
    tries to set. Root's own NSPAWN_RUNNER_STATE_DIR does not apply once $SUDO_UID says who called."""
    u = nspawn_run_user(s, asan)
    for args in [["-n", name, "id", "-u"] for name in NSPAWN_RUN_BAD_IMAGES] + NSPAWN_RUN_WIDENING:
        r = u.run(args)
        what = f"nspawn-run {' '.join(args)}"
        check(r.rc == NSPAWN_RUN_FAILURE, f"{what}: expected exit {NSPAWN_RUN_FAILURE}, got {r.describe()}")
        lines = stderr_lines(r.err)
        check(len(lines) == 1 and lines[0].startswith("nspawn-run: "), f"{what}: expected one line, got {short(r.err)}")
        check(not r.out, f"{what}: printed {short(r.out)}")
    r = u.run(["-n", IMAGE, "id", "-u"], via_sudo=False)
    check(r.rc == NSPAWN_RUN_FAILURE and len(stderr_lines(r.err)) == 1 and "sudo" in r.err.decode(),
          f"without sudo: {r.describe()}")
    r = u.run(["-n", IMAGE, "id", "-u"], sudo_args=[f"NSPAWN_RUNNER_STATE_DIR={s.tmproot}"])
    check(r.rc != 0 and str(u.uid) not in r.lines, f"setting the state dir through sudo: {r.describe()}")
    r = u.run(["-n", IMAGE, "id", "-u"], as_root_env={"SUDO_UID": u.uid, "SUDO_GID": u.gid, "PATH": STANDARD_PATH,
                                                     "NSPAWN_RUNNER_STATE_DIR": str(s.tmproot / "elsewhere")})
    check(r.rc == 0 and r.lines == [str(u.uid)], f"NSPAWN_RUNNER_STATE_DIR beside SUDO_UID: {r.describe()}")
    # The machine's user namespace maps 0..65535 only: a caller above cannot be themself inside.
    r = u.run(["-n", IMAGE, "id", "-u"], as_root_env={"SUDO_UID": 100000, "SUDO_GID": u.gid, "PATH": STANDARD_PATH})
    check(r.rc == NSPAWN_RUN_FAILURE and len(stderr_lines(r.err)) == 1 and "65535" in r.err.decode() and not r.out,
          f"a caller with uid 100000: {r.describe()}")
    # Besides the images only the machines' directory, empty again.
    check(sorted(os.listdir(u.state)) == sorted([IMAGE, ".machines"] + ([IMAGE_I386] if (u.state / IMAGE_I386).exists() else [])),
          f"the state dir changed: {sorted(os.listdir(u.state))}")
    u.check_clean()


def t_nspawn_run_image_symlinks(s, asan=False):
    """An image's /etc/passwd or /etc/group that is a symlink out of it (to the host's /etc/shadow) is
    read inside the image: the caller never sees a host file through the copy nspawn-run makes."""
    u = nspawn_run_user(s, asan)
    image = u.state / "symlinks"
    # A copy of hard links (the machine's overlay never writes to its lower layer), not an overlayfs
    # mount: the image is mounted idmapped, which overlayfs does not support.
    subprocess.run(["cp", "-al", str(s.chroot().resolve()), str(image)], check=True)
    try:
        (image / "etc/group").unlink()
        (image / "etc/group").symlink_to("/etc/shadow")
        (image / "etc/passwd").unlink()
        (image / "etc/passwd").symlink_to("../../../../../../../../etc/shadow")
        r = u.run(["-n", image.name, "cat", "/etc/passwd", "/etc/group"])
    finally:
        shutil.rmtree(image)
    check(r.rc == 0, f"nspawn-run on the image: {r.describe()}")
    host_only = set(Path("/etc/shadow").read_text().splitlines()) - set((s.chroot() / "etc/shadow").read_text().splitlines())
    leaked = [line.split(":")[0] for line in r.lines if line in host_only]
    check(not leaked, f"the host's /etc/shadow entries of {leaked[:4]} are in the machine")
    mine = [line for line in r.lines if line.startswith(f"{u.user}:")]
    check(len(mine) == 2 and all(line.split(":")[1] == "x" for line in mine),
          f"the caller's lines (one passwd, one group entry, no shadow): {mine}")
    u.check_clean()


def t_nspawn_run_i386(s, asan=False):
    """An i386 image runs under the x86 personality (uname -m says i686)."""
    u = nspawn_run_user(s, asan)
    if not (u.state / IMAGE_I386).exists():
        raise Skip(f"no i386 chroot in the suite's cache ({s.cache_state / IMAGE_I386}; the lifecycle i386 test makes it)")
    r = u.run(["-n", IMAGE_I386, "sh", "-c", "echo $(uname -m) $(dpkg --print-architecture) $(id -u)"])
    check(r.rc == 0 and r.lines == [f"i686 i386 {u.uid}"], f"i386 image: {r.describe()}")
    u.check_clean()


def nspawn_run_group_signal(s, u, command, sig, before):
    """nspawn-run of command; once before(call) returned, sig to the call's process group (as a
    terminal or a shell does). Waits for its end; no "sleep 4242" may be left (the machine's processes
    run as uids of its range, not the user's: looked for by command). Returns the call."""
    c = Call(u.argv(["-n", IMAGE, *command]), u.home, s.clean_env(), stdin_hold=True)
    try:
        before(c)
        c.kill_group(sig)
        c.wait(20)
    except Fail:
        c.abort()
        raise
    u.check_sanitizer(c.err)
    # The machine's PID namespace is torn down as nspawn exits; its last processes may take a moment to go.
    deadline = time.monotonic() + 5
    while s.our_processes(["sleep 4242"], mnt_needles=[]) and time.monotonic() < deadline:
        time.sleep(0.1)
    check(not s.our_processes(["sleep 4242"], mnt_needles=[]), f"sleep 4242 still runs 5 s after signal {sig}")
    return c


def t_nspawn_run_sigint_pipe(s, asan=False):
    """Ctrl-C without a terminal (SIGINT to the foreground process group) ends the command; exit 130."""
    u = nspawn_run_user(s, asan)

    def started(c):
        check(c.wait_output(b"started", 30), f"the command did not start: {short(c.err)}")
        time.sleep(0.3)

    c = nspawn_run_group_signal(s, u, ["sh", "-c", "echo started; exec sleep 4242"], signal.SIGINT, started)
    check(c.p.returncode == 128 + signal.SIGINT, f"exit after SIGINT: {c.p.returncode}: {short(c.err)}")
    u.check_clean()


def loopback_listener(netns):
    """A TCP listener on 127.0.0.1 in the network namespace netns (the suite's "host" for machines):
    (its process, its port)."""
    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{netns}", "--", "python3", "-c",
                          "import socket, sys, time\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
                          "print(s.getsockname()[1], flush=True)\ntime.sleep(120)"],
                         stdout=subprocess.PIPE, text=True)
    return p, int(p.stdout.readline())


def t_nspawn_run_lockdown(s, asan=False):
    """The machine has the jobs' lock-down: its own user namespace (root inside is a uid of a range of
    its own, not the host's root), a seccomp filter, the jobs' device list and limits in its cgroups, and the image's
    network mode (isolated by default: the host's 127.0.0.1 is not the machine's), while the caller is
    themself inside and their home keeps its ownership."""
    u = nspawn_run_user(s, asan)
    listener, port = loopback_listener(s.jobs_netns)
    try:
        r = u.run(["-n", IMAGE, "sh", "-c", "cat /proc/self/uid_map; cat /sys/fs/cgroup/pids/pids.max; "
                   "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; grep -c . /sys/fs/cgroup/devices/devices.list; "
                   "grep -q 'a \\*:\\* rwm' /sys/fs/cgroup/devices/devices.list && echo all-devices; "
                   "grep -q '^b ' /sys/fs/cgroup/devices/devices.list && echo block-devices; "
                   "stat -c 'home %u:%g' $HOME; grep -q host0: /proc/net/dev && echo host0; "
                   f"python3 -c 'import socket; print(\"connect\", socket.socket().connect_ex((\"127.0.0.1\", {port})))'; "
                   "grep ^Seccomp: /proc/self/status; "
                   "perl -e 'for ([304, -100, 0, 0], [246, 0, 0, 0, 0], [321, 0, 0, 0]) { my ($nr, @a) = @$_; syscall($nr, @a); print \"$nr:\", $!+0, \"\\n\" }'"])
        check(listener.poll() is None, "the listener ended")
        # It is reachable from the suite's namespace itself: the machine's refusal is its isolation.
        reach = subprocess.run(["nsenter", f"--net=/run/netns/{s.jobs_netns}", "--", "python3", "-c",
                                f"import socket; print(socket.socket().connect_ex(('127.0.0.1', {port})))"],
                               capture_output=True, text=True)
    finally:
        listener.kill()
        listener.wait()
    check(reach.stdout.strip() == "0", f"the listener is not reachable outside the machine: {reach.stdout} {reach.stderr}")
    check(r.rc == 0, f"nspawn-run: {r.describe()}")
    uid_map = r.lines[0].split() if r.lines else []
    check(len(uid_map) == 3 and uid_map[0] == "0" and int(uid_map[1]) >= 0x70000000 and uid_map[2] == "65536",
          f"/proc/self/uid_map is not a range of the machine's own: {short(r.out)}")
    # Seccomp: open_by_handle_at, kexec_load and bpf fail with EPERM (nspawn's filter and the jobs' alike).
    want = ["1024", str(1536 << 20), "9", f"home {u.uid}:{u.gid}", "host0", "connect 111", "Seccomp:\t2", "304:1", "246:1", "321:1"]
    check(r.lines[1:] == want, f"expected {want} after the uid map: {short(r.out)}")
    u.check_clean()


def t_nspawn_run_network_modes(s, asan=False):
    """The image's playbook chooses the network as for jobs: none is loopback only, host is the host's
    (the suite's namespace: its 127.0.0.1 listener answers). The playbook is in an /etc/nspawn-runner
    that only the call's mount namespace sees (an overlay on /etc)."""
    u = nspawn_run_user(s, asan)
    base = s.tmproot / "nspawn-run-etc"
    listener, port = loopback_listener(s.jobs_netns)
    try:
        for mode, want in (("none", ["lo", "connect 111"]), ("host", ["connect 0"])):
            shutil.rmtree(base, ignore_errors=True)
            (base / "upper/nspawn-runner").mkdir(parents=True)
            (base / "work").mkdir()
            (base / f"upper/nspawn-runner/{IMAGE}.yaml").write_text(
                f"- hosts: all\n  vars:\n    nspawn_runner_network: {mode}\n  tasks: []\n")
            etc = f"mount -t overlay overlay -o lowerdir=/etc,upperdir={base}/upper,workdir={base}/work /etc"
            r = u.run(["-n", IMAGE, "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | grep -vx lo >/dev/null || echo lo; "
                       f"python3 -c 'import socket; print(\"connect\", socket.socket().connect_ex((\"127.0.0.1\", {port})))'"],
                      prelude=etc)
            if mode == "host":
                check(r.rc == 0 and r.lines[-1:] == want, f"network {mode}: {r.describe()}")
            else:
                check(r.rc == 0 and r.lines == want, f"network {mode}: {r.describe()}")
            u.check_clean()
    finally:
        listener.kill()
        listener.wait()
        shutil.rmtree(base, ignore_errors=True)


def nspawn_run_interrupted(s, u, action):
    """nspawn-run of a command that sleeps; once it runs (with one network slot, of its machine),
    action(PID of nspawn-run), then the wait for its end. Returns the call."""
    c = Call(u.argv(["-n", IMAGE, "sh", "-c", "echo started; exec sleep 4242"]), u.home, s.clean_env(), stdin_hold=True)
    try:
        check(c.wait_output(b"started", 30), f"the command did not start: {short(c.err)}")
        pids = [int(p) for p in subprocess.run(["pgrep", "-x", "-f", f"{u.binary} -n {IMAGE} sh -c .*"],
                                               capture_output=True, text=True).stdout.split()]
        check(len(pids) == 1, f"nspawn-run processes: {pids}")
        slots = list(Path("/run/nspawn-runner/network/slots").glob("*"))
        check(len(slots) == 1 and os.readlink(slots[0]).startswith(str(DEFAULT_STATE_DIR / ".machines/0-")),
              f"the machine's network slot: {[(p.name, os.readlink(p)) for p in slots]}")
        action(pids[0])
        c.wait(20)
    except Fail:
        c.abort()
        raise
    return c


def t_nspawn_run_sigterm_cleanup(s, asan=False):
    """SIGTERM to nspawn-run takes the machine down and removes its network, cgroups and directory."""
    u = nspawn_run_user(s, asan)
    c = nspawn_run_interrupted(s, u, lambda pid: os.kill(pid, signal.SIGTERM))
    u.check_sanitizer(c.err)
    check(c.p.returncode != 0, f"exit after SIGTERM: {c.p.returncode}: {short(c.err)}")
    u.check_clean()


def t_nspawn_run_early_sigterm(s, asan=False):
    """SIGTERM to the call's process group at any moment while the machine is made or starts leaves
    nothing behind (no machine directory, network, cgroup or process for gc to find)."""
    u = nspawn_run_user(s, asan)
    for delay in (0.05, 0.15, 0.3, 0.6, 1.0):
        c = nspawn_run_group_signal(s, u, ["sleep", "4242"], signal.SIGTERM, lambda c: time.sleep(delay))
        check(c.p.returncode != 0, f"exit after SIGTERM at {delay} s: {c.p.returncode}")
        u.check_clean()


def t_nspawn_run_kill9_gc(s, asan=False):
    """What nspawn-run killed with SIGKILL leaves (machine directory, nspawn, network) gc removes."""
    u = nspawn_run_user(s, asan)

    def kill_and_gc(pid):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        check(any((u.state / ".machines").iterdir()), "the machine directory went with nspawn-run")
        r = subprocess.run(JOBS_NETNS_PREFIX + [str(s.build / "nspawn-runner"), "--state-dir", str(u.state), "gc"],
                           capture_output=True, text=True, timeout=60, env=s.clean_env(), stdin=subprocess.DEVNULL)
        check(r.returncode == 0 and "removed 1 leftover machine" in r.stdout, f"gc: {r.returncode} {short(r.stdout + r.stderr)}")

    nspawn_run_interrupted(s, u, kill_and_gc)
    # The image's lock file stays (nothing holds it: the next nspawn-run takes it again).
    for p in (u.state / ".locks").glob("*"):
        with open(p) as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        p.unlink()
    u.check_clean()


def pty_expect(fd, needle, timeout, buf):
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail(f"no {needle!r} on the terminal: {short(bytes(buf))}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise Fail(f"terminal closed before {needle!r}: {short(bytes(buf))}")
            buf.extend(chunk)


def t_nspawn_run_terminal(s, asan=False):
    """On a terminal, no command is an interactive login shell as the caller; ^C reaches the command it
    runs (the shell goes on), and the shell's exit status is nspawn-run's."""
    u = nspawn_run_user(s, asan)
    argv = u.argv(["-n", IMAGE])
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(u.home)
            os.execvpe(argv[0], argv, dict(s.clean_env(), TERM="dumb"))
        finally:
            os._exit(127)
    buf = bytearray()
    try:
        # The shell echoes what is typed: the markers are computed, so only the output matches.
        os.write(fd, b"shopt -q login_shell && echo LOGIN-$((6*7))-$(id -u) $-\n")
        pty_expect(fd, f"LOGIN-42-{u.uid} ".encode(), 30, buf)
        check(b"i" in bytes(buf).split(b"LOGIN-42-")[1].split(b"\n")[0], f"not an interactive shell: {short(bytes(buf))}")
        os.write(fd, b"sleep 4242\n")
        time.sleep(1.0)
        os.write(fd, b"\x03")
        os.write(fd, b"echo AFTER-$((6*7))-$?\n")
        pty_expect(fd, b"AFTER-42-130", 10, buf)
        os.write(fd, b"exit 7\n")
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            check(time.monotonic() < deadline, f"the shell did not exit: {short(bytes(buf))}")
            try:
                select.select([fd], [], [], 0.2) and os.read(fd, 65536)
            except OSError:
                time.sleep(0.1)
        pid = 0
        u.check_sanitizer(buf)
        check(os.waitstatus_to_exitcode(status) == 7, f"exit status {os.waitstatus_to_exitcode(status)}, not 7")
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    u.check_clean()


def t_final_host_clean(s):
    problems = []
    left = s.machines_left()
    if left:
        problems.append(f"machines left: {left[:4]}")
    procs = s.our_processes()
    if procs:
        problems.append("processes left: " + "; ".join(list(procs.values())[:4]))
    prop = s.propagate_dirs()
    if prop:
        problems.append(f"propagate dirs left: {prop[:4]}")
    stray = [m for m in s.mounts_under_tmproot() if m not in s.own_mounts]
    if stray:
        problems.append(f"mounts left: {stray[:4]}")
    problems += network_leftovers(s.jobs_netns)
    control = s.control_dirs_left()
    if control:
        problems.append(f"control directories left: {control[:4]}")
    now = host_net_state()
    if now != s.host_net_before:
        problems.append(f"the host's network namespace changed: {s.host_net_before} -> {now}")
    notes = s.teardown()
    for n in notes:
        s.diag(f"teardown: {n}")
    remaining = s.mounts_under_tmproot()
    if remaining:
        problems.append(f"mounts remain after teardown: {remaining[:4]}")
    for dev, backing in s.loops:
        r = subprocess.run(["losetup", "-a"], capture_output=True, text=True)
        if any(line.startswith(dev + ":") for line in r.stdout.splitlines()):
            problems.append(f"loop device {dev} still attached")
    if s.tmproot.exists():
        problems.append(f"{s.tmproot} not removed")
    check(not problems, "; ".join(problems))


def host_net_state():
    """The host network namespace's state that isolated machines would change: forwarding, nft tables
    and veths of ours."""
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout.split("\n")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {"ip_forward": forward, "nft tables": sorted(t for t in tables if "nspawn_runner_" in t),
            "veths": re.findall(r"^\d+: (nr\d+)", links, re.M)}


def network_leftovers(netns):
    """What isolated machines may leave (in the jobs' network namespace): pool slots, namespace
    mounts, veths, nft tables."""
    problems = []
    for d in ("slots", "netns"):
        p = Path("/run/nspawn-runner/network") / d
        if p.is_dir() and any(p.iterdir()):
            problems.append(f"{p} not empty: {sorted(x.name for x in p.iterdir())[:4]}")
    if not netns:
        return problems
    links = subprocess.run(["ip", "-n", netns, "-o", "link"], capture_output=True, text=True).stdout
    veths = re.findall(r"^\d+: (nr\d+)", links, re.M)
    if veths:
        problems.append(f"veths left: {veths[:4]}")
    tables = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "tables"], capture_output=True, text=True).stdout
    if "nspawn_runner_" in tables:
        problems.append(f"nft tables left: {tables.strip()[:200]}")
    return problems


# ---------------------------------------------------------------------------------------------------

TEST_GITLAB_CONFIG = "gitlab-config prints valid JSON with builds_dir, cache_dir, builds_dir_is_shared, hostname, driver"
TEST_TOML = "toml parses and carries all execs, args, timeouts and --state-dir"
TEST_FINAL = "host is clean: no machines, processes, mounts, loop devices, propagate dirs or temp dirs left"
NO_CHROOT = {TEST_GITLAB_CONFIG, TEST_TOML, "asan: the sanitized build builds completely", "asan: gitlab-config and toml",
             TEST_FINAL}


def build_tests(s):
    """(name, function) in run order."""
    tests = []

    def add(name, fn, *a, **kw):
        tests.append((name, lambda: fn(s, *a, **kw)))

    ex = s.ex
    add(TEST_GITLAB_CONFIG, t_gitlab_config, ex)
    add(TEST_TOML, t_toml, ex)
    for backend in ("overlay", "btrfs"):
        p = f"{backend}: "
        add(p + "success through all stages", t_success, ex, backend)
        add(p + "failing script exit 42 gives exit 1 and 42 in BUILD_EXIT_CODE_FILE", t_failure, ex, backend)
        add(p + "the job's dangerous system calls fail with EPERM, keyrings with ENOSYS (seccomp)", t_seccomp, ex, backend)
        add(p + "shell killed by a signal reports 128+N", t_signal_exit, ex, backend)
        add(p + "files and a background server persist across stages", t_persistence, ex, backend)
        add(p + "8 concurrent jobs are isolated and leave the base chroot unchanged", t_concurrent, ex, backend)
        add(p + "SIGTERM to run cancels the stage, after_script still runs", t_cancel, ex, backend)
        add(p + "cancel of a stage that ignores SIGTERM (SIGKILL after the grace)", t_cancel, ex, backend, ignore_term=True)
        add(p + "SIGKILL to run's process group stops the stage", t_cancel, ex, backend, sig=signal.SIGKILL)
        add(p + "stdin is passed through to the stage", t_stdin, ex, backend)
        add(p + "cache dir persists across jobs, builds dir is fresh", t_cache, ex, backend)
        add(p + "host gitlab-runner is visible and read-only in the machine", t_host_gitlab_runner, ex, backend)
        add(p + "chroot without systemd runs jobs", t_no_systemd, ex, backend)
        add(p + "kill -9 of systemd-nspawn: next stage works, cleanup leaves nothing", t_kill_nspawn, ex, backend)
        for delay in (0.005, 0.03, 0.08):
            add(p + f"kill -9 of prepare after {delay * 1000:.0f} ms, then cleanup leaves nothing", t_kill_prepare, ex, backend, delay)
        add(p + "SIGTERM to prepare while the machine starts: exit 2, nothing left", t_term_prepare, ex, backend, 0.03)
        add(p + "kill -9 of the machine's init mid-stage: exit 2, then cleanup leaves nothing", t_kill_init, ex, backend)
        add(p + "2 MiB script and unusual stage names", t_big_script_and_stage_names, ex, backend)
        add(p + "cleanup twice, and cleanup without prepare, succeed", t_cleanup_twice, ex, backend)
        add(p + "prepare twice: the second fails, the first machine is untouched", t_prepare_twice, ex, backend)
        add(p + "two jobs of the same id run side by side; a refused prepare's cleanup leaves them", t_same_job_id, ex, backend)
        add(p + "without config_exec: a refused prepare of the same id, its run and cleanup leave the first machine",
            t_same_job_id_without_config, ex, backend)
    add("btrfs: an image that is not a subvolume runs on overlayfs", t_btrfs_plain_image, ex, "btrfs")
    add("btrfs: --storage overlay on a btrfs state dir", t_success, ex, "btrfs", storage="overlay")
    add("bad input: btrfs: --storage btrfs with an image that is not a subvolume", bad_input, ex, "btrfs",
        ["prepare", "--storage", "btrfs"], {"CUSTOM_ENV_CI_JOB_IMAGE": "debian:plain"})
    for backend, storage in (("overlay", None), ("btrfs", None), ("overlay", "tmpfs")):
        p = f"security: {storage or backend}: "
        add(p + "a job's attacks on the host fail at their first step (devices, /proc/sys, /sys, overmounts, tty, "
                "gitlab-runner bind, raw sockets)", t_sec_attacks, ex, backend, storage)
        add(p + "chown, setuid, dpkg -i, nested unshare work; /cache owners hold across jobs", t_sec_still_works, ex,
            backend, storage)
        add(p + "a fork bomb and a memory hog hit the limits, one line names each, the next job works", t_sec_limits,
            ex, backend, storage)
        add(p + "control sockets are on the host's /run: none on the state dir's disk mounted elsewhere, none "
                "reachable from another job", t_sec_control_socket, ex, backend, storage)
        add(p + "nested sandboxes: bubblewrap with a fresh /proc, podman (vfs, crun) with an image from a tarball; "
                "a fresh procfs uncovers nothing", t_sec_nested, ex, backend, storage)
        add(p + "job_disk_max: " + ("prepare warns that it is not enforced" if (storage or backend) == "overlay" else
                                     "a job writing past it fails with one line, under it works, no leftovers"),
            t_disk_limit, ex, backend, storage)
    add("security: concurrent machines get distinct id ranges, freed by cleanup", t_sec_ranges, ex, "overlay")
    add("security: a job sees only its own project's cache, where gitlab-runner keeps it", t_sec_project_caches, ex,
        "overlay")
    add("security: off systemd the machine is in a devices cgroup of the harmless set, removed by cleanup",
        t_sec_devices_cgroup, ex, "overlay")
    add("security: gc removes the control directories of gone machines, and a machine whose one is gone",
        t_gc_control_dirs, ex)
    add("overlay: long state dir path works; one with ',' and ':' fails cleanly", t_unusual_state_dirs, ex, "overlay")
    add("overlay: cleanup with a garbage state file leaves nothing", t_corrupt_state, ex, "overlay")
    add("overlay: exit codes follow BUILD_FAILURE_EXIT_CODE and SYSTEM_FAILURE_EXIT_CODE", t_exit_codes_from_env, ex, "overlay")
    add("overlay: 16 MiB of output and stderr pass through", t_big_output, ex, "overlay")
    add("tmpfs: success through all stages", t_success, ex, "overlay", storage="tmpfs")
    add("tmpfs: failing script exit 42", t_failure, ex, "overlay", storage="tmpfs")
    add("tmpfs: files and a background server persist across stages", t_persistence, ex, "overlay", storage="tmpfs")
    add("overlay: a 20-digit job id works", t_long_id, ex, "overlay")
    add("overlay: image references reduce to the chroot name (tag, digest, argument, default)", t_image_refs, ex, "overlay")
    for name, args, env in BAD_INPUTS:
        add(f"bad input: {name}", bad_input, ex, "overlay", args, env)
    for name, args, env in USER_MISTAKES:
        add(f"job's mistake (build failure): {name}", bad_input, ex, "overlay", args, env, user_mistake=True)
    add("chroot-create: invalid names fail and leave nothing", t_chroot_create_invalid_names, ex, "overlay")
    add("chroot-create: existing name fails and leaves the image alone", chroot_create_fails, ex, "overlay", IMAGE, [])
    add("chroot-create: unknown suite fails and leaves nothing", chroot_create_fails, ex, "overlay", "nosuite",
        ["--suite", "no-such-suite"])
    add("chroot-create: --mirror file:///nonexistent fails and leaves nothing", chroot_create_fails, ex, "overlay",
        "nomirror", ["--suite", IMAGE, "--mirror", "file:///nonexistent"])
    add("chroot-create: btrfs, --mirror file:///nonexistent fails and leaves no subvolume", chroot_create_fails, ex,
        "btrfs", "nomirror", ["--suite", IMAGE, "--mirror", "file:///nonexistent"])
    add("chroot-create: SIGTERM during debootstrap leaves nothing", chroot_create_fails, ex, "overlay", "interrupted",
        ["--suite", IMAGE], interrupt_after=30)

    # The chroot lifecycle.
    lc = "lifecycle: "

    def add(name, fn, *a, **kw):  # removes the test's state dirs when it is done
        tests.append((name, lambda: lifecycle_run(s, fn, s, *a, **kw)))

    for backend in ("overlay", "btrfs"):
        p = f"{lc}{backend}: "
        add(p + "a playbook of 2 plays refreshes the image into a new generation; run again, it is unchanged", t_maint_refresh,
            ex, backend)
        add(p + "a job keeps its generation through a refresh, a new job gets the new one, the old one goes with the "
                "job's cleanup", t_maint_while_job, ex, backend)
        add(p + "chroot-login: exit 0 keeps the edit as a new generation, exit 3 drops it", t_chroot_login, ex, backend)
    add(lc + "overlay: a plain-directory image is not replaced while a job runs on it, and is after", t_maint_plain_dir_while_job, ex)
    for backend, points in (("overlay", (0.3, 1.5, 3.0, "ansible")), ("btrfs", (0.3, "ansible"))):
        for when in points:
            at = "while a playbook task runs" if when == "ansible" else f"after {when} s"
            add(f"{lc}{backend}: kill -9 of chroot-maintenance {at}: last good generation, no processes left, a job "
                "works, gc leaves only the current generation", t_maint_kill, ex, backend, when)
    add(f"{lc}{len(MALFORMED_PLAYBOOKS)} kinds of malformed playbooks: maintenance and create fail with FILE:LINE and "
        "change nothing", t_malformed_playbooks, ex)
    add(lc + "gc --threshold on a small file system: leftover machines and the oldest caches go, fresh ones stay",
        t_gc_threshold, ex)
    add(lc + "gc removes and counts every unused generation", t_gc_generations, ex)
    add(lc + "gc on a noatime mount: a cache a job only read is kept, the least recently used goes", t_gc_noatime, ex)
    add(lc + "chroot-list (text and JSON) of a generation image, a plain symlink image and a playbook's missing one",
        t_chroot_list, ex)
    add(lc + "chroot-login without a terminal runs the commands on stdin (exit 0 keeps, exit 3 drops)", t_chroot_login_pipe, ex)
    add(lc + "jobs run with --suppress-sync unless nspawn-runner.conf or the image's playbook says no", t_suppress_sync, ex)
    add(lc + "i386: chroot-create --arch i386 (cached); a job in it reports i686 and i386", t_i386, ex)
    add(lc + "foreign architectures: prepare needs the qemu binfmt_misc entry, in one line", t_foreign_arch, ex)
    add(lc + "refresh without ansible-playbook fails clearly and leaves the image", t_maint_without_ansible, ex)

    # nspawn-run, after the lifecycle tests, which make the cached i386 chroot on a fresh clone.
    p = "nspawn-run: "

    def add(name, fn, *a, **kw):
        tests.append((name, lambda: fn(s, *a, **kw)))

    add(p + "runs as the caller through sudo: uid, gid, passwd entry, home bound, working directory", t_nspawn_run_identity)
    add(p + "the command's exit status passes through", t_nspawn_run_exit_status)
    add(p + "read-only base, nothing persists between machines", t_nspawn_run_ephemeral)
    add(p + f"{len(NSPAWN_RUN_BAD_IMAGES)} unknown or unsafe images and {len(NSPAWN_RUN_WIDENING)} widening calls are "
            "refused in one line; no sudo, no state dir from the caller", t_nspawn_run_bad_input)
    add(p + "an image's /etc/passwd and /etc/group symlinked to /etc/shadow are read inside the image",
        t_nspawn_run_image_symlinks)
    add(p + "an i386 image runs with the x86 personality", t_nspawn_run_i386)
    add(p + "SIGINT to the foreground process group ends the command (exit 130)", t_nspawn_run_sigint_pipe)
    add(p + "on a terminal: login shell, ^C reaches the command, exit status of the shell", t_nspawn_run_terminal)
    add(p + "the jobs' lock-down: own user namespace, device list, limits, isolated network", t_nspawn_run_lockdown)
    add(p + "the image's playbook chooses the network: none, host", t_nspawn_run_network_modes)
    add(p + "SIGTERM removes the machine, its network and cgroups", t_nspawn_run_sigterm_cleanup)
    add(p + "SIGTERM while the machine is made or starts leaves nothing", t_nspawn_run_early_sigterm)
    add(p + "after SIGKILL gc removes the machine nspawn-run left", t_nspawn_run_kill9_gc)

    # The sanitizer pass: the same scenarios with the ASan/UBSan build.
    def asan_test(name, fn, *a, **kw):
        tests.append((f"asan: {name}", lambda: fn(s, s.asan(), *a, **kw)))

    def asan_complete():
        s.asan()
        check(s.asan_incomplete is None, s.asan_incomplete or "")

    tests.append(("asan: the sanitized build builds completely", asan_complete))
    asan_test("success through all stages", t_success, "overlay")
    asan_test("failing script exit 42", t_failure, "overlay")
    asan_test("8 concurrent jobs", t_concurrent, "overlay")
    asan_test("SIGTERM to run cancels the stage", t_cancel, "overlay")
    asan_test("kill -9 of prepare after 30 ms", t_kill_prepare, "overlay", 0.03)
    asan_test("SIGTERM to prepare while the machine starts", t_term_prepare, "overlay", 0.03)
    asan_test("gitlab-config and toml", lambda s_, ex_: (t_gitlab_config(s_, ex_), t_toml(s_, ex_)))
    for name, args, env in BAD_INPUTS:
        asan_test(f"bad input: {name}", bad_input, "overlay", args, env)
    asan_test("prepare twice", t_prepare_twice, "overlay")
    for name, fn in (("identity and home", t_nspawn_run_identity), ("exit status", t_nspawn_run_exit_status),
                     ("refused input", t_nspawn_run_bad_input), ("SIGINT", t_nspawn_run_sigint_pipe),
                     ("a terminal session", t_nspawn_run_terminal), ("lock-down", t_nspawn_run_lockdown),
                     ("SIGTERM cleanup", t_nspawn_run_sigterm_cleanup)):
        tests.append((f"asan: nspawn-run: {name}", lambda fn=fn: fn(s, asan=True)))
    def asan_test(name, fn, *a, **kw):
        tests.append((f"asan: {name}", lambda: lifecycle_run(s, fn, s, s.asan(), *a, **kw)))

    asan_test("lifecycle: malformed playbooks", t_malformed_playbooks)
    asan_test("lifecycle: btrfs: playbook refresh, then unchanged", t_maint_refresh, "btrfs")
    asan_test("lifecycle: btrfs: chroot-login", t_chroot_login, "btrfs")
    asan_test("lifecycle: chroot-list", t_chroot_list)
    asan_test("lifecycle: gc --threshold on a small file system", t_gc_threshold)
    asan_test("lifecycle: gc of unused generations", t_gc_generations)
    return tests


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory with nspawn-runner and nspawn-runner-init")
    ap.add_argument("--asan-build", default="build-asan", help="sanitized build directory (built when missing)")
    ap.add_argument("--cache-dir", default="tests/cache",
                    help="where the shared chroot is kept between runs (made when missing; default tests/cache)")
    ap.add_argument("-k", dest="pattern", help="run only tests whose name matches this regular expression")
    args = ap.parse_args()

    if os.geteuid() != 0:
        print("tests/integration/run.py must run as root (it starts systemd-nspawn machines).", file=sys.stderr)
        return 2
    build = Path(args.build) if Path(args.build).is_absolute() else REPO / args.build
    for f in ("nspawn-runner", "nspawn-runner-init"):
        if not os.access(build / f, os.X_OK):
            print(f"{build / f} is missing: run make first.", file=sys.stderr)
            return 2
    s = Suite(args)
    atexit.register(s.teardown)
    s.make_jobs_netns()

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    tests = build_tests(s)
    if args.pattern:
        rx = re.compile(args.pattern, re.I)
        tests = [(n, f) for n, f in tests if rx.search(n)]
    tests.append((TEST_FINAL, lambda: t_final_host_clean(s)))

    passed = failed = 0
    t_start = time.monotonic()
    s.say(f"# nspawn-runner integration tests: {len(tests)} tests, build {s.build}, temp {s.tmproot}")
    try:
        if any(name not in NO_CHROOT for name, _ in tests):
            try:
                s.chroot()  # made (once) before the first test, which would otherwise carry its time
            except Fail as e:
                s.say(f"# {e}")
        for i, (name, fn) in enumerate(tests, 1):
            t0 = time.monotonic()
            reason = skipped = None
            try:
                fn()
            except Fail as e:
                reason = str(e)
            except Skip as e:
                skipped = str(e)
            except KeyboardInterrupt:
                raise
            except Exception as e:
                reason = f"{type(e).__name__}: {e}"
                s.diag(traceback.format_exc())
            dt = time.monotonic() - t0
            if reason is None:
                passed += 1
                s.say(f"ok {i} - {name}" + (f" # SKIP {skipped}" if skipped else ""))
            else:
                failed += 1
                s.say(f"not ok {i} - {name}: {reason.replace(chr(10), ' ')}")
            if dt >= 5:
                s.diag(f"took {dt:.1f} s")
            for line in s.pending_diag:
                s.say(line)
            s.pending_diag.clear()
    except KeyboardInterrupt:
        s.say("# interrupted: tearing down")
        s.teardown()
        failed += 1
    finally:
        for n in s.teardown():
            s.say(f"# teardown: {n}")
    s.say(f"# total time {time.monotonic() - t_start:.0f} s")
    s.say(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
