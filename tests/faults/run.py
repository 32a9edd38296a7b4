#!/usr/bin/env python3
"""Fault injection for nspawn-runner (issue 10): kill -9 and SIGTERM at chosen points of prepare, run and
cleanup, concurrent prepare/cleanup/gc, a full disk; each trial followed by the checks that matter: cleanup
exits 0, nothing of the job runs or is mounted, its machine directory and nspawn propagate dir are gone,
and a new job on a new id works. TAP output, one test point per fault kind and backend, with trial counts.

Reuses the integration suite's Suite (tests/integration/suite.py): the shared chroot cached in
tests/cache/ (made once, with the product's chroot-create), the loop-mounted btrfs state dir, the
teardown that leaves the host as it was. Job ids are 9 digits (run.py's are 13): no clash.

The randomness (kill delays, which point to aim at) comes from one seed, printed first; replay a run with
--seed N or FAULTS_SEED=N. --trials N (FAULTS_TRIALS) scales the loops: the reproductions of the issue run
N times per backend, the randomized kills N per step. With --soak JOBS, runs that many full jobs at
--concurrency C per backend instead and prints the leak census (make soak).

Usage: tests/faults/run.py [--build build] [--trials N] [--seed N] [--backends overlay,btrfs] [-k REGEX]
       tests/faults/run.py --soak 200 --concurrency 8
"""
from __future__ import annotations

import argparse
import fcntl
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "integration"), str(HERE.parent / "lib")]

import tap  # noqa: E402
from tap import Fail  # noqa: E402
from host import host_mounts  # noqa: E402
from jobs import CONTROL_RUN_DIR, IMAGE, JOBS_NETNS_PREFIX, PROPAGATE_DIR, short  # noqa: E402
from suite import Suite  # noqa: E402

MACHINE_PREFIX = "nspawn-runner-"
STAGE_TIMEOUT = 60


class Faults:
    def __init__(self, args):
        self.s = Suite(argparse.Namespace(build=args.build, asan_build="build-asan", cache_dir=args.cache_dir))
        self.s.id_base = random.randrange(10**5, 10**6) * 1000  # 9-digit ids; run.py's have 13
        self.rng = random.Random(args.seed)
        # Jobs keep the default network mode, isolated, in a namespace of the suite's own (as run.py's).
        self.s.make_jobs_netns()
        self.bin = str(self.s.ex.binary)
        self.env = self.s.clean_env()
        # Our own (empty) configuration: the host's gc threshold or defaults do not apply.
        self.config_dir = self.s.tmproot / "config"
        self.config_dir.mkdir()
        self.scripts = self.s.tmproot / "scripts"
        self.scripts.mkdir()
        for name, text in (("ok.sh", "echo ok\n"),
                           ("long.sh", "echo started\nsleep 100\n"),
                           ("stubborn.sh", "trap '' TERM\necho started\nsleep 100\necho survived\n"),
                           ("steps.sh", "echo started\nfor i in 1 2 3 4 5; do sleep 0.05; echo step $i; done\n"),
                           ("fill.sh", "echo started\ndd if=/dev/zero of=/big bs=1M status=none\n")):
            (self.scripts / name).write_text(text)
        self.durations = {}

    # -- driving the executor --
    def argv(self, sd, *args):
        return JOBS_NETNS_PREFIX + [self.bin, "--state-dir", str(sd), "--config-dir", str(self.config_dir)] + [str(a) for a in args]

    def call(self, sd, *args, timeout=120):
        r = subprocess.run(self.argv(sd, *args), capture_output=True, timeout=timeout, env=self.env,
                           stdin=subprocess.DEVNULL, start_new_session=True)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    def spawn(self, sd, *args, out=None):
        """Started in a session of its own, as gitlab-runner starts each call (killed as a group)."""
        return subprocess.Popen(self.argv(sd, *args), stdout=out or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                env=self.env, stdin=subprocess.DEVNULL, start_new_session=True)

    def new_id(self):
        i = self.s.next_id()
        self.s.ids.add(i)
        return i

    def prepare(self, sd, job, extra=()):
        t0 = time.monotonic()
        rc, out = self.call(sd, "prepare", IMAGE, "--id", job, *extra)
        if rc != 0:
            raise Fail(f"prepare of job {job}: exit {rc}: {short(out)}")
        self.durations.setdefault("prepare", []).append(time.monotonic() - t0)

    def run_ok(self, sd, job, script="ok.sh", stage="after_script"):
        rc, out = self.call(sd, "run", "--id", job, self.scripts / script, stage, timeout=STAGE_TIMEOUT)
        if rc != 0 or "ok" not in out.split():
            raise Fail(f"stage {stage} of job {job}: exit {rc}: {short(out)}")

    # -- what must hold after a trial --
    def job_remains(self, sd, job):
        """What is left of the job: processes, mounts, machine dir, propagate dir, control dir."""
        left = []
        procs = self.s.our_processes([f"--id {job}", f"{MACHINE_PREFIX}{job}", f"/.machines/{job}"],
                                     [f"/.machines/{job}/"])
        left += [f"process {d}" for d in procs.values()]
        for m in host_mounts():
            if f"/.machines/{job}/" in m[0] + "/":
                left.append(f"mount {m[0]}")
        if (Path(sd) / ".machines" / job).exists():
            left.append(f"machine dir {Path(sd) / '.machines' / job}")
        if (PROPAGATE_DIR / f"{MACHINE_PREFIX}{job}").exists():
            left.append(f"propagate dir {MACHINE_PREFIX}{job}")
        if os.path.lexists(CONTROL_RUN_DIR / job):
            left.append(f"control dir {CONTROL_RUN_DIR / job}")
        return left

    def cleanup_clean(self, sd, job):
        rc, out = self.call(sd, "cleanup", "--id", job)
        if rc != 0:
            raise Fail(f"cleanup of job {job}: exit {rc}: {short(out)}")
        left = self.job_remains(sd, job)
        if left:
            raise Fail(f"after cleanup of job {job} returned: {'; '.join(left)[:300]}")

    def next_job_works(self, sd):
        job = self.new_id()
        self.prepare(sd, job)
        self.run_ok(sd, job)
        self.cleanup_clean(sd, job)

    # -- waiting for a point inside a step --
    def wait_point(self, sd, job, point, proc, out_path=None, timeout=30):
        """Polls until the step reached point; False if the process ended first."""
        mdir = Path(sd) / ".machines" / job
        control = CONTROL_RUN_DIR / job / "control"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if point == "mkdir" and mdir.exists() or point == "control" and control.exists():
                return True
            if point == "supervisor" and "nspawn_pid=" in read(mdir / "state") or \
               point == "nspawn" and nspawn_running(job):
                return True
            if point == "socket" and (control / "control.sock").exists():
                return True
            if point == "output" and "started" in read(out_path):
                return True
            if proc.poll() is not None:
                return False
            if point not in ("mkdir", "control"):  # those two are busy-polled: the next steps are quick
                time.sleep(0.0005)
        raise Fail(f"{point} not reached within {timeout} s")

    def kill_group(self, proc, sig=signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=STAGE_TIMEOUT)

    # -- the trials --
    def t_repro_run_kill(self, sd, trials):
        """Issue 10, bug A: the stage after a SIGKILLed run works, every time."""
        job = self.new_id()
        self.prepare(sd, job)
        out = self.s.tmproot / f"out-{job}"
        try:
            for i in range(trials):
                with open(out, "wb") as f:
                    p = self.spawn(sd, "run", "--id", job, self.scripts / "long.sh", "build_script", out=f)
                if not self.wait_point(sd, job, "output", p, out):
                    raise Fail(f"trial {i}: the long stage ended early: {short(read(out))}")
                self.kill_group(p)
                self.run_ok(sd, job)
        finally:
            self.cleanup_clean(sd, job)
        return trials

    def t_repro_gc_race(self, sd, trials):
        """Issue 10, bug B: a cleanup's gc, looping, never removes a job whose prepare just started."""
        stop = threading.Event()
        errors = []
        gc_runs = [0]
        other = self.new_id()

        def gc_loop():
            while not stop.is_set():
                rc, out = self.call(sd, "-v", "cleanup", "--id", other)
                gc_runs[0] += 1
                if rc != 0:
                    errors.append(f"cleanup of {other}: exit {rc}: {short(out)}")
        t = threading.Thread(target=gc_loop, daemon=True)
        t.start()
        try:
            for _ in range(trials):
                job = self.new_id()
                self.prepare(sd, job)
                self.cleanup_clean(sd, job)
        finally:
            stop.set()
            t.join(60)
        if errors:
            raise Fail(errors[0])
        self.gc_in_the_gap(sd)
        return f"{trials} jobs against {gc_runs[0]} cleanups with gc, and gc held in the gap"

    def gc_in_the_gap(self, sd):
        """The race made certain: a creator stopped between mkdir() of the machine dir and its lock
        (the product's protocol: the machines dir flock()ed shared over that gap). gc must wait, and
        then leave the dir, which its creator holds by then."""
        machines = Path(sd) / ".machines"
        job = self.new_id()
        gate = os.open(machines, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(gate, fcntl.LOCK_SH)
            (machines / job).mkdir(mode=0o700)
            gc = self.spawn(sd, "gc")
            time.sleep(0.5)
            dfd = os.open(machines / job, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(dfd, fcntl.LOCK_EX)
            fcntl.flock(gate, fcntl.LOCK_UN)
            rc = gc.wait(60)
            there = (machines / job).is_dir()
            os.close(dfd)
        finally:
            os.close(gate)
        if rc != 0 or not there:
            raise Fail(f"gc (exit {rc}) removed a machine dir in the gap between its mkdir and its lock")
        self.cleanup_clean(sd, job)

    def t_kill_prepare(self, sd, trials):
        """kill -9 of prepare aimed at its steps: the machine dir made, its control dir made (the
        supervisor is forked next), the supervisor written down, systemd-nspawn running, the init's
        socket; or at a random time within a prepare."""
        points = ["mkdir", "control", "control", "supervisor", "nspawn", "socket", "random"]
        hits = dict.fromkeys(points, 0)
        for i in range(trials):
            point = points[i % len(points)]
            job = self.new_id()
            p = self.spawn(sd, "prepare", IMAGE, "--id", job)
            if point == "random":
                time.sleep(self.rng.uniform(0, self.typical("prepare", 0.5)))
                reached = p.poll() is None
            else:
                reached = self.wait_point(sd, job, point, p)
                spin(self.rng.uniform(0, 0.001))
            self.kill_group(p)
            hits[point] += reached
            self.cleanup_clean(sd, job)
        self.next_job_works(sd)
        return f"{trials} trials; killed after: " + ", ".join(f"{k} {v}" for k, v in hits.items())

    def t_term_prepare(self, sd, trials):
        """SIGTERM to prepare's process group (gitlab-runner's cancel) aimed at the same steps: prepare
        ends with an exit code, never by a signal (0 if it was done, else 2), and cleanup leaves nothing."""
        points = ["mkdir", "control", "supervisor", "nspawn", "socket"]
        codes = {}
        for i in range(trials):
            job = self.new_id()
            p = self.spawn(sd, "prepare", IMAGE, "--id", job)
            self.wait_point(sd, job, points[i % len(points)], p)
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            rc = p.wait(timeout=STAGE_TIMEOUT)
            codes[rc] = codes.get(rc, 0) + 1
            if rc not in (0, 2):
                raise Fail(f"trial {i}: prepare of job {job} after SIGTERM at {points[i % len(points)]}: exit {rc}")
            self.cleanup_clean(sd, job)
        self.next_job_works(sd)
        return f"{trials} trials; exit codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items()))

    def t_kill_run(self, sd, trials):
        """kill -9 of run at a random time within a stage that prints as it goes; the next stage works."""
        job = self.new_id()
        self.prepare(sd, job)
        try:
            for _ in range(trials):
                p = self.spawn(sd, "run", "--id", job, self.scripts / "steps.sh", "build_script")
                time.sleep(self.rng.uniform(0, 0.4))
                self.kill_group(p)
                self.run_ok(sd, job)
        finally:
            self.cleanup_clean(sd, job)
        self.next_job_works(sd)
        return trials

    def t_kill_cleanup(self, sd, trials):
        """kill -9 of cleanup at a random time within it (a stage running); the next cleanup finishes."""
        for _ in range(trials):
            job = self.new_id()
            self.prepare(sd, job)
            stage = self.spawn(sd, "run", "--id", job, self.scripts / "long.sh", "build_script")
            t0 = time.monotonic()
            p = self.spawn(sd, "cleanup", "--id", job)
            time.sleep(self.rng.uniform(0, self.typical("cleanup", 0.3)))
            self.kill_group(p)
            self.durations.setdefault("cleanup", []).append(time.monotonic() - t0)
            self.cleanup_clean(sd, job)
            if stage.wait(STAGE_TIMEOUT) == 0:
                raise Fail(f"the stage of job {job} exited 0 though its machine was removed")
        self.next_job_works(sd)
        return trials

    def t_sigterm_stubborn(self, sd, trials):
        """SIGTERM to run while its stage ignores TERM (trap '' TERM): run ends within seconds with a
        failure, and the machine takes the next stage."""
        job = self.new_id()
        self.prepare(sd, job)
        try:
            for i in range(trials):
                out = self.s.tmproot / f"out-{job}"
                with open(out, "wb") as f:
                    p = self.spawn(sd, "run", "--id", job, self.scripts / "stubborn.sh", "build_script", out=f)
                self.wait_point(sd, job, "output", p, out)
                t0 = time.monotonic()
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    rc = p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill_group(p)
                    raise Fail(f"trial {i}: run did not end within 10 s of SIGTERM")
                dt = time.monotonic() - t0
                if rc == 0 or "survived" in read(out):
                    raise Fail(f"trial {i}: the stage went on after SIGTERM (exit {rc}): {short(read(out))}")
                self.durations.setdefault("sigterm", []).append(dt)
                self.run_ok(sd, job)
        finally:
            self.cleanup_clean(sd, job)
        return f"{trials} trials, run ended {statistics.median(self.durations['sigterm']) * 1000:.0f} ms after SIGTERM (median)"

    def t_concurrent(self, sd, trials):
        """Two job loops (prepare, stage, cleanup), a gc loop and a loop of cleanups of a job that does
        not exist, all at once: every job works, every cleanup leaves nothing."""
        stop = threading.Event()
        errors, counts = [], {"jobs": 0, "gc": 0}

        def jobs():
            try:
                for _ in range(trials):
                    if errors:
                        return
                    job = self.new_id()
                    self.prepare(sd, job)
                    self.run_ok(sd, job)
                    self.cleanup_clean(sd, job)
                    counts["jobs"] += 1
            except Fail as e:
                errors.append(str(e))

        def loop(args, key):
            while not stop.is_set():
                rc, out = self.call(sd, *args)
                counts[key] = counts.get(key, 0) + 1
                if rc != 0:
                    errors.append(f"{' '.join(args)}: exit {rc}: {short(out)}")
                    return
        workers = [threading.Thread(target=jobs) for _ in range(2)]
        loops = [threading.Thread(target=loop, args=(["gc"], "gc")),
                 threading.Thread(target=loop, args=(["cleanup", "--id", self.new_id()], "cleanups"))]
        for t in workers + loops:
            t.start()
        for t in workers:
            t.join()
        stop.set()
        for t in loops:
            t.join(60)
        if errors:
            raise Fail(errors[0])
        return f"{counts['jobs']} jobs, {counts['gc']} gc, {counts.get('cleanups', 0)} cleanups"

    def t_disk_full(self, sd_unused, trials):
        """A stage fills the machine's disk (a small loop-mounted ext4 holding the state dir): the stage
        fails cleanly, cleanup exits 0 and frees the space, and the next job on it works."""
        sd = self.small_fs()
        free0 = os.statvfs(sd).f_bfree
        for i in range(trials):
            job = self.new_id()
            self.prepare(sd, job)
            rc, out = self.call(sd, "run", "--id", job, self.scripts / "fill.sh", "build_script", timeout=120)
            if rc == 0 or "No space left" not in out:
                raise Fail(f"trial {i}: the stage that fills the disk: exit {rc}: {short(out)}")
            self.cleanup_clean(sd, job)
            free = os.statvfs(sd).f_bfree
            if free < free0 * 0.95:
                raise Fail(f"trial {i}: cleanup freed too little: {free} of {free0} blocks free")
            self.next_job_works(sd)
        return trials

    # -- fixtures --
    def small_fs(self):
        img, mnt = self.s.tmproot / "small.img", self.s.tmproot / "small-state"
        if mnt.is_dir() and os.path.ismount(mnt):
            return mnt
        self.s.sh(["truncate", "-s", "96M", str(img)])
        self.s.sh(["mkfs.ext4", "-q", "-F", str(img)])
        dev = self.s.sh(["losetup", "--find", "--show", str(img)])
        self.s.loops.append((dev, str(img)))
        mnt.mkdir()
        self.s.sh(["mount", dev, str(mnt)])
        self.s.own_mounts.append(str(mnt))
        (mnt / IMAGE).symlink_to(self.s.chroot())
        self.s.extra_state_dirs.append(mnt)
        return mnt

    def typical(self, what, default):
        d = self.durations.get(what)
        return statistics.median(d) if d else default


def spin(seconds):
    """A delay finer than sleep() gives."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def read(path):
    try:
        return Path(path).read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError, TypeError):
        return ""


def nspawn_running(job):
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"systemd-nspawn\0") and f"--machine={MACHINE_PREFIX}{job}\0".encode() in cmd:
                return True
    return False


TESTS = [
    ("bug A reproduction: the stage after a SIGKILLed run works", "t_repro_run_kill", 1),
    ("bug B reproduction: prepare/cleanup of new jobs against a looping cleanup's gc", "t_repro_gc_race", 1),
    ("kill -9 of prepare inside its steps, then cleanup", "t_kill_prepare", 1),
    ("SIGTERM to prepare inside its steps, then cleanup", "t_term_prepare", 0.5),
    ("kill -9 of run mid-stage, then the next stage", "t_kill_run", 1),
    ("kill -9 of cleanup mid-way, then cleanup again", "t_kill_cleanup", 0.5),
    ("SIGTERM mid-stage to a stage that traps TERM", "t_sigterm_stubborn", 0.25),
    ("concurrent prepare/run/cleanup, gc and cleanup loops", "t_concurrent", 0.5),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--cache-dir", default="tests/cache")
    ap.add_argument("--trials", type=int, default=int(os.environ.get("FAULTS_TRIALS", "15")))
    ap.add_argument("--seed", type=int, default=int(os.environ["FAULTS_SEED"]) if os.environ.get("FAULTS_SEED")
                    else random.randrange(1 << 32))
    ap.add_argument("--backends", default="overlay,btrfs")
    tap.add_arguments(ap)
    ap.add_argument("--soak", type=int, metavar="JOBS", help="run JOBS jobs per backend and print the leak census")
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("tests/faults/run.py must run as root.", file=sys.stderr)
        return 2
    f = Faults(args)
    if args.soak:
        from soak import soak
        return soak(f, args)

    tests = []
    for backend in args.backends.split(","):
        for name, fn, scale in TESTS:
            tests.append((f"{backend}: {name}", trial(f, fn, backend, max(1, round(args.trials * scale)), args.seed)))
        if backend == "overlay":
            tests.append(("overlay: disk full on a small loop file system",
                          trial(f, "t_disk_full", backend, max(1, round(args.trials / 6)), args.seed)))
    print(f"# nspawn-runner fault suite: seed {args.seed} (replay: --seed {args.seed} or FAULTS_SEED={args.seed}), "
          f"trials {args.trials}, temp {f.s.tmproot}", flush=True)

    def host_as_it_was():
        notes = f.s.teardown()
        if notes:
            raise Fail("; ".join(notes)[:600])
        return "nothing for teardown to do"

    return tap.run(tests, args.pattern, teardown=f.s.teardown, final=("the host is as it was", host_as_it_was),
                   tap=f.s.tap)


def trial(f, fn, backend, trials, seed):
    """A test of the list: the trials of Faults.fn on the backend; its note says what they did."""
    def test():
        try:
            what = getattr(f, fn)(f.s.state_dir(backend), trials)
        except Fail as e:
            raise Fail(f"{str(e)[:600]} (seed {seed})")
        except (subprocess.TimeoutExpired, OSError) as e:
            raise Fail(f"{type(e).__name__}: {e} (seed {seed})")
        return f"{what} trials" if isinstance(what, int) else what
    return test

if __name__ == "__main__":
    sys.exit(main())
