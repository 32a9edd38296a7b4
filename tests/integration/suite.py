# SPDX-License-Identifier: GPL-2.0-or-later
"""The run's state (Suite): job ids, the environment of calls, diagnostics, the jobs' network
namespace and the teardown that takes down whatever the run left."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tap import Tap

from fixtures import Fixtures
from host import HostWatch, host_net_state, kill_process
from jobs import Executor, JOBS_NETNS_PREFIX, PROPAGATE_DIR, REPO, STANDARD_PATH


class Suite(HostWatch, Fixtures):
    """One run: its builds, temp dir, job ids, loop devices and mounts, backends, diagnostics (through its
    Tap) and the teardown; HostWatch and Fixtures hold the rest of its methods."""

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
        self.tap = Tap()
        self.host_mnt_ns = os.stat("/proc/self/ns/mnt").st_ino
        self.jobs_netns = None
        self.host_net_before = host_net_state()
        self.nspawn_run = None  # the nspawn-run tests' user, made on first use

    # -- output --
    def diag(self, text):
        self.tap.diag(text)

    def say(self, text):
        self.tap.say(text)

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
            kill_process(pid, start)
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


def bind(s, name, fn, *args, **kw):
    """A test for the list the run takes: its name, and fn called with the suite and these arguments."""
    return name, lambda: fn(s, *args, **kw)
