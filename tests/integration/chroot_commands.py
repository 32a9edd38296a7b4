# SPDX-License-Identifier: GPL-2.0-or-later
"""The chroot-* commands on images: chroot-login (terminal and pipe), chroot-list, --suppress-sync,
i386 and foreign architectures."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import secrets
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

from tap import Fail, require

from jobs import Call, IMAGE, Job, end_job, expect_system_failure, parse_state, short, stderr_lines
from lifecycle import Lifecycle, bind_lifecycle, host_arch, py_fs_usage


def pty_run(s, argv, send, timeout=120):
    """Runs argv on a terminal; once the output has shown 'Editing' and then a root prompt, types
    send. Returns (exit status, everything the terminal showed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=str(s.tmproot), env=s.clean_env(),
                         start_new_session=True)
    os.close(slave)
    buf = bytearray()
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                raise Fail(f"{' '.join(argv[-2:])} did not finish within {timeout} s: {short(buf)}")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the terminal is gone
                    data = b""
                if not data:
                    break
                buf += data
            elif p.poll() is not None:
                break
            if not sent:
                i = buf.find(b"Editing")
                if i >= 0 and b"# " in buf[i:]:
                    os.write(master, send.encode())
                    sent = True
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        os.close(master)
    return rc, bytes(buf)


def t_chroot_login(s, ex, backend):
    """chroot-login: exit 0 keeps the edit as a new generation (a running job keeps its own),
    a non-zero exit drops it."""
    lc = Lifecycle(s, ex, backend, "login")
    name = "edit"
    lc.make_image(name, marker="version-1")
    token = secrets.token_hex(6)
    with Job(s, ex, lc.sd, image=f"debian:{name}") as a:
        a.prepare()
        rc, out = pty_run(s, lc.argv(["chroot-login", name]),
                          f"echo login-{token} > /etc/login-marker; echo $((6*7))-edited; exit 0\n")
        ex.check_sanitizer(out, "chroot-login")
        require(rc == 0, f"chroot-login with exit 0: exit {rc}: {short(out)}")
        require(b"42-edited" in out, f"the commands did not run in the shell: {short(out)}")
        require(lc.current(name) == 2, f"{name} is at generation {lc.current(name)} after the login, expected 2")
        require((lc.sd / name / "etc/login-marker").read_text().strip() == f"login-{token}", "the edit is not in generation 2")
        info = parse_state((lc.sd / ".images" / name / "2.info").read_text())
        require(info.get("suite") == IMAGE, f"2.info after the login: {info}")
        r = a.run_ok("build_script", ["cat /etc/login-marker 2>/dev/null || echo no-login-marker"])
        require("no-login-marker" in r.lines, f"the running job sees the edit: {short(r.out)}")
        with Job(s, ex, lc.sd, image=f"debian:{name}") as b:
            b.prepare()
            r = b.run_ok("build_script", ["cat /etc/login-marker"])
            require(f"login-{token}" in r.lines, f"a new job does not see the edit: {short(r.out)}")
            end_job(s, b)
        # A non-zero exit drops the edit.
        entries = lc.entries(name)
        rc, out = pty_run(s, lc.argv(["chroot-login", name]), "echo dropped > /etc/dropped-marker; echo $((6*7))-edited; exit 3\n")
        ex.check_sanitizer(out, "chroot-login")
        require(rc != 0, f"chroot-login with exit 3 succeeded: {short(out)}")
        require(b"42-edited" in out, f"the commands did not run in the shell: {short(out)}")
        require(lc.current(name) == 2, f"{name} is at generation {lc.current(name)} after a dropped login")
        require(not (lc.sd / name / "etc/dropped-marker").exists(), "the dropped edit is in the image")
        require(lc.entries(name) == entries, f"a dropped login left {sorted(set(lc.entries(name)) - set(entries))}")
        require(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")
        end_job(s, a)
    lc.only_generation(name, 2, "after the job on generation 1 was cleaned up")


def t_chroot_login_pipe(s, ex):
    """chroot-login without a terminal (a script, ssh without -t): the shell runs the commands on
    stdin at once; exit 0 keeps them as a new generation, another status drops them."""
    lc = Lifecycle(s, ex, "overlay", "login-pipe")
    name = "piped"
    lc.make_image(name)
    token = secrets.token_hex(6)
    for commands, want_rc, want_gen in ((f"echo {token} > /etc/piped-marker\necho $((6*7))-piped\n", 0, 2),
                                        ("echo dropped > /etc/dropped-marker\necho $((6*7))-piped\nexit 3\n", None, 2)):
        c = Call(lc.argv(["chroot-login", name]), str(s.tmproot), s.clean_env(), stdin_data=commands.encode())
        rc = c.wait(120)
        ex.check_sanitizer(bytes(c.err), "chroot-login")
        out = bytes(c.out).decode(errors="replace")
        require(rc == want_rc if want_rc is not None else rc != 0, f"chroot-login with commands on a pipe: exit {rc}: "
                                                                 f"{short(out)} {short(bytes(c.err))}")
        require("42-piped" in out.splitlines(), f"the commands on stdin did not run: {short(out)}")
        require(lc.current(name) == want_gen, f"{name} is at generation {lc.current(name)}, expected {want_gen}")
    require((lc.sd / name / "etc/piped-marker").read_text().strip() == token, "the kept edit is not in the image")
    require(not (lc.sd / name / "etc/dropped-marker").exists(), "the dropped edit is in the image")
    require(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")


def t_suppress_sync(s, ex):
    """Jobs' machines run with nspawn's --suppress-sync (their disk is thrown away): by default, not
    with job_suppress_sync = no in nspawn-runner.conf, not for an image whose playbook sets
    nspawn_runner_job_suppress_sync: false."""
    lc = Lifecycle(s, ex, "overlay", "sync")
    (lc.sd / IMAGE).symlink_to(s.chroot())
    (lc.sd / "keepsync").symlink_to(s.chroot())
    lc.playbook("keepsync", "- hosts: all\n  vars:\n    nspawn_runner_job_suppress_sync: false\n  tasks: []\n")
    probe = ("python3 -c \"import os, time; fd = os.open('/root/f', os.O_WRONLY | os.O_CREAT); t = time.monotonic(); "
             "[os.fsync(fd) for _ in range(200)]; print('fsync-ms=%d' % ((time.monotonic() - t) * 1000))\"")
    seen = {}
    for what, image, conf, want in (("default", IMAGE, "", True), ("job_suppress_sync = no", IMAGE, "job_suppress_sync = no\n", False),
                                    ("the playbook's false", "keepsync", "", False)):
        (lc.conf / "nspawn-runner.conf").write_text(conf)
        with Job(s, ex, lc.sd, image=f"debian:{image}") as job:
            job.env_override["NSPAWN_RUNNER_CONFIG_DIR"] = str(lc.conf)
            job.prepare()
            st = parse_state(Path(job.machine_dir, "state").read_text())
            with open(f"/proc/{st['nspawn_pid']}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            require((b"--suppress-sync=yes" in argv) == want and (st.get("suppress_sync") == "1") == want,
                    f"{what}: nspawn {'without' if want else 'with'} --suppress-sync: {argv}, state {st}")
            # In the machine: fsync() does nothing (nspawn's seccomp filter), or does its work.
            r = job.run_ok("build_script", ["echo x > /root/f", probe])
            seen[what] = " ".join(l for l in r.lines if l.startswith("fsync-ms="))
            end_job(s, job)
    s.diag("200 fsync()s in a job: " + "; ".join(f"{k}: {v}" for k, v in seen.items()))


def t_chroot_list(s, ex):
    """chroot-list, as text and JSON, of a generation image and of a plain symlink image."""
    lc = Lifecycle(s, ex, "overlay", "list")
    r = lc.nr(["chroot-list", "--json"])
    require(r.rc == 0 and json.loads(r.out) == [], f"chroot-list --json of an empty state dir: {r.describe()}, {short(r.out)}")
    refreshed = 1700000000
    g = lc.make_mini_image("gen", gen=3, suite="lc-suite", refreshed=refreshed)
    (lc.sd / "plain").symlink_to(s.chroot())
    (lc.sd / "afile").write_text("not an image\n")
    (lc.sd / "dangling").symlink_to(lc.sd / "nothing")
    (lc.sd / ".hidden").mkdir()
    # As the Python tool did: an image a playbook defines but that does not exist yet is listed.
    lc.playbook("todo", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: trixie\n  tasks: []\n")
    lc.playbook("gen", "- hosts: all\n  tasks: []\n", where="state")
    plain = os.path.realpath(s.chroot())
    # The network column: the playbook's nspawn_runner_network, else the configured default.
    lc.playbook("gen", "- hosts: all\n  vars:\n    nspawn_runner_network: none\n")
    stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    want = {
        "gen": {"name": "gen", "suite": "lc-suite", "arch": host_arch(), "size_bytes": py_fs_usage(g), "generation": 3,
                "jobs": 0, "network": "none", "state": "ready", "refreshed": stamp(refreshed)},
        "plain": {"name": "plain", "suite": IMAGE, "arch": host_arch(), "size_bytes": py_fs_usage(plain), "generation": 0,
                  "jobs": 0, "network": "isolated", "state": "ready", "refreshed": stamp(int(os.stat(plain).st_mtime))},
        "todo": {"name": "todo", "suite": "", "arch": "", "size_bytes": 0, "generation": 0, "jobs": 0,
                 "network": "isolated", "state": "missing", "refreshed": "-"},
    }
    got = lc.list_json()
    require(sorted(got) == ["gen", "plain", "todo"], f"chroot-list --json lists {sorted(got)}, expected [gen, plain, todo]")
    for n, w in want.items():
        require(got[n] == w, f"chroot-list --json: {got[n]}, expected {w}")
    r = lc.nr(["chroot-list"])
    require(r.rc == 0, f"chroot-list: {r.describe()}")
    lines = [line for line in r.lines if line.strip()]
    require(lines and lines[0].split() == ["NAME", "SUITE", "ARCH", "SIZE", "GEN", "JOBS", "NETWORK", "REFRESHED"],
            f"header: {lines[:1]}")
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    require(sorted(rows) == ["gen", "plain", "todo"], f"chroot-list lists {sorted(rows)}")
    for n, w in want.items():
        exp = [n, w["suite"] or "-", w["arch"] or "-", f"{w['size_bytes'] / (1 << 20):.1f}", "M", str(w["generation"]),
               str(w["jobs"]), w["network"], "missing" if w["state"] == "missing" else w["refreshed"]]
        require(rows[n] == exp, f"chroot-list row {rows[n]}, expected {exp}")


def t_i386(s, ex):
    """An i386 chroot made by chroot-create --arch i386 (cached) runs jobs under the x86 personality."""
    chroot = s.i386_chroot()
    lc = Lifecycle(s, ex, "overlay", "i386")
    (lc.sd / "x86").symlink_to(chroot)
    with Job(s, ex, lc.sd, image="debian:x86") as job:
        job.prepare()
        r = job.run_ok("build_script", ["echo machine=$(uname -m)", "echo dpkg=$(dpkg --print-architecture)",
                                        "echo bits=$(getconf LONG_BIT)"])
        require("machine=i686" in r.lines, f"uname -m in the i386 machine: {short(r.out)}")
        require("dpkg=i386" in r.lines and "bits=32" in r.lines, f"the i386 machine: {short(r.out)}")
        end_job(s, job)
    lst = lc.list_json()
    require(lst["x86"]["arch"] == "i386" and lst["x86"]["suite"] == IMAGE, f"chroot-list of the i386 chroot: {lst['x86']}")


# (Debian arch, ELF e_machine, class, data encoding, binfmt_misc entry of qemu-user-static)
FOREIGN_ARCHES = [("arm64", 183, 2, 1, "qemu-aarch64"), ("armhf", 40, 1, 1, "qemu-arm"), ("ppc64el", 21, 2, 1, "qemu-ppc64le"),
                  ("riscv64", 243, 2, 1, "qemu-riscv64"), ("s390x", 22, 2, 2, "qemu-s390x")]
BINFMT = Path("/proc/sys/fs/binfmt_misc")


def elf_header(machine, cls, data):
    end = "<" if data == 1 else ">"
    ident = b"\x7fELF" + bytes([cls, data, 1, 0]) + bytes(8)
    hdr = ident + struct.pack(end + "HHI", 2, machine, 1)
    return hdr + bytes(64 - len(hdr))


def binfmt_enabled(entry):
    try:
        return (BINFMT / entry).read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        return False


def t_foreign_arch(s, ex):
    """A chroot of another architecture: without its qemu binfmt_misc entry enabled, prepare fails
    with one line; with it, prepare gets past the architecture check. The host's entries decide
    which applies; a private mount namespace with a fake binfmt_misc shows the other case too."""
    lc = Lifecycle(s, ex, "overlay", "foreign")
    for arch, machine, cls, data, _ in FOREIGN_ARCHES:
        bash = lc.sd / f"f-{arch}" / "usr/bin/bash"
        bash.parent.mkdir(parents=True)
        bash.write_bytes(elf_header(machine, cls, data))
        bash.chmod(0o755)
        (lc.sd / f"f-{arch}" / "bin").symlink_to("usr/bin")
    # binfmt_misc as this host may not have it: one entry disabled, the others missing.
    sim = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
           "mount -t tmpfs -o size=1m,mode=755 nspawn-runner-binfmt /proc/sys/fs/binfmt_misc && "
           "echo enabled > /proc/sys/fs/binfmt_misc/status && echo disabled > /proc/sys/fs/binfmt_misc/qemu-aarch64 && "
           "exec \"$@\"", "sh"]

    def expect_qemu_error(r, arch, entry, what):
        expect_system_failure(r, what)
        line = stderr_lines(r.err)[0]
        require("qemu-user-static" in line and str(BINFMT / entry) in line and arch in line,
                f"{what}: the error does not name qemu-user-static, {BINFMT / entry} and {arch}: {line}")

    def prepare(arch, entry, enabled, simulated):
        what = f"prepare of an {arch} chroot" + (" without binfmt_misc" if simulated else "")
        with Job(s, ex, lc.sd, image=f"debian:f-{arch}") as job:
            job.gitlab_config()
            job.prepared = True
            before = s.snapshot(lc.sd)
            c = Call((sim if simulated else []) + [ex.binary] + job.argv(["prepare"]), str(job.tmpdir), job.env())
            r = job.finish(c, 60, "prepare")
            if not enabled:
                expect_qemu_error(r, arch, entry, what)
                d = s.snapshot_diff(before, s.snapshot(lc.sd))
                require(not d, f"the failed {what} changed the host: {d}")
            else:
                # Past the architecture check the machine starts or fails for other reasons (the chroot
                # has nothing but a bash header): only the architecture check is judged.
                err = r.err.decode(errors="replace")
                require("qemu-user-static" not in err and "no usable bash" not in err and "rchitecture" not in err,
                        f"{what} with {entry} enabled: {r.describe()}")
            end_job(s, job)

    seen, problems = [], []
    for arch, _, _, _, entry in FOREIGN_ARCHES:
        enabled = binfmt_enabled(entry)
        seen.append(f"{entry} {'enabled' if enabled else 'not enabled'}")
        try:
            prepare(arch, entry, enabled, False)
        except Fail as e:
            problems.append(str(e))
    s.diag("binfmt_misc: " + ", ".join(seen))
    for arch, _, _, _, entry in (FOREIGN_ARCHES[0], FOREIGN_ARCHES[4]):
        try:
            prepare(arch, entry, False, True)
        except Fail as e:
            problems.append(str(e))
    before = s.snapshot(lc.sd)
    c = Call(sim + lc.argv(["chroot-create", "foreign", "--arch", "arm64", "--suite", IMAGE]), str(s.tmproot), s.clean_env())
    rc = c.wait(60)
    ex.check_sanitizer(bytes(c.err), "chroot-create")
    lines = stderr_lines(c.err)
    if not (rc == 1 and lines and "qemu-user-static" in lines[0] and str(BINFMT / "qemu-aarch64") in lines[0]):
        problems.append(f"chroot-create --arch arm64 without binfmt_misc: exit {rc}, stderr {short(c.err)}")
    # (The error may be followed by the usual summary that nothing was left.)
    elif not (len(lines) == 1 or (len(lines) == 2 and "nothing was left behind" in lines[1])):
        problems.append(f"chroot-create --arch arm64 without binfmt_misc: {len(lines)} lines: {short(c.err)}")
    d = s.snapshot_diff(before, s.snapshot(lc.sd))
    if d:
        problems.append(f"the failed chroot-create changed the host: {d}")
    require(not problems, " | ".join(problems))


def tests(s):
    """After the maintenance tests; the i386 test makes the cached i386 chroot nspawn-run's uses."""
    ex, lc = s.ex, "lifecycle: "
    return [bind_lifecycle(s, f"{lc}{backend}: chroot-login: exit 0 keeps the edit as a new generation, exit 3 drops it",
                           t_chroot_login, ex, backend) for backend in ("overlay", "btrfs")] + [
        bind_lifecycle(s, lc + "chroot-list (text and JSON) of a generation image, a plain symlink image and a "
                       "playbook's missing one", t_chroot_list, ex),
        bind_lifecycle(s, lc + "chroot-login without a terminal runs the commands on stdin (exit 0 keeps, exit 3 drops)",
                       t_chroot_login_pipe, ex),
        bind_lifecycle(s, lc + "jobs run with --suppress-sync unless nspawn-runner.conf or the image's playbook says no",
                       t_suppress_sync, ex),
        bind_lifecycle(s, lc + "i386: chroot-create --arch i386 (cached); a job in it reports i686 and i386", t_i386, ex),
        bind_lifecycle(s, lc + "foreign architectures: prepare needs the qemu binfmt_misc entry, in one line",
                       t_foreign_arch, ex),
    ]
