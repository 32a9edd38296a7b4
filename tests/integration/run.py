#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration tests of nspawn-runner against real systemd-nspawn machines.

Replays what gitlab-runner does with a custom executor (https://docs.gitlab.com/runner/executors/custom.html):
config → prepare → run per stage → cleanup, each call in its own process group with the job's $TMPDIR as
working directory and gitlab-runner's environment, scripts shaped like gitlab-runner's bash scripts.
Machines run on overlayfs (a temporary state dir under /var/tmp), on btrfs (a loop-mounted file system)
and on tmpfs, all made from ONE debootstrapped chroot (with busybox and python3) cached in tests/cache/;
the nested-sandbox tests add bubblewrap and podman to a copy of it, made once per run.
The lifecycle tests drive chroot-maintenance (real ansible-playbook runs), chroot-login, chroot-list
and gc on images made from copies of it; an i386 chroot is cached beside it on first use.
The nspawn-run tests create a user and a sudoers rule for it (the shipped drop-in, uncommented) and
run `sudo -u USER sudo nspawn-run …` as a person would; both are removed at the end.

Where things are: the run's state and teardown in suite.py (with host.py, what of the host is ours,
and fixtures.py, what the tests run on), a job and its calls in jobs.py; the tests by subject in
protocol.py, kills.py, protocol_edges.py, storage.py, security.py, limits.py, control_sockets.py,
bad_input.py, maintenance.py, chroot_commands.py, gc_caches.py (the last three share lifecycle.py),
nspawn_run.py, and sanitizers.py, which runs some of them again with the ASan/UBSan build. Each
file's tests() lists its tests in the order they run.

Usage (as root, from the repository root):
    python3 tests/integration/run.py --build build --asan-build build-asan [-k PATTERN]

Prints TAP (tests/lib/tap.py): the plan, one line per test ("ok N - name" / "not ok N - name: reason"),
diagnostics as "# " lines, and as the last line "N passed, N failed". Exits non-zero when any test
failed. Python 3.11 stdlib only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "lib")]

import tap  # noqa: E402
from private_run import reexec_in_private_run  # noqa: E402
import bad_input, chroot_commands, control_sockets, gc_caches, kills, limits, maintenance  # noqa: E402
import nspawn_run, protocol, protocol_edges, sanitizers, security, storage  # noqa: E402
from host import TEST_FINAL, t_final_host_clean  # noqa: E402
from jobs import REPO  # noqa: E402
from suite import Suite  # noqa: E402

# In run order: the lifecycle tests make the cached i386 chroot nspawn-run's tests use.
SUBJECTS = [protocol, kills, protocol_edges, storage, security, limits, control_sockets, bad_input, maintenance,
            chroot_commands, gc_caches, nspawn_run, sanitizers]
NO_CHROOT = {protocol.TEST_GITLAB_CONFIG, protocol.TEST_TOML, sanitizers.TEST_COMPLETE, sanitizers.TEST_CONFIG,
             TEST_FINAL}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory with nspawn-runner and nspawn-runner-init")
    ap.add_argument("--asan-build", default="build-asan", help="sanitized build directory (built when missing)")
    ap.add_argument("--cache-dir", default="tests/cache",
                    help="where the shared chroot is kept between runs (made when missing; default tests/cache)")
    tap.add_arguments(ap)
    args = ap.parse_args()

    if os.geteuid() != 0:
        print("tests/integration/run.py must run as root (it starts systemd-nspawn machines).", file=sys.stderr)
        return 2
    reexec_in_private_run()
    build = Path(args.build) if Path(args.build).is_absolute() else REPO / args.build
    for f in ("nspawn-runner", "nspawn-runner-init"):
        if not os.access(build / f, os.X_OK):
            print(f"{build / f} is missing: run make first.", file=sys.stderr)
            return 2
    s = Suite(args)
    s.make_jobs_netns()
    tests = [t for subject in SUBJECTS for t in subject.tests(s)]

    def setup(todo):
        s.say(f"# nspawn-runner integration tests: {len(todo)} tests, build {s.build}, temp {s.tmproot}")
        if any(name not in NO_CHROOT for name, _ in todo):
            try:
                s.chroot()  # made (once) before the first test, which would otherwise carry its time
            except tap.Fail as e:
                s.say(f"# {e}")

    return tap.run(tests, args.pattern, teardown=s.teardown, final=(TEST_FINAL, lambda: t_final_host_clean(s)),
                   setup=setup, tap=s.tap)


if __name__ == "__main__":
    sys.exit(main())
