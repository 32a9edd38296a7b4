#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration test of `nspawn-runner appliance-setup` against temporary directories: real loop-device
disks (a blank one is formatted btrfs NSPAWN-DATA, one with ext4 and one with only a partition table
are left byte-identical), registration through a fake `gitlab-runner` on PATH that records its argv and
environment, ssh keys, the machine id, the host name in a UTS namespace of its own (the host's is never
touched), the problems file (never the token), and nspawn-runnerd starting with the appliance keys.

    python3 tests/integration/appliance.py --build build

Prints "ok N - …" / "not ok N - …" and "N passed, N failed"; exits non-zero when any test failed.
Loop devices and mounts it made are removed also when it fails or is interrupted.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402

T = tap.Tap()
point = T.point  # one TAP point of a scenario, counted as it is reached

TOKEN = "glrt-t3_SeCrEtVaLuE-0123456789abcdef"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAtnPj6xNnTIVpqXpWLa4yiTvMGMV4k9uiI4KT0gaeu3 me@laptop"
LABEL = "NSPAWN-DATA"

loops = []   # loop devices we attached
mounts = []  # mount points we mounted


def read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return None


def sh(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw).stdout.strip()


def teardown():
    for m in reversed(mounts):
        subprocess.run(["umount", "-l", m], capture_output=True)
    mounts.clear()
    for d in loops:
        subprocess.run(["losetup", "-d", d], capture_output=True)
    loops.clear()


def loop_disk(path, size_mib):
    with open(path, "wb") as f:
        f.truncate(size_mib << 20)
    dev = sh(["losetup", "--find", "--show", path])
    loops.append(dev)
    return dev


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def blkid(dev, tag):
    r = subprocess.run(["blkid", "-p", "-o", "value", "-s", tag, dev], capture_output=True, text=True)
    return r.stdout.strip()


FAKE_GITLAB_RUNNER = r'''#!/usr/bin/python3
# A stand-in for gitlab-runner register: records what it was called with, writes a config.toml.
import json, os, sys
rec = os.environ["FAKE_RECORD"]
with open(rec, "a") as f:
    f.write(json.dumps({"argv": sys.argv, "token_env": os.environ.get("CI_SERVER_TOKEN")}) + "\n")
token = os.environ.get("CI_SERVER_TOKEN", "")
if os.environ.get("FAKE_FAIL"):
    print("Runtime platform  arch=arm64 os=linux", file=sys.stderr)
    print(f"ERROR: Verifying runner... is not valid  runner={token[:12]} token={token} status=403", file=sys.stderr)
    sys.exit(1)
conf = sys.argv[sys.argv.index("--config") + 1]
with open(conf, "w") as f:
    f.write('concurrent = 1\ncheck_interval = 0\n\n[[runners]]\n  name = "box"\n  token = "%s"\n  executor = "custom"\n' % token)
print("Runner registered successfully.", file=sys.stderr)
'''


class Box:
    """The directories of one appliance: config, state, boot, run, a bin dir for the fake gitlab-runner."""

    def __init__(self, tmp, name, cli):
        self.root = os.path.join(tmp, name)
        self.cli = cli
        for d in ("conf", "state", "boot", "run", "bin"):
            os.makedirs(os.path.join(self.root, d))
        self.conf, self.state, self.boot, self.run_dir, self.bin = (
            os.path.join(self.root, d) for d in ("conf", "state", "boot", "run", "bin"))
        self.record = os.path.join(self.root, "gitlab-runner-calls")
        self.toml = os.path.join(self.root, "gitlab-runner", "config.toml")

    def config(self, text):
        with open(os.path.join(self.conf, "nspawn-runner.conf"), "w") as f:
            f.write(text)

    def fake_gitlab_runner(self):
        path = os.path.join(self.bin, "gitlab-runner")
        with open(path, "w") as f:
            f.write(FAKE_GITLAB_RUNNER)
        os.chmod(path, 0o755)

    def setup(self, *extra, wait=0, toml=True, env=None, prefix=()):
        argv = [*prefix, self.cli, "appliance-setup", "--config-dir", self.conf, "--state-dir", self.state,
                "--boot-dir", self.boot, "--run-dir", self.run_dir, "--wait-data", str(wait),
                "--control-socket", os.path.join(self.root, "no-daemon.sock"), *extra]
        if toml:
            argv += ["--gitlab-runner-config", self.toml]
        e = dict(os.environ, PATH=f"{self.bin}:/usr/sbin:/usr/bin:/sbin:/bin", FAKE_RECORD=self.record)
        e.update(env or {})
        return subprocess.run(argv, capture_output=True, text=True, env=e, timeout=120)

    def problems(self):
        return read(os.path.join(self.run_dir, "setup-problems"))

    def calls(self):
        return [json.loads(line) for line in (read(self.record) or "").splitlines()]


def no_token(r, box, what):
    text = (r.stdout or "") + (r.stderr or "") + (box.problems() or "")
    point(TOKEN not in text and TOKEN[5:15] not in text, f"{what}: the token is in neither the output nor the problems file")


def t_register(tmp, cli):
    b = Box(tmp, "register", cli)
    b.fake_gitlab_runner()
    b.config(f"gitlab_url = https://gitlab.example.com\r\nRunner_Token = {TOKEN}\r\nconcurrent = 3\r\n"
             f"ssh_authorized_key = {KEY}\r\n")
    r = b.setup()
    calls = b.calls()
    point(r.returncode == 1, f"no data disk: exit status 1 ({r.returncode})")
    point(len(calls) == 1, f"gitlab-runner register ran once ({len(calls)})")
    if calls:
        argv = calls[0]["argv"]
        point(not any(TOKEN in a for a in argv), "the token is not in gitlab-runner's argv")
        point(calls[0]["token_env"] == TOKEN, "the token is in CI_SERVER_TOKEN")
        pairs = {f"{argv[i]} {argv[i + 1]}" for i in range(2, len(argv) - 1)}
        want = [f"--config {b.toml}", "--url https://gitlab.example.com", "--executor custom", "--builds-dir /builds",
                "--cache-dir /cache", f"--custom-config-exec {cli}", f"--custom-run-exec {cli}",
                "--custom-config-args --state-dir", f"--custom-config-args {b.state}", "--custom-config-args gitlab-config",
                "--custom-prepare-args prepare", "--custom-run-args run", "--custom-cleanup-args cleanup",
                "--custom-config-exec-timeout 200", "--custom-prepare-exec-timeout 300",
                "--custom-cleanup-exec-timeout 300", "--custom-graceful-kill-timeout 10", "--custom-force-kill-timeout 10"]
        missing = [w for w in want if w not in pairs]
        point(argv[1:3] == ["register", "--non-interactive"], f"gitlab-runner register --non-interactive ({argv[1:3]})")
        point(not missing, f"register gets the executor's values ({missing or 'all there'})")
    toml = read(b.toml) or ""
    point(toml.startswith("concurrent = 3\n") and "[[runners]]" in toml, f"config.toml: concurrent = 3 ({toml[:40]!r})")
    point(os.stat(b.toml).st_mode & 0o077 == 0, "config.toml is the owner's only")
    p = b.problems() or ""
    point(p.splitlines() == ["No data disk (a btrfs filesystem labelled NSPAWN-DATA): no jobs will run"],
          f"the only problem: no data disk ({p!r})")
    no_token(r, b, "registration")
    keys = os.path.join(b.run_dir, "ssh", "authorized_keys")
    point(read(keys) == KEY + "\n" and os.stat(keys).st_mode & 0o777 == 0o600, "authorized_keys: the key, mode 0600")
    hk = read(os.path.join(b.run_dir, "sshd_config.d", "host-keys.conf")) or ""
    key_path = os.path.join(b.run_dir, "ssh", "ssh_host_ed25519_key")
    point(f"HostKey {key_path}\n" in hk and os.path.exists(key_path), "without data disk: a host key in RUN/ssh")
    pub = read(key_path + ".pub")
    point(read(os.path.join(b.boot, "identity.env")) == f"machine_id={read('/etc/machine-id').strip()}\n",
          "identity.env gets /etc/machine-id")

    b.config(f"gitlab_url = https://gitlab.example.com\nrunner_token = {TOKEN}\nconcurrent = 5\n")
    r = b.setup()
    point(len(b.calls()) == 1, f"a second run does not register again ({len(b.calls())} calls)")
    point((read(b.toml) or "").startswith("concurrent = 5\n"), "a second run sets the new concurrent")
    point(read(key_path + ".pub") == pub, "a second run keeps the host key")
    point(read(keys) == "", "no keys configured: authorized_keys is empty")

    # Without --gitlab-runner-config and without data disk: nothing is written to the state dir.
    r = b.setup(toml=False)
    point(not os.path.exists(os.path.join(b.state, ".appliance")), "no data disk: nothing written below the state dir")


def t_register_fails(tmp, cli):
    b = Box(tmp, "register-fails", cli)
    b.fake_gitlab_runner()
    b.config(f"gitlab_url = https://gitlab.example.com\nrunner_token = {TOKEN}\n")
    r = b.setup(env={"FAKE_FAIL": "1"})
    p = b.problems() or ""
    point(r.returncode == 1 and "Registering the runner with https://gitlab.example.com failed: ERROR: Verifying runner" in p,
          f"a failed registration is a problem with gitlab-runner's last line ({p.splitlines()[:1]})")
    point("[token]" in p, "the token in gitlab-runner's message is scrubbed")
    no_token(r, b, "failed registration")
    point(not os.path.exists(b.toml), "no config.toml after a failed registration")


def t_no_gitlab_runner(tmp, cli):
    b = Box(tmp, "no-gitlab-runner", cli)
    b.config(f"gitlab_url = https://gitlab.example.com\nrunner_token = {TOKEN}\n")
    r = b.setup()
    p = b.problems() or ""
    point(r.returncode == 1 and "gitlab-runner is not installed: this image was built without GITLAB_RUNNER_DEB" in p,
          "no gitlab-runner: a problem line says so")
    no_token(r, b, "no gitlab-runner")
    b.config("concurrent = 2\n")
    b.setup()
    point("The runner is not registered: set gitlab_url and runner_token in nspawn-runner.conf" in (b.problems() or ""),
          "no URL and token: a problem line says what to set")


def t_bad_config(tmp, cli):
    b = Box(tmp, "bad-config", cli)
    b.fake_gitlab_runner()
    b.config(f"gitlab_url = https://gitlab.example.com\nrunner_token = {TOKEN}!\nhostname = box\n")
    r = b.setup()
    p = b.problems() or ""
    point(r.returncode == 1 and "nspawn-runner.conf:2: runner_token: not a valid token" in p,
          f"a bad token: the problem names the line ({p.splitlines()[:1]})")
    point(b.calls() == [], "a bad configuration registers nothing")
    no_token(r, b, "bad token")
    r = b.setup("--wait-data", "x")
    point(r.returncode != 0 and "--wait-data" in r.stderr, "a bad --wait-data is refused")


def t_hostname(tmp, cli):
    b = Box(tmp, "hostname", cli)
    b.config("hostname = ci-box-test\n")
    before = socket.gethostname()
    r = b.setup(prefix=("unshare", "--uts", "sh", "-c", '"$@"; echo "hostname=$(hostname)"', "sh"))
    point("hostname=ci-box-test" in r.stdout, f"the host name is set (in a UTS namespace: {r.stdout.strip()[-40:]!r})")
    point(socket.gethostname() == before, "the host's own name is untouched")


def t_disks(tmp, cli):
    # A disk with ext4 and one with only a partition table: never touched.
    for kind in ("ext4", "partition table"):
        b = Box(tmp, "disk-" + kind.replace(" ", "-"), cli)
        img = os.path.join(b.root, "disk.img")
        dev = loop_disk(img, 160)
        if kind == "ext4":
            sh(["mkfs.ext4", "-q", "-F", dev])
        else:
            subprocess.run(["sfdisk", "-q", dev], input="label: dos\n,,L\n", text=True, check=True, capture_output=True)
        sh(["sync"])
        before = digest(img)
        b.config(f"data_disk = {dev}\n")
        r = b.setup(wait=1)
        p = b.problems() or ""
        found = "found ext4" if kind == "ext4" else "found a dos partition table"
        point(f"data_disk {dev} is not blank ({found}): not formatting it" in p,
              f"{kind}: a problem says the disk is not blank ({p.splitlines()[:1]})")
        point("No data disk (a btrfs filesystem labelled NSPAWN-DATA): no jobs will run" in p, f"{kind}: no data disk")
        point(digest(img) == before, f"{kind}: the disk is byte-identical")
        subprocess.run(["losetup", "-d", dev], capture_output=True)
        loops.remove(dev)

    # A blank disk: formatted, then mounted (by a thread in the role of the mount unit) on the state dir.
    b = Box(tmp, "disk-blank", cli)
    b.fake_gitlab_runner()
    dev = loop_disk(os.path.join(b.root, "disk.img"), 256)
    b.config(f"data_disk = {dev}\ngitlab_url = https://gitlab.example.com\nrunner_token = {TOKEN}\nconcurrent = 2\n")

    def mount_unit():
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if blkid(dev, "LABEL") == LABEL:
                if subprocess.run(["mount", dev, b.state], capture_output=True).returncode == 0:
                    mounts.append(b.state)
                return
            time.sleep(0.1)

    t = threading.Thread(target=mount_unit, daemon=True)
    t.start()
    r = b.setup(wait=20, toml=False)
    t.join()
    point(blkid(dev, "TYPE") == "btrfs" and blkid(dev, "LABEL") == LABEL, "a blank disk is formatted btrfs NSPAWN-DATA")
    point(r.returncode == 0 and b.problems() == "",
          f"data disk, registration: exit 0 and an empty problems file ({r.returncode}, {b.problems()!r})")
    app = os.path.join(b.state, ".appliance")
    key = os.path.join(app, "ssh", "ssh_host_ed25519_key")
    point(os.path.exists(key) and f"HostKey {key}\n" in (read(os.path.join(b.run_dir, "sshd_config.d", "host-keys.conf")) or ""),
          "the host key is on the data disk")
    toml = read(os.path.join(app, "gitlab-runner", "config.toml")) or ""
    point(toml.startswith("concurrent = 2\n") and "[[runners]]" in toml, "registered into STATE/.appliance/gitlab-runner/config.toml")
    mid = read("/etc/machine-id").strip()
    point(read(os.path.join(app, "machine-id")) == mid + "\n", "the machine id is kept on the data disk")
    no_token(r, b, "data disk")

    # A new SD card: identity.env comes back from the data disk.
    os.unlink(os.path.join(b.boot, "identity.env"))
    with open(os.path.join(app, "machine-id"), "w") as f:
        f.write("0123456789abcdef0123456789abcdef\n")
    # Images: one there (a plain directory is an image), one missing (no daemon to ask).
    os.makedirs(os.path.join(b.state, "bookworm", "etc"))
    b.config(f"data_disk = {dev}\nimage = bookworm\nimage = ci:trixie\ngitlab_url = https://gitlab.example.com\n"
             f"runner_token = {TOKEN}\nconcurrent = 2\n")
    r = b.setup(toml=False)
    point(read(os.path.join(b.boot, "identity.env")) == "machine_id=0123456789abcdef0123456789abcdef\n",
          "identity.env is restored from the data disk")
    point(len(b.calls()) == 1, "registered once only")
    p = b.problems() or ""
    point(p == "Configured images missing: ci; nspawn-runnerd could not be asked to create them\n",
          f"a missing image without daemon is the one problem ({p!r})")

    # gc and chroot-list leave .appliance alone.
    before = sorted(os.listdir(app))
    g = subprocess.run([cli, "--state-dir", b.state, "--config-dir", b.conf, "gc", "--threshold", "0"],
                       capture_output=True, text=True)
    lst = subprocess.run([cli, "--state-dir", b.state, "chroot-list"], capture_output=True, text=True)
    point(g.returncode == 0 and sorted(os.listdir(app)) == before and os.path.exists(key), "gc keeps .appliance")
    point(lst.returncode == 0 and "appliance" not in lst.stdout and "bookworm" in lst.stdout,
          f"chroot-list lists bookworm, not .appliance ({lst.stdout.splitlines()[1:]})")
    subprocess.run(["umount", b.state], capture_output=True)
    if b.state in mounts:
        mounts.remove(b.state)


def t_maintenance(tmp, cli):
    """chroot-maintenance creates the configured images: a fake debootstrap records what it is asked."""
    b = Box(tmp, "maintenance", cli)
    with open(os.path.join(b.bin, "debootstrap"), "w") as f:
        f.write('#!/bin/sh\necho "$@" >> "$FAKE_RECORD"\nexit 1\n')
    os.chmod(os.path.join(b.bin, "debootstrap"), 0o755)
    b.config("image = ci:trixie\nimage = bookworm\n")
    env = dict(os.environ, PATH=f"{b.bin}:/usr/sbin:/usr/bin:/sbin:/bin", FAKE_RECORD=b.record)
    r = subprocess.run([cli, "--config-dir", b.conf, "--state-dir", b.state, "chroot-maintenance"],
                       capture_output=True, text=True, env=env, timeout=60)
    calls = (read(b.record) or "").splitlines()
    point(r.returncode == 1 and "[1/2] bookworm: maintenance" in r.stdout and "[2/2] ci: FAILED" in r.stdout,
          f"chroot-maintenance takes up both configured images ({short_lines(r.stdout)})")
    point(len(calls) == 2 and " bookworm " in calls[0] and " trixie " in calls[1] and "--variant=minbase" in calls[1],
          f"a configured image is debootstrapped from its suite, else from its name ({[c.split()[3:4] for c in calls]})")
    r = subprocess.run([cli, "--config-dir", b.conf, "--state-dir", b.state, "chroot-maintenance", "ci"],
                       capture_output=True, text=True, env=env, timeout=60)
    point("[1/1] ci: FAILED" in r.stdout, "chroot-maintenance NAME takes a configured image")
    point(not os.listdir(b.state) or os.listdir(b.state) == [".images"] and not any(
        os.listdir(os.path.join(b.state, ".images", d)) for d in os.listdir(os.path.join(b.state, ".images"))),
          f"a failed create leaves nothing behind ({os.listdir(b.state)})")


def short_lines(text):
    return " | ".join(line for line in text.splitlines() if line.strip())[-200:]


def t_daemon_accepts(tmp, daemon):
    d = os.path.join(tmp, "daemon")
    os.makedirs(os.path.join(d, "state"))
    conf = os.path.join(d, "nspawn-runner.conf")
    with open(conf, "w") as f:
        f.write(f"led = none\nbutton = none\nmetrics_file = off\nmaintenance_time = off\n"
                f"gitlab_url = https://gitlab.example.com\nrunner_token = {TOKEN}\nconcurrent = 4\nimage = bookworm\n"
                f"image = ci:trixie\nhostname = ci-box\nssh_authorized_key = {KEY}\ndata_disk = /dev/sda\n")
    err = open(os.path.join(d, "err"), "w+")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    p = subprocess.Popen([daemon, "-v", "--config", conf, "--state-dir", os.path.join(d, "state"),
                          "--control-socket", os.path.join(d, "sock")], stdout=subprocess.DEVNULL, stderr=err, env=env)
    ok = False
    for _ in range(100):
        if "Ready" in (read(err.name) or "") or p.poll() is not None:
            break
        time.sleep(0.05)
    ok = p.poll() is None and "Ready" in (read(err.name) or "")
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)
    log = read(err.name) or ""
    point(ok, f"nspawn-runnerd starts with every appliance key in its configuration ({log.strip().splitlines()[-1:]})")
    point(TOKEN not in log, "nspawn-runnerd does not log the token")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory with nspawn-runner and nspawn-runnerd")
    tap.add_arguments(ap)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    cli = os.path.join(build, "nspawn-runner")
    if os.geteuid() != 0:
        print("appliance.py: must run as root (loop devices, mounts)", file=sys.stderr)
        return 2
    for tool in ("losetup", "mkfs.btrfs", "mkfs.ext4", "sfdisk", "blkid", "ssh-keygen", "unshare"):
        if not shutil.which(tool):
            print(f"appliance.py: {tool} is missing (make setup)", file=sys.stderr)
            return 2
    tmp = tempfile.mkdtemp(prefix="nspawn-runner-appliance-")

    def teardown_all():
        teardown()
        shutil.rmtree(tmp, ignore_errors=True)
    daemon = os.path.join(build, "nspawn-runnerd")
    return tap.run([(name, lambda fn=fn, a=a: fn(tmp, a)) for name, fn, a in (
        ("registration through gitlab-runner, keys, host key, machine id; a second run", t_register, cli),
        ("a failed registration is a problem, the token scrubbed", t_register_fails, cli),
        ("no gitlab-runner installed", t_no_gitlab_runner, cli),
        ("a bad configuration registers nothing", t_bad_config, cli),
        ("the host name, in a UTS namespace of its own", t_hostname, cli),
        ("data disks: blank ones formatted, others left byte-identical", t_disks, cli),
        ("chroot-maintenance of the configured images", t_maintenance, cli),
        ("nspawn-runnerd starts with the appliance keys", t_daemon_accepts, daemon),
    )], args.pattern, teardown=teardown_all, scenarios=True, tap=T)


if __name__ == "__main__":
    sys.exit(main())
