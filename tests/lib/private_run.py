# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs a test suite in a mount namespace of its own whose /run/nspawn-runner and /run/systemd/nspawn
are fresh tmpfs mounts, as /run is on a host that systemd runs. On a build host whose /run is on the
root disk (systemd not PID 1, as in CI) the control sockets would otherwise sit on the same disk as
the state dir, which the tests check they never do; and the suite's machines, network slots and
nspawn state stay apart from a runner that may be working on the same host. The mounts go away with
the namespace when the suite ends, however it ends. A suite that builds its own network (tests/network)
asks for a network namespace of its own too."""

from __future__ import annotations

import os
import sys

MARK = "NSPAWN_RUNNER_TEST_PRIVATE_RUN"
SETUP = ("for d in /run/nspawn-runner /run/systemd/nspawn; do mkdir -p $d && mount -t tmpfs -o mode=0755 tmpfs $d || exit; done "
         "&& exec \"$@\"")


def reexec_in_private_run(net=False):
    """Unless this process already is the suite in its namespace: executes it again in one (and in a new
    network namespace with net)."""
    if os.environ.get(MARK) == "1":
        return
    os.environ[MARK] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    argv = ["unshare", *(["--net"] if net else []), "--mount", "--propagation", "private", "sh", "-c", SETUP, "sh",
            sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]]
    os.execvp(argv[0], argv)
