# SPDX-License-Identifier: GPL-2.0-or-later
"""What the lifecycle tests share: their own state dirs (Lifecycle), playbooks that leave a marker,
and the wrapper that removes a test's state dirs when it is done."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import time
from pathlib import Path

from tap import Fail, require

from host import kill_process, live_processes
from jobs import Call, IMAGE, PROPAGATE_DIR, Result, short


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
    require(not left, f"maintenance containers left {PROPAGATE_DIR}/{', '.join(left)} (removed)")


def bind_lifecycle(s, name, fn, *args, **kw):
    """A lifecycle test for the run's list: fn(s, *args) through lifecycle_run()."""
    return name, lambda: lifecycle_run(s, fn, s, *args, **kw)


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
        require(r.rc == (1 if want == "FAILED" else 0), f"chroot-maintenance {name}: {r.describe()}; stdout: {short(r.out)}")
        lines = [line for line in r.lines if line.strip()]
        require(f"[1/1] {name}: maintenance …" in lines, f"no progress line '[1/1] {name}: maintenance …': {short(r.out)}")
        ends = [line for line in lines if line.startswith(f"[1/1] {name}: ") and not line.endswith("maintenance …")]
        require(len(ends) == 1 and re.fullmatch(rf"\[1/1\] {re.escape(name)}: {want} in [0-9]+ s", ends[0]),
                f"progress of {name}: {ends}, expected '{want} in N s'")
        summary = (rf"maintenance: {counts['created']} created, {counts['updated']} updated, "
                   rf"{counts['unchanged']} unchanged, {counts['FAILED']} failed in [0-9]+ s")
        require(lines and re.fullmatch(summary, lines[-1]), f"last line {lines[-1] if lines else ''!r}, expected '{summary}'")
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
        require(m is not None, f"{name} links to {t!r}, not to a generation")
        return int(m.group(1))

    def entries(self, name):
        d = self.sd / ".images" / name
        return sorted(os.listdir(d)) if d.is_dir() else []

    def only_generation(self, name, gen, what):
        e = self.entries(name)
        require(e == sorted([str(gen), f"{gen}.info"]), f"{what}: .images/{name} holds {e}, expected only generation {gen}")

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
        require(r.rc == 0, f"chroot-list --json: {r.describe()}")
        try:
            data = json.loads(r.out)
        except json.JSONDecodeError as e:
            raise Fail(f"chroot-list --json printed invalid JSON ({e}): {short(r.out)}")
        require(isinstance(data, list), f"chroot-list --json printed a {type(data).__name__}, not a list")
        keys = {"name", "suite", "arch", "size_bytes", "generation", "jobs", "network", "state", "refreshed"}
        for d in data:
            require(isinstance(d, dict) and set(d) == keys, f"chroot-list --json: an entry is not an object with {sorted(keys)}: {d}")
            require(d.get("state") in ("ready", "missing") and
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
        return live_processes(self.s.host_mnt_ns, cmd_needles, lambda line: len(line.split()) > 3 and any(
            line.split()[3].startswith(r) for r in roots))

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
                kill_process(pid, start)
            procs = self.wait_no_processes(markers, 5)
            if not procs:
                return


def propagate_names():
    try:
        return os.listdir(PROPAGATE_DIR)
    except FileNotFoundError:
        return []
