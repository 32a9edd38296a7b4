# SPDX-License-Identifier: GPL-2.0-or-later
"""A job's limits: a fork bomb and a memory hog hit them with one line naming each, and the next job
works; job_disk_max caps a job's disk (tmpfs size, btrfs qgroup; overlayfs warns)."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from tap import Fail, require

from jobs import BUILD_FAILURE, IMAGE, Job, end_job, short, stderr_lines
from security import on_backends
from suite import bind


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
            require(r.rc == BUILD_FAILURE, f"fork bomb: {r.describe()}")
            lines = [x for x in stderr_lines(r.err) if "limit" in x]
            require(lines == ["nspawn-runner: The job hit its tasks limit (job_tasks_max = 64 tasks): a fork was refused."],
                    f"fork bomb: no one line naming the limit: {short(r.err)}")
            r = job.run("build_script", ["python3 -c 'b = bytearray(600 << 20); print(len(b))'"])
            require(r.rc == BUILD_FAILURE, f"memory hog: {r.describe()}")
            lines = [x for x in stderr_lines(r.err) if "limit" in x]
            require(lines == ["nspawn-runner: The job hit its memory limit (job_memory_max = 128.0 MiB): the kernel killed a "
                            "process."], f"memory hog: no one line naming the playbook's limit: {short(r.err)}")
            r = job.run_ok("after_script", ["echo still-here"])
            require("still-here" in r.lines, "the stage after the limits did not run")
            require(stderr_lines(r.err) == [], f"a stage within the limits reports one: {short(r.err)}")
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
                    require(len(warn) == 1 and "not enforced" in warn[0], f"overlay: no one warning: {short(r.err)}")
                    r = job.run("build_script", ["exit 1"])
                    require(r.rc == BUILD_FAILURE and not [x for x in stderr_lines(r.err) if "limit" in x], f"overlay: {r.describe()}")
                    end_job(s, job)
                    return
                require(not [x for x in warn if "not enforced" in x], f"{where}: warned: {short(r.err)}")
                if where == "btrfs":
                    ids.append(int(s.sh(["btrfs", "inspect-internal", "rootid", str(Path(job.machine_dir) / "root")])))
                    require((qgroups / f"0_{ids[-1]}").exists(), f"btrfs: the snapshot has no qgroup ({qgroups})")
                r = job.run_ok("build_script", ["dd if=/dev/zero of=/var/tmp/small bs=1M count=16 status=none", "sync",
                                                "rm /var/tmp/small", "echo under-the-cap"])
                require("under-the-cap" in r.lines and stderr_lines(r.err) == [], f"under the cap: {short(r.out + r.err)}")
                if n:
                    end_job(s, job)
                    break
                r = job.run("build_script", ["dd if=/dev/zero of=/var/tmp/big bs=1M count=200 status=none"])
                require(r.rc == BUILD_FAILURE, f"past the cap: {r.describe()}")
                lines = [x for x in stderr_lines(r.err) if "limit" in x]
                require(lines == ["nspawn-runner: The job hit its disk limit (job_disk_max = 64.0 MiB): its disk is full."],
                        f"past the cap: no one line naming the limit: {short(r.err)}")
                require(("No space left" if where == "tmpfs" else "Disk quota exceeded") in "\n".join(stderr_lines(r.err)),
                        f"past the cap: not ENOSPC/EDQUOT: {short(r.err)}")
                r = job.run_ok("after_script", ["rm /var/tmp/big", "echo still-here"])
                require("still-here" in r.lines and stderr_lines(r.err) == [], f"after the cap: {short(r.out + r.err)}")
                end_job(s, job)
        for i in ids:
            # The kernel drops a deleted subvolume in the background: its qgroup must go with it (cleanup
            # removes it on 6.1; newer kernels refuse that and remove it in the commit after the drop).
            s.sh(["btrfs", "subvolume", "sync", str(sd), str(i)], timeout=180)
            deadline = time.monotonic() + 15
            while (qgroups / f"0_{i}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            require(not (qgroups / f"0_{i}").exists(), f"btrfs: qgroup 0/{i} of a removed snapshot is left")
    finally:
        shutil.rmtree(conf, ignore_errors=True)
        if qgroups is not None and not quotas_were_on:
            subprocess.run(["btrfs", "quota", "disable", str(sd)], capture_output=True)


# Asks the kernel for a new subvolume in /var/tmp and, with snapshot, for a snapshot there of the
# machine's root (the subvolume the cap is on), as `btrfs subvolume create/snapshot` do (the chroot
# has no btrfs-progs): BTRFS_IOC_SUBVOL_CREATE and BTRFS_IOC_SNAP_CREATE_V2, _IOW(0x94, 14 or 23, 4096
# bytes; in a mutable buffer: Python takes at most 1 KiB as bytes). Prints what each gave and removes
# the subvolume it made (rmdir of an empty subvolume).
def subvolume_probe(snapshot):
    return """python3 -c '
import fcntl, os, struct
d = os.open("/var/tmp", os.O_RDONLY | os.O_DIRECTORY)
root = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
asks = [("subvolume", 14, struct.pack("q4088s", 0, b"probe-subvol"))]
if %s:
    asks.append(("snapshot", 23, struct.pack("qQQ32s4040s", root, 0, 0, b"", b"probe-snap")))
for what, nr, args in asks:
    try:
        fcntl.ioctl(d, 1 << 30 | 4096 << 16 | 0x94 << 8 | nr, bytearray(args))
        print(what, "made")
    except OSError as e:
        print(what, "failed:", os.strerror(e.errno))
if os.path.exists("/var/tmp/probe-subvol"):
    os.rmdir("/var/tmp/probe-subvol")
print("probe-subvol" in os.listdir("/var/tmp") and "left" or "gone")'""" % snapshot


def t_disk_limit_subvolumes(s, ex, backend):
    """With job_disk_max on btrfs, a job cannot make a subvolume or a snapshot of its machine's root
    (each would have a qgroup of its own, outside the cap): the ioctls fail with EPERM. Without the
    cap a subvolume works, and the job removes it again. If the snapshot were made, the test fails
    (cleanup takes it down with the machine)."""
    sd = s.state_dir(backend)
    conf = s.tmproot / f"subvol-conf-{secrets.token_hex(4)}"
    conf.mkdir()
    (conf / "nspawn-runner.conf").write_text("job_disk_max = 64M\n")
    qgroups = Path("/sys/fs/btrfs") / btrfs_fs_uuid(s, sd) / "qgroups"
    quotas_were_on = qgroups.exists()
    try:
        with Job(s, ex, sd) as job:
            job.env_override["NSPAWN_RUNNER_CONFIG_DIR"] = str(conf)
            job.prepare()
            r = job.run_ok("build_script", [subvolume_probe(True)])
            require("subvolume failed: Operation not permitted" in r.lines
                    and "snapshot failed: Operation not permitted" in r.lines,
                    f"with the cap: a subvolume or snapshot was not refused with EPERM: {short(r.out + r.err)}")
            end_job(s, job)
        with Job(s, ex, sd) as job:
            job.prepare()
            r = job.run_ok("build_script", [subvolume_probe(False)])
            require("subvolume made" in r.lines and "gone" in r.lines,
                    f"without the cap: no subvolume made and removed: {short(r.out + r.err)}")
            end_job(s, job)
    finally:
        shutil.rmtree(conf, ignore_errors=True)
        if not quotas_were_on:
            subprocess.run(["btrfs", "quota", "disable", str(sd)], capture_output=True)


def t_broken_playbook(s, ex, backend):
    """An image whose playbook is malformed: prepare says so in one line (FILE:LINE: …), once, and the
    job runs with the configuration's settings (its tasks limit, not the playbook's)."""
    sd = s.state_dir(backend)
    conf = s.tmproot / f"broken-conf-{secrets.token_hex(4)}"
    conf.mkdir()
    (conf / "nspawn-runner.conf").write_text("job_tasks_max = 64\n")
    playbook = conf / f"{IMAGE}.yaml"
    playbook.write_text("- hosts: all\n  vars:\n    nspawn_runner_job_tasks_max: [100\n")
    try:
        with Job(s, ex, sd) as job:
            job.env_override["NSPAWN_RUNNER_CONFIG_DIR"] = str(conf)
            r = job.prepare()
            lines = [x for x in stderr_lines(r.err) if "runs in machine" not in x]
            require(len(lines) == 1 and re.fullmatch(rf"nspawn-runner: {re.escape(str(playbook))}:[0-9]+: .+", lines[0]),
                    f"prepare with a malformed playbook said: {short(r.err)}")
            r = job.run("build_script", [FORK_BOMB])
            require(r.rc == BUILD_FAILURE and "job_tasks_max = 64 tasks" in r.err.decode(errors="replace"),
                    f"the configuration's tasks limit is not the job's: {r.describe()}")
            end_job(s, job)
    finally:
        shutil.rmtree(conf, ignore_errors=True)


def tests(s):
    return on_backends(s, [
        ("a fork bomb and a memory hog hit the limits, one line names each, the next job works", t_sec_limits),
        (lambda where: "job_disk_max: " + ("prepare warns that it is not enforced" if where == "overlay" else
                                           "a job writing past it fails with one line, under it works, no leftovers"),
         t_disk_limit),
    ]) + [
        bind(s, "security: overlay: a malformed playbook: prepare says it in one line, the job runs as configured",
             t_broken_playbook, s.ex, "overlay"),
        bind(s, "security: btrfs: job_disk_max: a job cannot make a subvolume or snapshot (EPERM), without the cap "
             "it can", t_disk_limit_subvolumes, s.ex, "btrfs"),
    ]
