# SPDX-License-Identifier: GPL-2.0-or-later
"""The host as the tests see it: processes, mounts, files and network state, what of it belongs to
this run (HostWatch, a part of the Suite), and the last test: the host is as it was."""

from __future__ import annotations

import collections
import os
import re
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

from tap import Fail, require

from jobs import CONTROL_RUN_DIR, PROPAGATE_DIR
from netstate import leftovers as network_leftovers


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


def live_processes(host_mnt_ns, cmd_needles, mount_hit=None):
    """Live processes but this one whose command line names one of cmd_needles, or, with mount_hit,
    that live in a mount namespace other than host_mnt_ns and have a line of mountinfo for which
    mount_hit(line) holds: {(pid, start time): "pid comm: command line"}."""
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
            if not hit and mount_hit and os.stat(f"/proc/{d}/ns/mnt").st_ino != host_mnt_ns:
                with open(f"/proc/{d}/mountinfo") as f:
                    hit = any(mount_hit(line) for line in f)
        except OSError:  # gone, or going
            continue
        if hit:
            found[(int(d), st[1])] = f"{d} {st[2]}: {cmd[:160]}"
    return found


def kill_process(pid, start):
    """SIGKILL to pid if it is still the process that started at start (pids are reused)."""
    st = proc_stat(pid)
    if st and st[1] == start:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


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


def host_net_state():
    """The host network namespace's state that isolated machines would change: forwarding, nft tables
    and veths of ours."""
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout.split("\n")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {"ip_forward": forward, "nft tables": sorted(t for t in tables if "nspawn_runner_" in t),
            "veths": re.findall(r"^\d+: (nr\d+)", links, re.M)}


class HostWatch:
    """What of the host belongs to this run (a part of the Suite: tmproot, loops, ids, cache_state)."""

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
        return live_processes(self.host_mnt_ns, cmd_needles,
                              None if mnt_needles == [] else lambda line: self.machine_mount(line, mnt_needles))

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


TEST_FINAL = "host is clean: no machines, processes, mounts, loop devices, propagate dirs or temp dirs left"


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
    # gc, not cleanup, removes the firewall once no isolated machine is left, whatever state dirs
    # the tests that ran made (an empty one of its own does).
    gc_state = s.tmproot / "final-gc"
    gc_state.mkdir(exist_ok=True)
    g = s.ex.raw(["--state-dir", str(gc_state), "gc", "--threshold", "0"], timeout=120)
    if g.rc != 0:
        problems.append(f"gc: exit {g.rc}: {g.err[-200:]}")
    problems += network_leftovers(s.jobs_netns, firewall_ok=False)
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
    require(not problems, "; ".join(problems))
