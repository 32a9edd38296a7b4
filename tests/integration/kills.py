# SPDX-License-Identifier: GPL-2.0-or-later
"""kill -9 and SIGTERM to the product's own processes (prepare, systemd-nspawn, the machine's init):
the job fails cleanly and cleanup leaves nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tap import Fail, require

from host import proc_stat, process_alive
from jobs import Job, Result, SYSTEM_FAILURE, end_job, expect_system_failure, short, stderr_lines
from suite import bind


def t_kill_nspawn(s, ex, backend):
    with Job(s, ex, s.state_dir(backend)) as job:
        job.prepare()
        job.run_ok("get_sources", ["echo alive > /root/alive"])
        st = job.state()
        require("nspawn_pid" in st, f"no nspawn_pid in the state file: {st}")
        pid = int(st["nspawn_pid"])
        pst = proc_stat(pid)
        require(pst is not None and pst[2] == "systemd-nspawn", f"nspawn_pid {pid} is {pst}")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        require(not process_alive(pid), "systemd-nspawn survived SIGKILL")
        r = job.run("build_script", ["cat /root/alive"])
        require(r.rc == 0 and "alive" in r.lines, f"the stage after systemd-nspawn was killed: {r.describe()}, stdout {short(r.out)}")
        end_job(s, job)


def signal_prepare(job, delay, sig):
    """Starts the job's prepare and signals its process group after delay; returns the call and its exit."""
    job.gitlab_config()
    job.prepared = True
    c = job.start(["prepare"])
    time.sleep(delay)
    c.kill_group(sig)
    return c, c.wait(30)


def t_kill_prepare(s, ex, backend, delay):
    with Job(s, ex, s.state_dir(backend)) as job:
        c, rc = signal_prepare(job, delay, signal.SIGKILL)
        s.diag(f"prepare killed after {delay * 1000:.0f} ms: exit {rc}, machine dir {'exists' if os.path.exists(job.machine_dir) else 'absent'}")
        end_job(s, job)
        # gitlab-runner's retry of prepare must start from nothing.
        job.cleaned = False
        job.prepare()
        r = job.run_ok("build_script", ["echo again"])
        require("again" in r.lines, "the job does not work after the retry")
        end_job(s, job)


def t_term_prepare(s, ex, backend, delay):
    """gitlab-runner's prepare timeout: SIGTERM to the group while the machine starts."""
    with Job(s, ex, s.state_dir(backend)) as job:
        c, rc = signal_prepare(job, delay, signal.SIGTERM)
        err = bytes(c.err)
        ex.check_sanitizer(err, "prepare")
        if rc == 0:
            s.diag(f"prepare finished within {delay * 1000:.0f} ms, before SIGTERM")
        else:
            lines = stderr_lines(err)
            require(rc == SYSTEM_FAILURE and len(lines) == 1,
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
        require(proc_stat(init) is not None and proc_stat(init)[2].startswith("nspawn-runner-i"), f"init_pid {init} is {proc_stat(init)}")
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
        require("must-not-run" not in r.lines, "a stage ran in a dead machine")
        end_job(s, job)
        require(not s.our_processes([marker], []), "the stage's process survived its machine")


def tests(s):
    ex = s.ex
    out = []
    for backend in ("overlay", "btrfs"):
        p = f"{backend}: "
        out.append(bind(s, p + "kill -9 of systemd-nspawn: next stage works, cleanup leaves nothing", t_kill_nspawn, ex,
                        backend))
        for delay in (0.005, 0.03, 0.08):
            out.append(bind(s, p + f"kill -9 of prepare after {delay * 1000:.0f} ms, then cleanup leaves nothing",
                            t_kill_prepare, ex, backend, delay))
        out += [
            bind(s, p + "SIGTERM to prepare while the machine starts: exit 2, nothing left", t_term_prepare, ex, backend,
                 0.03),
            bind(s, p + "kill -9 of the machine's init mid-stage: exit 2, then cleanup leaves nothing", t_kill_init, ex,
                 backend),
        ]
    return out
