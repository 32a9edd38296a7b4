# SPDX-License-Identifier: GPL-2.0-or-later
# Ansible connection plugin of nspawn-runner: runs a playbook's tasks inside a chroot directory
# (the inventory host name is its path) with systemd-nspawn, one short-lived container per command.
from __future__ import annotations

DOCUMENTATION = """
    name: nspawn_runner
    short_description: Run tasks in a chroot directory with systemd-nspawn
    description:
        - Used by nspawn-runner chroot-create and chroot-maintenance. The host is the chroot's path.
    options:
      remote_addr:
        description: Path of the chroot directory.
        default: inventory_hostname
        vars:
          - name: inventory_hostname
          - name: ansible_host
"""

import os
import secrets
import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

display = Display()


class Connection(ConnectionBase):
    transport = "nspawn_runner"
    has_pipelining = True
    has_tty = False

    def _connect(self):
        self.root = os.path.abspath(self.get_option("remote_addr"))
        if not os.path.isdir(self.root) or not os.path.exists(os.path.join(self.root, "bin/sh")):
            raise AnsibleConnectionFailure(f"{self.root} is not a chroot (no bin/sh)")
        self._connected = True
        return self

    def _nspawn(self, argv):
        # A name of its own: nspawn would name it after the directory ("3"), the same for every
        # image's generation 3, and two maintenances at once would share its runtime directory.
        cmd = ["systemd-nspawn", "--quiet", "--register=no", f"--directory={self.root}",
               f"--machine=nspawn-runner-maint-{secrets.token_hex(4)}", "--console=pipe", "--link-journal=no"]
        # Outside a systemd host, nspawn must stay in the caller's cgroup.
        if not os.path.isdir("/run/systemd/system"):
            cmd.append("--keep-unit")
        personality = os.environ.get("NSPAWN_RUNNER_PERSONALITY")
        if personality:
            cmd.append(f"--personality={personality}")
        return cmd + ["--"] + argv

    def _run(self, argv, stdin=None, stdout=subprocess.PIPE):
        env = dict(os.environ, SYSTEMD_NSPAWN_LOCK="0")
        display.vvv(f"NSPAWN_RUNNER {shlex.join(argv)}", host=self.root)
        p = subprocess.Popen(self._nspawn(argv), stdin=stdin if stdin is not None else subprocess.PIPE,
                             stdout=stdout, stderr=subprocess.PIPE, env=env)
        return p

    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        p = self._run(["/bin/sh", "-c", cmd])
        out, err = p.communicate(in_data)
        return p.returncode, out, err

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        # Written from inside, so that a symlink in the chroot cannot point the write at the host.
        with open(in_path, "rb") as f:
            p = self._run(["/bin/sh", "-c", 'cat > "$1"', "sh", out_path], stdin=f)
            _, err = p.communicate()
        if p.returncode != 0:
            raise AnsibleError(f"cannot put {out_path} into {self.root}: {err.decode(errors='replace')}")

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        with open(out_path, "wb") as f:
            p = self._run(["/bin/cat", in_path], stdout=f)
            _, err = p.communicate()
        if p.returncode != 0:
            raise AnsibleError(f"cannot fetch {in_path} from {self.root}: {err.decode(errors='replace')}")

    def close(self):
        self._connected = False
