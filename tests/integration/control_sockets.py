# SPDX-License-Identifier: GPL-2.0-or-later
"""The machines' control sockets, on the host's /run (/run/nspawn-runner/machines/KEY): none on the state
dir's disk, none a job can reach, and gc of the directories whose machine is gone."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from tap import require

from gc_caches import gc_counts
from host import process_alive
from jobs import CONTROL_RUN_DIR, Job, end_job, expect_system_failure, short
from security import on_backends
from suite import bind


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
            require(not found, f"sockets on the state dir's disk: {found[:3]}")
            require(not (mnt / ".machines" / b.key / "control").exists(), "the machine's directory still has control/")
        finally:
            s.sh(["umount", str(mnt)])
            mnt.rmdir()
        for job in (a, b):
            run_dir = CONTROL_RUN_DIR / job.key
            sock = run_dir / "control" / "control.sock"
            require(run_dir.is_dir(), f"no {run_dir}")
            st = os.lstat(run_dir)
            require(stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o700,
                    f"{run_dir}: mode {stat.S_IMODE(st.st_mode):o}, owner {st.st_uid}")
            require(stat.S_ISSOCK(os.lstat(sock).st_mode), f"{sock} is not a socket")
            require(os.readlink(run_dir / "machine") == job.machine_dir, f"{run_dir}/machine does not name {job.machine_dir}")
            fs = s.sh(["stat", "-f", "-c", "%T", str(sock)])
            require(fs == "tmpfs" and os.lstat(sock).st_dev != os.stat(sd).st_dev, f"the socket is on {fs}, the state dir's device")
            on_disk = sockets_under(job.machine_dir)
            require(not on_disk, f"sockets in the machine's directory: {on_disk[:3]}")
        # From job a: the host's /run is not the machine's; its own control directory is covered.
        other = CONTROL_RUN_DIR / b.key / "control" / "control.sock"
        r = a.run_ok("build_script", [f"test -e {other} && echo other=seen || echo other=unseen",
                                      "echo own=$(ls -A /run/nspawn-runner-control | wc -l)"])
        require("other=unseen" in r.lines and "own=0" in r.lines, f"what job a sees: {short(r.out)}")
        # From a's user namespace, but in the host's mount namespace (an escape a would need first):
        # b's socket cannot even be looked up.
        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n"
                 "try: s.connect(sys.argv[1])\nexcept PermissionError: print('refused')\nelse: print('CONNECTED')")
        r = subprocess.run(["nsenter", "-t", a.state()["init_pid"], "--user", "/usr/bin/python3", "-c", probe, str(other)],
                           capture_output=True, text=True, timeout=30)
        require(r.stdout.strip() == "refused", f"b's socket from a's user namespace: {r.stdout.strip()} {short(r.stderr)}")
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
            require(left == {"gone": False, "unlinked": False, "elsewhere": True}, f"after gc, present: {left}")
            require((CONTROL_RUN_DIR / job.key).is_dir(), "gc removed a live machine's control directory")
            r = job.run_ok("build_script", ["echo alive"])
            require("alive" in r.lines, f"the job after gc: {short(r.out)}")
            # /run emptied under a running machine: no one can reach it any more, gc takes it down.
            init = int(job.state()["init_pid"])
            shutil.rmtree(CONTROL_RUN_DIR / job.key)
            r = job.run("after_script", ["echo must-not-run"])
            expect_system_failure(r, "run without the control directory")
            machines = gc_counts(ex.raw(["--state-dir", str(sd), "gc"], timeout=120))[0]
            require(machines == 1, f"gc removed {machines} machines, expected the one without a control directory")
            s.wait_job_gone(job)
            require(not process_alive(init), "the machine's init survived gc")
            end_job(s, job)
    finally:
        for d in made.values():
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(elsewhere, ignore_errors=True)


def tests(s):
    return on_backends(s, [
        ("control sockets are on the host's /run: none on the state dir's disk mounted elsewhere, none reachable "
         "from another job", t_sec_control_socket),
    ]) + [
        bind(s, "security: gc removes the control directories of gone machines, and a machine whose one is gone",
             t_gc_control_dirs, s.ex),
    ]
