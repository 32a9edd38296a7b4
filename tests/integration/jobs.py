# SPDX-License-Identifier: GPL-2.0-or-later
"""What a job is to the tests: the product's calls as gitlab-runner makes them (Call, Executor),
one job driven through config, prepare, run and cleanup (Job), and the stage scripts they run."""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tap import Fail, require


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
        require(r.rc == 0, f"gitlab-config: {r.describe()}")
        try:
            cfg = json.loads(r.out) if r.out.strip() else {}
        except json.JSONDecodeError as e:
            raise Fail(f"gitlab-config printed invalid JSON ({e}): {short(r.out)}")
        require(isinstance(cfg, dict), f"gitlab-config printed {type(cfg).__name__}, not an object")
        self.config = cfg
        self.builds_dir = cfg.get("builds_dir") or self.builds_dir
        self.cache_dir = cfg.get("cache_dir") or self.cache_dir
        require(self.builds_dir and self.cache_dir, "no builds_dir/cache_dir from config")
        self.project_dir = f"{self.builds_dir}/{self.concurrent_id}/group/project"
        return cfg

    def prepare(self, expect=0, timeout=60):
        if not self.config:
            self.gitlab_config()
        self.prepared = True
        r = self.call(["prepare"] + self.prepare_args, timeout=timeout)
        if expect is not None:
            require(r.rc == expect, f"prepare of job {self.id}: {r.describe()}")
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
        require(r.rc == 0, f"stage {stage} of job {self.id}: {r.describe()}; stdout: {short(r.out)}")
        require(r.exit_file is None, f"stage {stage} succeeded but wrote {r.exit_file!r} to BUILD_EXIT_CODE_FILE")
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


def end_job(s, job):
    """cleanup succeeds and leaves nothing of the job."""
    r = job.cleanup()
    require(r.rc == 0, f"cleanup of job {job.id}: {r.describe()}")
    s.wait_job_gone(job)


def expect_system_failure(r, what):
    lines = stderr_lines(r.err)
    require(r.rc == SYSTEM_FAILURE, f"{what}: expected exit {SYSTEM_FAILURE}, got {r.describe()}")
    require(len(lines) == 1, f"{what}: expected one line on stderr, got {len(lines)}: {short(r.err)}")
