# SPDX-License-Identifier: GPL-2.0-or-later
"""nspawn-run: a person's command through sudo in an ephemeral machine of an image, as a test user
with the shipped sudoers rule."""

from __future__ import annotations

import copy
import fcntl
import os
import pty
import pwd
import secrets
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tap import Fail, Skip, require

from netstate import leftovers as network_leftovers
from jobs import Call, IMAGE, IMAGE_I386, JOBS_NETNS_PREFIX, PROPAGATE_DIR, REPO, Result, SANITIZER_RE, STANDARD_PATH, short, stderr_lines
from suite import bind


NSPAWN_RUN_FAILURE = 125  # nspawn-run's own failures (the command's status passes through)
DEFAULT_STATE_DIR = Path("/var/lib/nspawn-runner")
SUDOERS_DIR = Path("/etc/sudoers.d")


class NspawnRunUser:
    """A test user allowed nspawn-run by the shipped sudoers drop-in (its rule uncommented, naming the
    user and the built binary), and a state dir holding the cached chroots, which every call sees as
    /var/lib/nspawn-runner in a mount namespace of its own (sudo's caller cannot choose a state dir)."""

    def __init__(self, s):
        self.s = s
        self.user = "nsrt" + secrets.token_hex(4)
        self.binary = s.build / "nspawn-run"
        self.state = s.tmproot / "nspawn-run-state"
        self.sudoers = SUDOERS_DIR / f"nspawn-run-test-{self.user}"  # no '.': sudo skips such names
        self.made_mountpoint = False
        self.home = None
        self.state.mkdir()
        (self.state / IMAGE).symlink_to(s.chroot().resolve())
        if (s.cache_state / IMAGE_I386).is_dir():
            (self.state / IMAGE_I386).symlink_to((s.cache_state / IMAGE_I386).resolve())
        r = subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", "nspawn-run test",
                            self.user], capture_output=True, text=True)
        require(r.returncode == 0, f"useradd: {short(r.stderr)}")
        self.home = Path(pwd.getpwnam(self.user).pw_dir)
        self.uid, self.gid = pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid
        shipped = (REPO / "conf/nspawn-run.sudoers").read_text()
        rules = [line[1:] for line in shipped.splitlines() if line.startswith("#%nspawn-run ")]
        require(len(rules) == 1, f"the shipped sudoers drop-in has {len(rules)} commented-out rules, not 1")
        require(not any(line.strip() and not line.startswith("#") for line in shipped.splitlines()),
              "the shipped sudoers drop-in is not off by default")
        # Both builds: the sanitizer pass runs the same tests with the ASan/UBSan one.
        rule = rules[0].replace("%nspawn-run", self.user).replace(
            "/usr/bin/nspawn-run", f"{self.binary}, {(s.asan_build / 'nspawn-run').resolve()}")
        tmp = s.tmproot / "sudoers"
        tmp.write_text(shipped + rule + "\n")
        r = subprocess.run(["visudo", "-c", "-q", "-f", str(tmp)], capture_output=True, text=True)
        require(r.returncode == 0, f"visudo -c of the drop-in: {short(r.stdout + r.stderr)}")
        os.chmod(tmp, 0o440)
        shutil.move(tmp, self.sudoers)
        if not DEFAULT_STATE_DIR.exists():
            DEFAULT_STATE_DIR.mkdir(mode=0o755)
            self.made_mountpoint = True

    def remove(self):
        notes = []
        self.sudoers.unlink(missing_ok=True)
        r = subprocess.run(["pkill", "--signal", "KILL", "-U", self.user], capture_output=True)
        if r.returncode == 0:
            notes.append(f"processes of {self.user} left: killed")
        if self.home:
            r = subprocess.run(["userdel", "--remove", self.user], capture_output=True, text=True)
            if r.returncode != 0:
                notes.append(f"userdel {self.user}: {short(r.stderr)}")
        if self.made_mountpoint:
            try:
                DEFAULT_STATE_DIR.rmdir()
            except OSError as e:
                notes.append(f"{DEFAULT_STATE_DIR}: {e}")
        return notes

    def argv(self, args, via_sudo=True, sudo_args=(), as_root_env=None, prelude="true"):
        """nspawn-run with args as the test user through sudo (or as the user without sudo, or as root
        with the environment as_root_env), in a mount namespace where the test's state dir is the default
        (and where the shell commands prelude ran first)."""
        if as_root_env is not None:
            inner = ["env", "-i", *[f"{k}={v}" for k, v in as_root_env.items()], str(self.binary)]
        elif via_sudo:
            inner = ["sudo", "-u", self.user, "sudo", "-n", *sudo_args, str(self.binary)]
        else:
            inner = ["sudo", "-u", self.user, str(self.binary)]
        # In the suite's network namespace, like the executor's calls: the machine's isolated network is made there.
        return JOBS_NETNS_PREFIX + ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" ' + str(DEFAULT_STATE_DIR) +
                # The defaults of limits and network, whatever an installed package's configuration says.
                ' && { [ ! -d /etc/nspawn-runner ] || mount -t tmpfs tmpfs /etc/nspawn-runner; }' +
                f' && {prelude} && exec "$@"', str(self.state), *inner, *args]

    def run(self, args, timeout=60, **kw):
        argv = self.argv(args, **kw)
        try:
            p = subprocess.run(argv, cwd=self.home, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout,
                               env=self.s.clean_env())
        except subprocess.TimeoutExpired:
            raise Fail(f"nspawn-run {' '.join(args)[:60]} did not finish within {timeout} s")
        self.check_sanitizer(p.stderr)
        return Result(argv, p.returncode, p.stdout, p.stderr)

    @staticmethod
    def check_sanitizer(err):
        err = bytes(err).decode(errors="replace")
        require(not SANITIZER_RE.search(err), f"sanitizer report: {short(err, 400)}")

    def leftovers(self):
        """What a finished nspawn-run could have left: its /run directory, nspawn's propagate directory,
        the test user's processes, a lock file in the state dir."""
        left = [str(p) for p in Path("/run").glob("nspawn-run.*")]
        if PROPAGATE_DIR.is_dir():
            left += [n for n in os.listdir(PROPAGATE_DIR) if n.startswith(f"nspawn-run-{self.uid}-")]
        r = subprocess.run(["pgrep", "-a", "-U", self.user], capture_output=True, text=True)
        left += [f"process {line}" for line in r.stdout.splitlines()]
        left += [f"lock {p}" for p in (self.state / ".locks").glob("*")] if (self.state / ".locks").is_dir() else []
        left += [f"machine {p.name}" for p in (self.state / ".machines").glob("*")] if (self.state / ".machines").is_dir() else []
        return left + network_leftovers(self.s.jobs_netns)

    def check_clean(self):
        deadline = time.monotonic() + 5
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        require(not left, f"left behind: {left[:4]}")


def nspawn_run_user(s, asan=False):
    """The nspawn-run tests' user, calling the build's nspawn-run (or the sanitized build's)."""
    if asan:
        s.asan()
        u = copy.copy(nspawn_run_user(s))
        u.binary = (s.asan_build / "nspawn-run").resolve()
        return u
    if s.nspawn_run is None:
        if "nspawn-run" in s.backend_errors:
            raise Fail(s.backend_errors["nspawn-run"])
        try:
            s.nspawn_run = NspawnRunUser(s)
        except Fail as e:
            s.backend_errors["nspawn-run"] = f"nspawn-run test user: {e}"
            raise Fail(s.backend_errors["nspawn-run"])
    return s.nspawn_run


def t_nspawn_run_identity(s, asan=False):
    """The command runs as the caller (uid, gid, name, passwd entry), in the caller's working directory
    in their bound home, and what it writes there is the caller's on the host."""
    u = nspawn_run_user(s, asan)
    (u.home / "sub").mkdir(exist_ok=True)
    os.chown(u.home / "sub", u.uid, u.gid)
    r = u.run(["-n", IMAGE, "sh", "-c", 'echo uid=$(id -u) gid=$(id -g) name=$(id -un) group=$(id -gn); '
               'echo home=$HOME; echo pwd=$(pwd); getent passwd $(id -un); echo hi >"$HOME/from-machine"; '
               f'test -e {s.tmproot} || echo host-private; test -e {REPO} || echo repo-private'])
    require(r.rc == 0, f"nspawn-run id: {r.describe()}")
    grp_name = subprocess.run(["id", "-gn", u.user], capture_output=True, text=True).stdout.strip()
    want = [f"uid={u.uid} gid={u.gid} name={u.user} group={grp_name}", f"home={u.home}", f"pwd={u.home}",
            "host-private", "repo-private"]  # the home is the only host directory there
    for w in want:
        require(w in r.lines, f"expected {w!r}: {short(r.out)}")
    require(any(line.startswith(f"{u.user}:x:{u.uid}:{u.gid}:nspawn-run test:{u.home}:") for line in r.lines),
          f"the caller's passwd entry: {short(r.out)}")
    st = (u.home / "from-machine").stat()
    require((st.st_uid, st.st_gid) == (u.uid, u.gid), f"file written in the home is owned by {st.st_uid}:{st.st_gid}")
    r = u.run(["-n", IMAGE, "pwd"])  # the argv's cwd is the home: a subdirectory of it is kept too
    require(r.rc == 0 and r.lines == [str(u.home)], f"pwd: {r.describe()}")
    u.check_clean()


def t_nspawn_run_exit_status(s, asan=False):
    """The command's exit status passes through; a command that is not there is nspawn's failure, not 0."""
    u = nspawn_run_user(s, asan)
    for status in (0, 1, 42, 125):
        r = u.run(["-n", IMAGE, "sh", "-c", f"exit {status}"])
        require(r.rc == status, f"exit {status}: {r.describe()}")
    r = u.run(["-n", IMAGE, "sh", "-c", "kill -TERM $$"])
    require(r.rc == 255, f"a command killed by SIGTERM (nspawn's stub init says 255): {r.describe()}")
    r = u.run(["-n", IMAGE, "/no/such/command"])
    require(r.rc != 0, f"a missing command: {r.describe()}")
    u.check_clean()


def t_nspawn_run_ephemeral(s, asan=False):
    """The base is read-only and nothing of a machine is kept: what one writes (outside the home) is gone
    in the next one and never reaches the chroot; the image's own root account cannot be reached."""
    u = nspawn_run_user(s, asan)
    chroot = s.chroot().resolve()
    before = sorted(os.listdir(chroot / "var/tmp")), (chroot / "etc").stat().st_mtime_ns
    r = u.run(["-n", IMAGE, "sh", "-c", "touch /var/tmp/nspawn-run-mark && ls /var/tmp/nspawn-run-mark; "
               "touch /etc/nspawn-run-mark 2>/dev/null && echo wrote-etc; su -c true root </dev/null 2>/dev/null && echo root; exit 0"])
    require(r.rc == 0 and r.lines == ["/var/tmp/nspawn-run-mark"], f"first machine: {r.describe()}")
    r = u.run(["-n", IMAGE, "sh", "-c", "test ! -e /var/tmp/nspawn-run-mark && echo gone"])
    require(r.rc == 0 and r.lines == ["gone"], f"second machine: {r.describe()}")
    after = sorted(os.listdir(chroot / "var/tmp")), (chroot / "etc").stat().st_mtime_ns
    require(before == after, f"the chroot changed: {before} -> {after}")
    u.check_clean()


NSPAWN_RUN_BAD_IMAGES = ["../etc", "a/b", "/var/lib/nspawn-runner/bookworm", ".images", "", "x" * 65, "bad name",
                         "no-such-image"]
NSPAWN_RUN_WIDENING = [["--bind=/:/mnt", "-n", IMAGE, "id"], ["-n", IMAGE, "--bind-ro=/etc/shadow:/x", "id"],
                       ["--user=root", "-n", IMAGE, "id"], ["-u", "root", "-n", IMAGE, "id"],
                       ["-D", "/", "-n", IMAGE, "id"], ["--directory=/", "id"], ["--image=/dev/sda", "id"],
                       ["--state-dir", str(DEFAULT_STATE_DIR), "-n", IMAGE, "id"], ["-n", IMAGE, "--setenv=LD_PRELOAD=/x", "id"],
                       ["-xn", IMAGE, "id"], ["-n"], ["id"]]


def t_nspawn_run_bad_input(s, asan=False):
    """Unknown or unsafe image names and every option that could widen access are refused in one line,
    exit 125, before any machine; so is a call without sudo, and an environment variable sudo's caller
    tries to set. Root's own NSPAWN_RUNNER_STATE_DIR does not apply once $SUDO_UID says who called."""
    u = nspawn_run_user(s, asan)
    for args in [["-n", name, "id", "-u"] for name in NSPAWN_RUN_BAD_IMAGES] + NSPAWN_RUN_WIDENING:
        r = u.run(args)
        what = f"nspawn-run {' '.join(args)}"
        require(r.rc == NSPAWN_RUN_FAILURE, f"{what}: expected exit {NSPAWN_RUN_FAILURE}, got {r.describe()}")
        lines = stderr_lines(r.err)
        require(len(lines) == 1 and lines[0].startswith("nspawn-run: "), f"{what}: expected one line, got {short(r.err)}")
        require(not r.out, f"{what}: printed {short(r.out)}")
    r = u.run(["-n", IMAGE, "id", "-u"], via_sudo=False)
    require(r.rc == NSPAWN_RUN_FAILURE and len(stderr_lines(r.err)) == 1 and "sudo" in r.err.decode(),
          f"without sudo: {r.describe()}")
    r = u.run(["-n", IMAGE, "id", "-u"], sudo_args=[f"NSPAWN_RUNNER_STATE_DIR={s.tmproot}"])
    require(r.rc != 0 and str(u.uid) not in r.lines, f"setting the state dir through sudo: {r.describe()}")
    r = u.run(["-n", IMAGE, "id", "-u"], as_root_env={"SUDO_UID": u.uid, "SUDO_GID": u.gid, "PATH": STANDARD_PATH,
                                                     "NSPAWN_RUNNER_STATE_DIR": str(s.tmproot / "elsewhere")})
    require(r.rc == 0 and r.lines == [str(u.uid)], f"NSPAWN_RUNNER_STATE_DIR beside SUDO_UID: {r.describe()}")
    # The machine's user namespace maps 0..65535 only: a caller above cannot be themself inside.
    r = u.run(["-n", IMAGE, "id", "-u"], as_root_env={"SUDO_UID": 100000, "SUDO_GID": u.gid, "PATH": STANDARD_PATH})
    require(r.rc == NSPAWN_RUN_FAILURE and len(stderr_lines(r.err)) == 1 and "65535" in r.err.decode() and not r.out,
          f"a caller with uid 100000: {r.describe()}")
    # Besides the images only the machines' directory, empty again.
    require(sorted(os.listdir(u.state)) == sorted([IMAGE, ".machines"] + ([IMAGE_I386] if (u.state / IMAGE_I386).exists() else [])),
          f"the state dir changed: {sorted(os.listdir(u.state))}")
    u.check_clean()


def t_nspawn_run_image_symlinks(s, asan=False):
    """An image's /etc/passwd or /etc/group that is a symlink out of it (to the host's /etc/shadow) is
    read inside the image: the caller never sees a host file through the copy nspawn-run makes."""
    u = nspawn_run_user(s, asan)
    image = u.state / "symlinks"
    # A copy of hard links (the machine's overlay never writes to its lower layer), not an overlayfs
    # mount: the image is mounted idmapped, which overlayfs does not support.
    subprocess.run(["cp", "-al", str(s.chroot().resolve()), str(image)], check=True)
    try:
        (image / "etc/group").unlink()
        (image / "etc/group").symlink_to("/etc/shadow")
        (image / "etc/passwd").unlink()
        (image / "etc/passwd").symlink_to("../../../../../../../../etc/shadow")
        r = u.run(["-n", image.name, "cat", "/etc/passwd", "/etc/group"])
    finally:
        shutil.rmtree(image)
    require(r.rc == 0, f"nspawn-run on the image: {r.describe()}")
    host_only = set(Path("/etc/shadow").read_text().splitlines()) - set((s.chroot() / "etc/shadow").read_text().splitlines())
    leaked = [line.split(":")[0] for line in r.lines if line in host_only]
    require(not leaked, f"the host's /etc/shadow entries of {leaked[:4]} are in the machine")
    mine = [line for line in r.lines if line.startswith(f"{u.user}:")]
    require(len(mine) == 2 and all(line.split(":")[1] == "x" for line in mine),
          f"the caller's lines (one passwd, one group entry, no shadow): {mine}")
    u.check_clean()


def t_nspawn_run_i386(s, asan=False):
    """An i386 image runs under the x86 personality (uname -m says i686)."""
    u = nspawn_run_user(s, asan)
    if not (u.state / IMAGE_I386).exists():
        raise Skip(f"no i386 chroot in the suite's cache ({s.cache_state / IMAGE_I386}; the lifecycle i386 test makes it)")
    r = u.run(["-n", IMAGE_I386, "sh", "-c", "echo $(uname -m) $(dpkg --print-architecture) $(id -u)"])
    require(r.rc == 0 and r.lines == [f"i686 i386 {u.uid}"], f"i386 image: {r.describe()}")
    u.check_clean()


def nspawn_run_group_signal(s, u, command, sig, before):
    """nspawn-run of command; once before(call) returned, sig to the call's process group (as a
    terminal or a shell does). Waits for its end; no "sleep 4242" may be left (the machine's processes
    run as uids of its range, not the user's: looked for by command). Returns the call."""
    c = Call(u.argv(["-n", IMAGE, *command]), u.home, s.clean_env(), stdin_hold=True)
    try:
        before(c)
        c.kill_group(sig)
        c.wait(20)
    except Fail:
        c.abort()
        raise
    u.check_sanitizer(c.err)
    # The machine's PID namespace is torn down as nspawn exits; its last processes may take a moment to go.
    deadline = time.monotonic() + 5
    while s.our_processes(["sleep 4242"], mnt_needles=[]) and time.monotonic() < deadline:
        time.sleep(0.1)
    require(not s.our_processes(["sleep 4242"], mnt_needles=[]), f"sleep 4242 still runs 5 s after signal {sig}")
    return c


def t_nspawn_run_sigint_pipe(s, asan=False):
    """Ctrl-C without a terminal (SIGINT to the foreground process group) ends the command; exit 130."""
    u = nspawn_run_user(s, asan)

    def started(c):
        require(c.wait_output(b"started", 30), f"the command did not start: {short(c.err)}")
        time.sleep(0.3)

    c = nspawn_run_group_signal(s, u, ["sh", "-c", "echo started; exec sleep 4242"], signal.SIGINT, started)
    require(c.p.returncode == 128 + signal.SIGINT, f"exit after SIGINT: {c.p.returncode}: {short(c.err)}")
    u.check_clean()


def loopback_listener(netns):
    """A TCP listener on 127.0.0.1 in the network namespace netns (the suite's "host" for machines):
    (its process, its port)."""
    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{netns}", "--", "python3", "-c",
                          "import socket, sys, time\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
                          "print(s.getsockname()[1], flush=True)\ntime.sleep(120)"],
                         stdout=subprocess.PIPE, text=True)
    return p, int(p.stdout.readline())


def t_nspawn_run_lockdown(s, asan=False):
    """The machine has the jobs' lock-down: its own user namespace (root inside is a uid of a range of
    its own, not the host's root), a seccomp filter, the jobs' device list and limits in its cgroups, and the image's
    network mode (isolated by default: the host's 127.0.0.1 is not the machine's), while the caller is
    themself inside and their home keeps its ownership."""
    u = nspawn_run_user(s, asan)
    listener, port = loopback_listener(s.jobs_netns)
    try:
        r = u.run(["-n", IMAGE, "sh", "-c", "cat /proc/self/uid_map; cat /sys/fs/cgroup/pids/pids.max; "
                   "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; grep -c . /sys/fs/cgroup/devices/devices.list; "
                   "grep -q 'a \\*:\\* rwm' /sys/fs/cgroup/devices/devices.list && echo all-devices; "
                   "grep -q '^b ' /sys/fs/cgroup/devices/devices.list && echo block-devices; "
                   "stat -c 'home %u:%g' $HOME; grep -q host0: /proc/net/dev && echo host0; "
                   f"python3 -c 'import socket; print(\"connect\", socket.socket().connect_ex((\"127.0.0.1\", {port})))'; "
                   "grep ^Seccomp: /proc/self/status; "
                   "perl -e 'for ([304, -100, 0, 0], [246, 0, 0, 0, 0], [321, 0, 0, 0]) { my ($nr, @a) = @$_; syscall($nr, @a); print \"$nr:\", $!+0, \"\\n\" }'"])
        require(listener.poll() is None, "the listener ended")
        # It is reachable from the suite's namespace itself: the machine's refusal is its isolation.
        reach = subprocess.run(["nsenter", f"--net=/run/netns/{s.jobs_netns}", "--", "python3", "-c",
                                f"import socket; print(socket.socket().connect_ex(('127.0.0.1', {port})))"],
                               capture_output=True, text=True)
    finally:
        listener.kill()
        listener.wait()
    require(reach.stdout.strip() == "0", f"the listener is not reachable outside the machine: {reach.stdout} {reach.stderr}")
    require(r.rc == 0, f"nspawn-run: {r.describe()}")
    uid_map = r.lines[0].split() if r.lines else []
    require(len(uid_map) == 3 and uid_map[0] == "0" and int(uid_map[1]) >= 0x70000000 and uid_map[2] == "65536",
          f"/proc/self/uid_map is not a range of the machine's own: {short(r.out)}")
    # Seccomp: open_by_handle_at, kexec_load and bpf fail with EPERM (nspawn's filter and the jobs' alike).
    want = ["1024", str(1536 << 20), "9", f"home {u.uid}:{u.gid}", "host0", "connect 111", "Seccomp:\t2", "304:1", "246:1", "321:1"]
    require(r.lines[1:] == want, f"expected {want} after the uid map: {short(r.out)}")
    u.check_clean()


def t_nspawn_run_network_modes(s, asan=False):
    """The image's playbook chooses the network as for jobs: none is loopback only, host is the host's
    (the suite's namespace: its 127.0.0.1 listener answers). The playbook is in an /etc/nspawn-runner
    that only the call's mount namespace sees (an overlay on /etc)."""
    u = nspawn_run_user(s, asan)
    base = s.tmproot / "nspawn-run-etc"
    listener, port = loopback_listener(s.jobs_netns)
    try:
        for mode, want in (("none", ["lo", "connect 111"]), ("host", ["connect 0"])):
            shutil.rmtree(base, ignore_errors=True)
            (base / "upper/nspawn-runner").mkdir(parents=True)
            (base / "work").mkdir()
            (base / f"upper/nspawn-runner/{IMAGE}.yaml").write_text(
                f"- hosts: all\n  vars:\n    nspawn_runner_network: {mode}\n  tasks: []\n")
            etc = f"mount -t overlay overlay -o lowerdir=/etc,upperdir={base}/upper,workdir={base}/work /etc"
            r = u.run(["-n", IMAGE, "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | grep -vx lo >/dev/null || echo lo; "
                       f"python3 -c 'import socket; print(\"connect\", socket.socket().connect_ex((\"127.0.0.1\", {port})))'"],
                      prelude=etc)
            if mode == "host":
                require(r.rc == 0 and r.lines[-1:] == want, f"network {mode}: {r.describe()}")
            else:
                require(r.rc == 0 and r.lines == want, f"network {mode}: {r.describe()}")
            u.check_clean()
    finally:
        listener.kill()
        listener.wait()
        shutil.rmtree(base, ignore_errors=True)


def nspawn_run_interrupted(s, u, action):
    """nspawn-run of a command that sleeps; once it runs (with one network slot, of its machine),
    action(PID of nspawn-run), then the wait for its end. Returns the call."""
    c = Call(u.argv(["-n", IMAGE, "sh", "-c", "echo started; exec sleep 4242"]), u.home, s.clean_env(), stdin_hold=True)
    try:
        require(c.wait_output(b"started", 30), f"the command did not start: {short(c.err)}")
        pids = [int(p) for p in subprocess.run(["pgrep", "-x", "-f", f"{u.binary} -n {IMAGE} sh -c .*"],
                                               capture_output=True, text=True).stdout.split()]
        require(len(pids) == 1, f"nspawn-run processes: {pids}")
        slots = list(Path("/run/nspawn-runner/network/slots").glob("*"))
        require(len(slots) == 1 and os.readlink(slots[0]).startswith(str(DEFAULT_STATE_DIR / ".machines/0-")),
              f"the machine's network slot: {[(p.name, os.readlink(p)) for p in slots]}")
        action(pids[0])
        c.wait(20)
    except Fail:
        c.abort()
        raise
    return c


def t_nspawn_run_sigterm_cleanup(s, asan=False):
    """SIGTERM to nspawn-run takes the machine down and removes its network, cgroups and directory."""
    u = nspawn_run_user(s, asan)
    c = nspawn_run_interrupted(s, u, lambda pid: os.kill(pid, signal.SIGTERM))
    u.check_sanitizer(c.err)
    require(c.p.returncode != 0, f"exit after SIGTERM: {c.p.returncode}: {short(c.err)}")
    u.check_clean()


def t_nspawn_run_early_sigterm(s, asan=False):
    """SIGTERM to the call's process group at any moment while the machine is made or starts leaves
    nothing behind (no machine directory, network, cgroup or process for gc to find)."""
    u = nspawn_run_user(s, asan)
    for delay in (0.05, 0.15, 0.3, 0.6, 1.0):
        c = nspawn_run_group_signal(s, u, ["sleep", "4242"], signal.SIGTERM, lambda c: time.sleep(delay))
        require(c.p.returncode != 0, f"exit after SIGTERM at {delay} s: {c.p.returncode}")
        u.check_clean()


def t_nspawn_run_kill9_gc(s, asan=False):
    """What nspawn-run killed with SIGKILL leaves (machine directory, nspawn, network) gc removes."""
    u = nspawn_run_user(s, asan)

    def kill_and_gc(pid):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        require(any((u.state / ".machines").iterdir()), "the machine directory went with nspawn-run")
        r = subprocess.run(JOBS_NETNS_PREFIX + [str(s.build / "nspawn-runner"), "--state-dir", str(u.state), "gc"],
                           capture_output=True, text=True, timeout=60, env=s.clean_env(), stdin=subprocess.DEVNULL)
        require(r.returncode == 0 and "removed 1 leftover machine" in r.stdout, f"gc: {r.returncode} {short(r.stdout + r.stderr)}")

    nspawn_run_interrupted(s, u, kill_and_gc)
    # The image's lock file stays (nothing holds it: the next nspawn-run takes it again).
    for p in (u.state / ".locks").glob("*"):
        with open(p) as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        p.unlink()
    u.check_clean()


def pty_expect(fd, needle, timeout, buf):
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail(f"no {needle!r} on the terminal: {short(bytes(buf))}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise Fail(f"terminal closed before {needle!r}: {short(bytes(buf))}")
            buf.extend(chunk)


def t_nspawn_run_terminal(s, asan=False):
    """On a terminal, no command is an interactive login shell as the caller; ^C reaches the command it
    runs (the shell goes on), and the shell's exit status is nspawn-run's."""
    u = nspawn_run_user(s, asan)
    argv = u.argv(["-n", IMAGE])
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(u.home)
            os.execvpe(argv[0], argv, dict(s.clean_env(), TERM="dumb"))
        finally:
            os._exit(127)
    buf = bytearray()
    try:
        # The shell echoes what is typed: the markers are computed, so only the output matches.
        os.write(fd, b"shopt -q login_shell && echo LOGIN-$((6*7))-$(id -u) $-\n")
        pty_expect(fd, f"LOGIN-42-{u.uid} ".encode(), 30, buf)
        require(b"i" in bytes(buf).split(b"LOGIN-42-")[1].split(b"\n")[0], f"not an interactive shell: {short(bytes(buf))}")
        os.write(fd, b"sleep 4242\n")
        time.sleep(1.0)
        os.write(fd, b"\x03")
        os.write(fd, b"echo AFTER-$((6*7))-$?\n")
        pty_expect(fd, b"AFTER-42-130", 10, buf)
        os.write(fd, b"exit 7\n")
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            require(time.monotonic() < deadline, f"the shell did not exit: {short(bytes(buf))}")
            try:
                select.select([fd], [], [], 0.2) and os.read(fd, 65536)
            except OSError:
                time.sleep(0.1)
        pid = 0
        u.check_sanitizer(buf)
        require(os.waitstatus_to_exitcode(status) == 7, f"exit status {os.waitstatus_to_exitcode(status)}, not 7")
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    u.check_clean()


def tests(s):
    p = "nspawn-run: "
    return [
        bind(s, p + "runs as the caller through sudo: uid, gid, passwd entry, home bound, working directory",
             t_nspawn_run_identity),
        bind(s, p + "the command's exit status passes through", t_nspawn_run_exit_status),
        bind(s, p + "read-only base, nothing persists between machines", t_nspawn_run_ephemeral),
        bind(s, p + f"{len(NSPAWN_RUN_BAD_IMAGES)} unknown or unsafe images and {len(NSPAWN_RUN_WIDENING)} widening "
             "calls are refused in one line; no sudo, no state dir from the caller", t_nspawn_run_bad_input),
        bind(s, p + "an image's /etc/passwd and /etc/group symlinked to /etc/shadow are read inside the image",
             t_nspawn_run_image_symlinks),
        bind(s, p + "an i386 image runs with the x86 personality", t_nspawn_run_i386),
        bind(s, p + "SIGINT to the foreground process group ends the command (exit 130)", t_nspawn_run_sigint_pipe),
        bind(s, p + "on a terminal: login shell, ^C reaches the command, exit status of the shell", t_nspawn_run_terminal),
        bind(s, p + "the jobs' lock-down: own user namespace, device list, limits, isolated network",
             t_nspawn_run_lockdown),
        bind(s, p + "the image's playbook chooses the network: none, host", t_nspawn_run_network_modes),
        bind(s, p + "SIGTERM removes the machine, its network and cgroups", t_nspawn_run_sigterm_cleanup),
        bind(s, p + "SIGTERM while the machine is made or starts leaves nothing", t_nspawn_run_early_sigterm),
        bind(s, p + "after SIGKILL gc removes the machine nspawn-run left", t_nspawn_run_kill9_gc),
    ]
