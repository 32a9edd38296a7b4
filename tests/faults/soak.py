"""make soak: many whole jobs at a given concurrency on each backend, then a census of what could leak.
Called by tests/faults/run.py --soak JOBS --concurrency C (which holds the harness).

The census counts only what this run owns (other users of the host run machines at the same time):
processes whose command line or mount namespace names this run's temp dir or machines, mounts below
it, machine directories in its state dirs, loop devices on its files, nspawn propagate dirs of its job
ids, control directories on /run of its machines, and what isolated machines leave in the jobs'
network namespace (pool slots, namespace mounts, veths, more than one firewall table per pool). One
machine then runs as many stages as there were jobs: the fds and RSS of its init and of its
systemd-nspawn, after the first stages and at the end, show whether a long job leaks."""
from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tap
from netstate import leftovers as network_leftovers

STAGES = ("get_sources", "build_script", "after_script")


def census(f):
    s = f.s
    loops = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True, text=True).stdout
    return {
        "processes": len(s.our_processes()),
        "mounts": len([m for m in s.mounts_under_tmproot() if m not in s.own_mounts]),
        "machine dirs": len(s.machines_left()),
        "loop devices": len([line for line in loops.splitlines() if str(s.tmproot) in line]) - len(s.loops),
        "propagate dirs": len(s.propagate_dirs()),
        "control dirs": len(s.control_dirs_left()),
        "network leftovers": len(network_leftovers(s.jobs_netns)),
    }


def one_job(f, sd):
    job = f.new_id()
    t0 = time.monotonic()
    f.prepare(sd, job)
    for stage in STAGES:
        f.run_ok(sd, job, stage=stage)
    rc, out = f.call(sd, "cleanup", "--id", job)
    if rc != 0:
        raise RuntimeError(f"cleanup of job {job}: exit {rc}: {out.strip()[:200]}")
    return time.monotonic() - t0


def proc_usage(pid):
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None
    return fds, rss


def long_machine(f, sd, stages):
    """fds and RSS (kB) of the init and of systemd-nspawn after 10 stages and after `stages`."""
    job = f.new_id()
    f.prepare(sd, job)
    state = dict(line.split("=", 1) for line in (Path(sd) / ".machines" / job / "state").read_text().splitlines()
                 if "=" in line)
    pids = {"init": state.get("init_pid"), "systemd-nspawn": state.get("nspawn_pid")}
    seen = {}
    try:
        for i in range(1, stages + 1):
            f.run_ok(sd, job)
            if i in (10, stages):
                seen[i] = {k: proc_usage(p) for k, p in pids.items() if p}
    finally:
        f.cleanup_clean(sd, job)
    return seen


def soak(f, args):
    """One TAP point per backend (its jobs all worked, nothing leaked) and one for the teardown."""
    t = f.s.tap
    tap.interrupt_on_signals()
    print(f"# nspawn-runner soak: {args.soak} jobs per backend, {args.concurrency} at once "
          f"({len(STAGES)} stages each), temp {f.s.tmproot}", flush=True)
    try:
        before = census(f)
        for backend in args.backends.split(","):
            errors, leaks = soak_backend(f, args, backend, before)
            t.point(not errors and not leaks, f"{backend}: {args.soak} jobs, nothing left" if not errors and not leaks
                    else f"{backend}: {len(errors)} failed jobs, leaks {leaks}")
    finally:
        notes = f.s.teardown()
    t.point(not notes, "teardown had nothing to do" + (f": {'; '.join(notes)[:500]}" if notes else ""))
    t.plan(t.n)
    return t.summary()


def soak_backend(f, args, backend, before):
    """Runs the backend's jobs and prints what they took; returns their errors and the leaks."""
    sd = f.s.state_dir(backend)
    errors, times = [], []
    lock = threading.Lock()

    def job():
        try:
            t = one_job(f, sd)
            with lock:
                times.append(t)
        except Exception as e:  # counted, the soak goes on
            with lock:
                errors.append(str(e))
    t0 = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        for _ in range(args.soak):
            pool.submit(job)
    wall = time.monotonic() - t0
    time.sleep(1)
    after = census(f)
    leaks = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    print(f"# {backend}: {len(times)} of {args.soak} jobs ok, {len(errors)} failed, {wall:.0f} s "
          f"({args.soak / wall:.1f} jobs/s), per job median {statistics.median(times or [0]):.2f} s, "
          f"max {max(times or [0]):.2f} s", flush=True)
    for e in errors[:5]:
        print(f"#   failed: {e[:300]}", flush=True)
    print(f"# {backend}: census after: " + ", ".join(f"{k} {v}" for k, v in after.items()), flush=True)
    usage = long_machine(f, sd, max(args.soak, 20))
    for i, u in sorted(usage.items()):
        print(f"# {backend}: one machine after {i} stages: " +
              ", ".join(f"{k} {v[0]} fds {v[1]} kB RSS" if v else f"{k} gone" for k, v in u.items()), flush=True)
    return errors, leaks
