# SPDX-License-Identifier: GPL-2.0-or-later
"""Containment: a job's attacks on the host fail at their first step; what must still work
(chown, setuid, dpkg, nested sandboxes); id ranges, devices cgroup, project caches. (Its limits:
limits.py.)"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from pathlib import Path

from tap import require

from jobs import Job, end_job, short
from suite import bind


# -- Containment (issue 11): each attack tries only its first step (the open, the remount, the
# write of the value already there) and the test fails when that step succeeds; nothing on the host
# changes either way. Network attacks are the network's (isolated mode) to test.
ATTACK_PROBE = r'''
attempt() { name=$1; shift; if ( "$@" ) >/dev/null 2>&1; then echo "ATTACK $name: SUCCEEDED"; else echo "ATTACK $name: refused"; fi; }
attempt mknod-host-disk mknod /tmp/sda b 8 0
attempt mknod-loop mknod /tmp/loop0 b 7 0
attempt open-planted-block-node sh -c 'exec 3</planted-loop'
attempt open-planted-tty-node sh -c 'exec 3</planted-tty'
attempt write-core-pattern sh -c 'v=$(cat /proc/sys/kernel/core_pattern); printf "%s\n" "$v" > /proc/sys/kernel/core_pattern'
attempt write-proc-sys-after-remount sh -c 'mount -o remount,rw /proc/sys 2>/dev/null; v=$(cat /proc/sys/kernel/hostname); printf "%s\n" "$v" > /proc/sys/kernel/hostname && test "$(cat /proc/sys/kernel/hostname)" = "$v" && ! grep -q " /proc/sys .*ro," /proc/self/mountinfo && test -w /proc/sys/vm/drop_caches'
attempt open-sysrq-trigger sh -c 'exec 3>/proc/sysrq-trigger'
attempt remount-proc-sys-rw mount -o remount,rw /proc/sys
attempt umount-proc-sys umount /proc/sys
attempt remount-sys-rw mount -o remount,rw /sys
attempt umount-sys umount /sys
attempt read-kmsg-under-overmount sh -c 'umount /proc/kmsg && exec 3</proc/kmsg'
attempt open-host-tty sh -c 'exec 3</dev/tty'
attempt open-console sh -c 'exec 3</dev/console'
attempt remount-gitlab-runner-rw mount -o remount,rw,bind /usr/local/bin/gitlab-runner
attempt umount-gitlab-runner umount /usr/local/bin/gitlab-runner
attempt raw-socket python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'
attempt mount-host-proc-sysrq sh -c 'mkdir -p /tmp/p && mount -t proc proc /tmp/p && exec 3>/tmp/p/sysrq-trigger'
echo uid_map=$(cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')
'''


STILL_WORKS_PROBE = r'''
set -e
useradd -m -u 1000 builder
touch /tmp/f && chown builder:builder /tmp/f && echo "chown=$(stat -c %u:%g /tmp/f)"
cp /usr/bin/id /tmp/suid-id && chmod 4755 /tmp/suid-id && echo "setuid=$(setpriv --reuid=1000 --regid=1000 --clear-groups /tmp/suid-id -u)"
mkdir -p /tmp/pkg/DEBIAN /tmp/pkg/usr/share/doc/it-pkg
printf 'Package: it-pkg\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n' > /tmp/pkg/DEBIAN/control
echo hello > /tmp/pkg/usr/share/doc/it-pkg/hello
dpkg-deb --root-owner-group --build /tmp/pkg /tmp/it-pkg.deb >/dev/null && dpkg -i /tmp/it-pkg.deb >/dev/null && echo "dpkg=$(dpkg-query -W -f='${Status}' it-pkg)"
echo "unshare=$(unshare -U -r id -u)"
echo "nested-mknod=$(unshare -U -r sh -c 'mknod /tmp/n c 1 3 2>/dev/null && echo yes || echo no')"
mkdir -p /cache/group/project && echo r > /cache/group/project/by-root && su builder -c 'echo b > /tmp/by-builder' && install -o builder -g builder /tmp/by-builder /cache/group/project/by-builder
echo "cache=$(stat -c %u /cache/group/project/by-root),$(stat -c %u /cache/group/project/by-builder)"
'''


def plant_device_nodes(job, backend):
    """Device nodes the host leaves in the machine's root, as a disk in hand would: a loop device and
    a host tty (world-readable). Overlay: in its upper dir; btrfs: in the snapshot. None on tmpfs
    (its upper layer is in the supervisor's own mount namespace)."""
    base = Path(job.machine_dir) / ("root" if backend == "btrfs" else "upper")
    planted = []
    for name, dev in (("planted-loop", (stat.S_IFBLK, 7, 0)), ("planted-tty", (stat.S_IFCHR, 4, 1))):
        os.mknod(base / name, 0o666 | dev[0], os.makedev(dev[1], dev[2]))
        os.chmod(base / name, 0o666)
        planted.append(base / name)
    return planted


def t_sec_attacks(s, ex, backend, storage=None):
    """Root in a job is not root on the host: every attack's first step is refused."""
    sd = s.state_dir(backend)
    token = secrets.token_hex(8)
    bindir = s.tmproot / f"fakebin-sec-{token}"
    bindir.mkdir()
    fake = bindir / "gitlab-runner"
    fake.write_text("#!/bin/sh\necho fake\n")
    fake.chmod(0o755)
    with Job(s, ex, sd, prepare_args=["--storage", storage] if storage else [], path_prefix=str(bindir)) as job:
        job.prepare()
        st = job.state()
        base = int(st.get("uid_base", "0"))
        require(base >= 0x70000000 and base % 65536 == 0, f"no user id range in the machine's state: {st}")
        if storage != "tmpfs":
            plant_device_nodes(job, backend)
        r = job.run_ok("build_script", [ATTACK_PROBE])
        results = [line for line in r.lines if line.startswith("ATTACK ")]
        require(len(results) == ATTACK_PROBE.count("\nattempt "), f"not every attack reported: {results}")
        if storage == "tmpfs":
            results = [x for x in results if "planted" not in x]
        won = [x for x in results if not x.endswith(": refused") and "planted" not in x or "SUCCEEDED" in x]
        require(not won, f"attacks succeeded: {won}")
        # The job is one user namespace below the machine's (which locks the machine's mounts), with
        # the machine's 65536 ids; the machine's are the range of its state.
        require("uid_map=0 0 65536" in r.lines, f"uid map in the job is not 0 0 65536: {short(r.out)}")
        init_map = " ".join(Path(f"/proc/{st['init_pid']}/uid_map").read_text().split())
        require(init_map == f"0 {base} 65536", f"uid map of the machine's init is not 0 {base} 65536: {init_map}")
        end_job(s, job)


def t_sec_still_works(s, ex, backend, storage=None):
    """What a build needs as root still works: chown, setuid programs, dpkg -i of a local package,
    nested user namespaces; and files in /cache keep their owners for the next job."""
    sd = s.state_dir(backend)
    with Job(s, ex, sd, prepare_args=["--storage", storage] if storage else []) as a:
        a.prepare()
        r = a.run_ok("build_script", [STILL_WORKS_PROBE])
        for want in ("chown=1000:1000", "setuid=0", "dpkg=install ok installed", "unshare=0", "nested-mknod=no",
                     "cache=0,1000"):
            require(want in r.lines, f"{want} not seen: {short(r.out)}")
        end_job(s, a)
    on_host = Path(sd) / ".cache" / "group" / "project"
    owners = (os.stat(on_host / "by-root").st_uid, os.stat(on_host / "by-builder").st_uid)
    require(owners == (0, 1000), f"/cache files are owned by {owners} on the host, expected (0, 1000)")
    with Job(s, ex, sd) as b:
        b.prepare()
        r = b.run_ok("build_script", ["echo next=$(stat -c %u /cache/group/project/by-root),"
                                      "$(stat -c %u /cache/group/project/by-builder)",
                                      "echo x >> /cache/group/project/by-root && echo appended"])
        require("next=0,1000" in r.lines and "appended" in r.lines, f"the next job sees other owners: {short(r.out)}")
        end_job(s, b)
    shutil.rmtree(on_host, ignore_errors=True)


# Nested sandboxes in a job: bubblewrap with every namespace and a fresh /proc (its PID 1 is bwrap, the
# job's is the machine's init); podman as the README shows it, with an image imported from a tarball
# made here. Then what a nested user, mount and PID namespace with a fresh procfs could uncover:
# nspawn's overmounts hide nothing a job may use, and /sys stays read-only.
NESTED_PROBE = r'''
set -e
echo "bwrap=$(bwrap --unshare-all --bind / / --dev /dev --proc /proc sh -c 'echo uid=$(id -u) pid1=$(head -c 5 /proc/1/cmdline)')"
tar -C / -chf /tmp/mini.tar bin/busybox $(ldd /bin/busybox | grep -o '/[^ ]*' | sed 's|^/||')
podman --storage-driver vfs import -q /tmp/mini.tar localhost/mini >/dev/null
echo "podman=$(podman --storage-driver vfs run --rm --network=host --cgroups=disabled localhost/mini /bin/busybox sh -c 'echo pid=$$ $(/bin/busybox ls /bin)')"
echo "podman-images=$(podman --storage-driver vfs images --format '{{.Repository}}')"
echo "fresh-proc=$(unshare -U -r -m -p -f --mount-proc sh -c 'head -c 6 /proc/1/stat')"
attempt() { name=$1; shift; if unshare -U -r -m -p -f --mount-proc sh -c "$*" >/dev/null 2>&1; then echo "NESTED $name: SUCCEEDED"; else echo "NESTED $name: refused"; fi; }
attempt write-core-pattern 'v=$(cat /proc/sys/kernel/core_pattern); printf "%s\n" "$v" > /proc/sys/kernel/core_pattern'
attempt open-sysrq-trigger 'exec 3>/proc/sysrq-trigger'
attempt read-kmsg 'exec 3</proc/kmsg'
attempt write-hostname 'v=$(cat /proc/sys/kernel/hostname); printf "%s\n" "$v" > /proc/sys/kernel/hostname'
attempt write-irq-affinity 'v=$(cat /proc/irq/default_smp_affinity); printf "%s\n" "$v" > /proc/irq/default_smp_affinity'
attempt remount-sysfs-rw 'mount -o remount,rw /sys'
'''


def t_sec_nested(s, ex, backend, storage=None):
    """Nested sandboxes work without privileges: bubblewrap and podman run a command in a job (unshare
    -U -r: t_sec_still_works); a fresh procfs in a nested user and PID namespace is writable nowhere the
    job's /proc is not."""
    sd = s.state_dir(backend)
    image = s.nested_image(backend)
    with Job(s, ex, sd, image=image, prepare_args=["--storage", storage] if storage else []) as job:
        job.prepare()
        r = job.run_ok("build_script", [NESTED_PROBE], timeout=180)
        require("bwrap=uid=0 pid1=bwrap" in r.lines, f"bwrap in the job (PID 1 of its /proc is bwrap): {short(r.out, 600)}")
        require("podman-images=localhost/mini" in r.lines, f"podman import in the job: {short(r.out, 600)}")
        podman = [line for line in r.lines if line.startswith("podman=")]
        require(podman == ["podman=pid=1 busybox"], f"podman run in the job (its command PID 1, the image's /bin): {short(r.out, 600)}")
        # The attempts below run with a procfs of their own (PID 1 in it is their shell), not the job's.
        require("fresh-proc=1 (sh)" in r.lines, f"no fresh procfs in a nested namespace: {short(r.out, 600)}")
        results = [line for line in r.lines if line.startswith("NESTED ")]
        require(len(results) == NESTED_PROBE.count("\nattempt "), f"not every attempt reported: {results}")
        won = [x for x in results if not x.endswith(": refused")]
        require(not won, f"a nested namespace uncovered: {won}")
        end_job(s, job)


def t_sec_ranges(s, ex, backend, n=4):
    """Concurrent machines get distinct id ranges; cleanup frees them for the next jobs."""
    sd = s.state_dir(backend)
    jobs = [Job(s, ex, sd) for _ in range(n)]
    try:
        for j in jobs:
            j.prepare()
        bases = [j.state().get("uid_base") for j in jobs]
        require(len(set(bases)) == n and None not in bases, f"ranges of {n} concurrent machines: {bases}")
        for j in jobs:
            end_job(s, j)
    finally:
        for j in jobs:
            j.__exit__(None, None, None)
    with Job(s, ex, sd) as j:
        j.prepare()
        require(j.state().get("uid_base") == str(0x70000000), f"the first range was not freed: {j.state()}")
        end_job(s, j)


def t_sec_devices_cgroup(s, ex, backend):
    """Off systemd, the machine is in a devices cgroup that lists only the harmless set, and in a pids,
    memory and cpu cgroup of its own; all of them go with cleanup."""
    sd = s.state_dir(backend)
    with Job(s, ex, sd) as job:
        job.prepare()
        cgs = Path(job.machine_dir, "cgroups").read_text().split()
        dev = [c for c in cgs if "/devices/" in c]
        require(len(dev) == 1, f"no devices cgroup recorded: {cgs}")
        allowed = Path(dev[0], "devices.list").read_text().split("\n")
        require("a *:* rwm" not in allowed and "c 1:3 rwm" in allowed and not any(x.startswith("b ") for x in allowed),
                f"devices.list of the machine: {allowed}")
        nspawn = int(job.state()["nspawn_pid"])
        for c in cgs:
            require(str(nspawn) in Path(c, "cgroup.procs").read_text().split(), f"systemd-nspawn is not in {c}")
        end_job(s, job)
    left = [c for c in cgs if os.path.exists(c)]
    require(not left, f"cgroups left after cleanup: {left}")


def t_sec_project_caches(s, ex, backend):
    """A job sees only its own project's cache, at the path gitlab-runner uses (<cache_dir>/<the
    repository URL's path>), and not another project's."""
    sd = s.state_dir(backend)
    token = secrets.token_hex(6)
    host_cache = Path(sd) / ".cache/team-a/app/default/cache.zip"

    def project_job(project):
        job = Job(s, ex, sd)
        job.user_vars.update(CI_REPOSITORY_URL=f"https://gitlab-ci-token:{job.job_token}@gitlab.example.com/{project}.git",
                             CI_PROJECT_PATH=project)
        return job

    with project_job("team-a/app") as a:
        a.prepare()
        require(a.state().get("cache_subdir") == "team-a/app", f"cache dir of the job: {a.state()}")
        a.run_ok("archive_cache", [f"mkdir -p /cache/team-a/app/default && echo {token} > /cache/team-a/app/default/cache.zip"])
        end_job(s, a)
    require(host_cache.read_text().strip() == token, "the cache is not at <cache_dir>/team-a/app/default/cache.zip on the host")
    with project_job("team-b/lib") as b:
        b.prepare()
        r = b.run_ok("restore_cache", ["echo top=$(ls -A /cache | tr '\\n' ' ')",
                                       "echo b=$(ls -A /cache/team-b | tr '\\n' ' ')",
                                       "if cat /cache/team-a/app/default/cache.zip 2>/dev/null; then echo READ; else echo unreadable; fi",
                                       "if mkdir -p /cache/team-a/app 2>/dev/null && echo x > /cache/team-a/app/default/cache.zip; "
                                       "then echo wrote; fi"])
        require("top=team-b" in r.lines and "b=lib" in r.lines and "unreadable" in r.lines, f"another project's cache: {short(r.out)}")
        end_job(s, b)
    require(host_cache.read_text().strip() == token, "another project's job changed team-a's cache")
    with project_job("team-a/app") as c:
        c.prepare()
        r = c.run_ok("restore_cache", ["cat /cache/team-a/app/default/cache.zip"])
        require(token in r.lines, f"the project's next job does not see its cache: {short(r.out)}")
        end_job(s, c)
    for p in ("team-a", "team-b"):
        shutil.rmtree(Path(sd) / ".cache" / p, ignore_errors=True)


# The security tests' backends: (the state dir's, --storage).
BACKENDS = (("overlay", None), ("btrfs", None), ("overlay", "tmpfs"))


def on_backends(s, cases):
    """For each of BACKENDS, in turn, a test per case (name, fn): "security: BACKEND: name", running
    fn(s, s.ex, backend, storage); a name may be a function of BACKEND."""
    out = []
    for backend, storage in BACKENDS:
        where = storage or backend
        out += [bind(s, f"security: {where}: {name(where) if callable(name) else name}", fn, s.ex, backend, storage)
                for name, fn in cases]
    return out


def tests(s):
    ex = s.ex
    return on_backends(s, [
        ("a job's attacks on the host fail at their first step (devices, /proc/sys, /sys, overmounts, tty, "
         "gitlab-runner bind, raw sockets)", t_sec_attacks),
        ("chown, setuid, dpkg -i, nested unshare work; /cache owners hold across jobs", t_sec_still_works),
        ("nested sandboxes: bubblewrap with a fresh /proc, podman (vfs, crun) with an image from a tarball; a fresh "
         "procfs uncovers nothing", t_sec_nested),
    ]) + [
        bind(s, "security: concurrent machines get distinct id ranges, freed by cleanup", t_sec_ranges, ex, "overlay"),
        bind(s, "security: a job sees only its own project's cache, where gitlab-runner keeps it", t_sec_project_caches,
             ex, "overlay"),
        bind(s, "security: off systemd the machine is in a devices cgroup of the harmless set, removed by cleanup",
             t_sec_devices_cgroup, ex, "overlay"),
    ]
