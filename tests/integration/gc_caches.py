# SPDX-License-Identifier: GPL-2.0-or-later
"""gc: leftover machines, old generations and least recently used caches, on small file systems."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import time

from tap import require

from host import host_mounts, proc_stat
from jobs import IMAGE, JOBS_NETNS_PREFIX, Job, end_job, short
from lifecycle import Lifecycle, bind_lifecycle, host_arch, used_percent


def small_fs(s, tag, size_mib, options="defaults"):
    """A loop-mounted ext4 of size_mib MiB (no reserved blocks); returns (device, mount point, backing)."""
    backing = s.tmproot / f"{tag}.img"
    mnt = s.tmproot / f"{tag}-mnt"
    s.sh(["truncate", "-s", f"{size_mib}M", str(backing)])
    s.sh(["mkfs.ext4", "-q", "-F", "-m", "0", str(backing)])
    dev = s.sh(["losetup", "--find", "--show", str(backing)])
    s.loops.append((dev, str(backing)))
    mnt.mkdir()
    s.sh(["mount", "-o", options, dev, str(mnt)])
    s.own_mounts.append(str(mnt))
    return dev, mnt, backing


def small_fs_remove(s, dev, mnt, backing):
    subprocess.run(["umount", str(mnt)], capture_output=True)
    subprocess.run(["losetup", "-d", dev], capture_output=True)
    if not any(m[0] == str(mnt) for m in host_mounts()):
        s.own_mounts.remove(str(mnt))
        s.loops.remove((dev, str(backing)))
        mnt.rmdir()
        backing.unlink()


def fake_dead_process():
    """(pid, start time) of a process that has exited."""
    p = subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL)
    st = proc_stat(p.pid)
    p.kill()
    p.wait()
    return p.pid, st[1]


def gc_counts(r):
    m = re.fullmatch(r"gc: removed ([0-9]+) leftover machine\(s\), ([0-9]+) unused generation\(s\), ([0-9]+) cache dir\(s\); "
                     r"freed ([0-9]+\.[0-9]) MiB", r.text.strip())
    require(r.rc == 0 and m is not None, f"gc: {r.describe()}, stdout {short(r.out)}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), float(m.group(4))


def t_gc_threshold(s, ex):
    """gc on a small file system: leftover machines go, a running job's and a locked one stay;
    least recently used caches go while the file system is fuller than the threshold, fresh ones
    stay."""
    s.chroot()
    dev, mnt, backing = small_fs(s, "gc", 96)
    try:
        sd = mnt
        s.extra_state_dirs.append(sd)
        (sd / IMAGE).symlink_to(s.chroot())
        run_gc = lambda threshold: gc_counts(ex.raw(["--state-dir", str(sd), "gc", "--threshold", str(threshold)], timeout=120))
        with Job(s, ex, sd) as job:
            job.prepare()
            job.run_ok("build_script", ["echo running"])
            # Leftovers: a machine whose init and nspawn are gone, and one without a state file.
            dead = s.next_id()
            s.ids.add(dead)
            (sd / ".machines" / dead / "root/etc").mkdir(parents=True)
            (sd / ".machines" / dead / "root/etc/junk").write_bytes(os.urandom(300 * 1024))
            (ipid, istart), (npid, nstart) = fake_dead_process(), fake_dead_process()
            (sd / ".machines" / dead / "state").write_text(
                f"image={IMAGE}\nimage_path={os.path.realpath(s.chroot())}\nbackend=overlay\nnspawn_pid={npid}\n"
                f"nspawn_start={nstart}\ninit_pid={ipid}\ninit_start={istart}\n")
            nostate = s.next_id()
            s.ids.add(nostate)
            (sd / ".machines" / nostate).mkdir(mode=0o700)
            # A machine being prepared right now (prepare holds a lock on its dir) is not a leftover.
            held = s.next_id()
            s.ids.add(held)
            (sd / ".machines" / held).mkdir(mode=0o700)
            held_fd = os.open(sd / ".machines" / held, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(held_fd, fcntl.LOCK_EX)
                # gitlab-runner's caches: <project>/<key>/cache.zip, 8 MiB each.
                now = time.time()
                ages = {"a": 5 * 3600, "b": 4 * 3600, "c": 3 * 3600, "d": 0, "e": 6 * 3600}
                caches = {}
                for k, age in ages.items():
                    d = sd / ".cache" / f"group/project-{k}" / f"key-{k}"
                    d.mkdir(parents=True)
                    with open(d / "cache.zip", "wb") as f:
                        for _ in range(8):
                            f.write(os.urandom(1 << 20))
                        os.fsync(f.fileno())
                    os.utime(d / "cache.zip", (now - age, now - age))
                    caches[k] = d
                # e: an old archive, but another file of the dir was just written: the dir is in use.
                (caches["e"] / "fresh").write_text("in use\n")
                os.sync()
                machines = lambda: sorted(os.listdir(sd / ".machines"))
                n_m, n_g, n_c, _ = run_gc(100)
                require((n_m, n_g, n_c) == (2, 0, 0), f"gc --threshold 100 removed {n_m} machine(s), {n_g} generation(s), "
                                                    f"{n_c} cache dir(s); expected 2, 0, 0")
                require(machines() == sorted([job.key, held]), f"machines after gc: {machines()}, expected the job's and the locked one")
                require(all(d.is_dir() for d in caches.values()), "gc --threshold 100 removed a cache")
                r = job.run_ok("build_script", ["echo still-running"])
                require("still-running" in r.lines, "the job's machine does not work after gc")
                # A threshold between the usage after removing the oldest one and two of them.
                os.sync()
                sv = os.statvfs(sd)
                before = used_percent(sd)
                blocks = lambda d: sum(os.lstat(p).st_blocks * 512 for p in d.iterdir()) // sv.f_frsize
                after1 = 100 - ((sv.f_bavail + blocks(caches["a"])) * 100) // sv.f_blocks
                after2 = 100 - ((sv.f_bavail + blocks(caches["a"]) + blocks(caches["b"])) * 100) // sv.f_blocks
                threshold = (after1 + after2) // 2
                s.diag(f"file system {before}% used; after removing 1 cache {after1}%, 2 caches {after2}%: threshold {threshold}")
                require(before > after1 > threshold >= after2, f"cannot place a threshold: {before}, {after1}, {after2}")
                n_m, n_g, n_c, freed = run_gc(threshold)
                gone = sorted(k for k, d in caches.items() if not d.exists())
                require(gone == ["a", "b"], f"gc --threshold {threshold} (usage {before}%) removed caches {gone}, expected the two "
                                          f"oldest [a, b] (usage now {used_percent(sd)}%)")
                require(n_c == 2 and (n_m, n_g) == (0, 0), f"gc reported {n_m}, {n_g}, {n_c}, expected 0, 0, 2")
                require(abs(freed - 16.0) <= 0.2, f"gc reported {freed} MiB freed, expected 16.0")
                require(used_percent(sd) <= threshold, f"usage {used_percent(sd)}% is above the threshold {threshold}")
                # However full: a cache used in the last 15 minutes stays.
                n_m, n_g, n_c, _ = run_gc(1)
                gone = sorted(k for k, d in caches.items() if not d.exists())
                require(gone == ["a", "b", "c"] and n_c == 1, f"gc --threshold 1 left {sorted(set(caches) - set(gone))} "
                                                            f"(reported {n_c}), expected the fresh ones [d, e]")
            finally:
                os.close(held_fd)
            n_m, _, _, _ = run_gc(100)
            require(n_m == 1 and machines() == [job.key], f"after its lock was released gc removed {n_m}; machines {machines()}")
            end_job(s, job)
        require(not os.listdir(sd / ".machines"), f"machines left: {os.listdir(sd / '.machines')}")
    finally:
        for n in (os.listdir(mnt / ".machines") if (mnt / ".machines").is_dir() else []):
            subprocess.run(JOBS_NETNS_PREFIX + [ex.binary, "--state-dir", str(mnt), "cleanup", "--id", n], capture_output=True, timeout=60,
                           env=s.clean_env(), stdin=subprocess.DEVNULL)
        if mnt in s.extra_state_dirs:
            s.extra_state_dirs.remove(mnt)
        small_fs_remove(s, dev, mnt, backing)


def t_gc_noatime(s, ex):
    """On a noatime mount (the appliance's SSD), a cache a job only reads is as used as one it writes:
    gc goes by the last use nspawn-runner records when a job of the project starts, not by atime."""
    s.chroot()
    dev, mnt, backing = small_fs(s, "gc-noatime", 64, "noatime")
    try:
        sd = mnt
        s.extra_state_dirs.append(sd)
        (sd / IMAGE).symlink_to(s.chroot())
        now = time.time()
        # read: written 5 h ago, read by a job now; old: 4 h; newer: 3 h; each 8 MiB.
        ages = {"read": 5 * 3600, "old": 4 * 3600, "newer": 3 * 3600}
        caches = {}
        for k, age in ages.items():
            d = sd / ".cache" / "group" / "sub" / f"project-{k}" / "default-key"
            d.mkdir(parents=True)
            with open(d / "cache.zip", "wb") as f:
                for _ in range(8):
                    f.write(os.urandom(1 << 20))
            os.utime(d / "cache.zip", (now - age, now - age))
            caches[k] = d
        os.sync()
        zip_read = caches["read"] / "cache.zip"
        with Job(s, ex, sd) as job:
            job.env_override["CUSTOM_ENV_CI_PROJECT_PATH"] = "group/sub/project-read"
            job.prepare()
            # gitlab-runner's cache-extractor only reads the archive; the job cannot see the record.
            r = job.run_ok("restore_cache", ["cat /cache/group/sub/project-read/default-key/cache.zip | wc -c",
                                             "python3 -c \"import os; p = '/cache/group/sub/project-read'; "
                                             "print('xattrs', os.listxattr(p)); "
                                             "os.setxattr(p, 'trusted.nspawn-runner.last-use', b'9999999999')\" 2>&1 | "
                                             "tail -1 || true", "grep ^CapEff: /proc/self/status"])
            require(str(8 << 20) in r.lines, f"the job did not read the cache: {short(r.out)}")
            cap_eff = [int(l.split()[1], 16) for l in r.lines if l.startswith("CapEff:")]
            if cap_eff and cap_eff[0] & (1 << 21):
                s.diag("jobs hold CAP_SYS_ADMIN (no user namespace): they can read and change the trusted.* record")
            else:
                require("xattrs []" in r.lines and any("PermissionError" in l for l in r.lines),
                        f"the job sees or changes the last-use record: {short(r.out)}")
            end_job(s, job)
        st = os.stat(zip_read)
        require(abs(st.st_atime - (now - ages["read"])) < 2, "the mount keeps atime: not a noatime test")
        os.sync()
        sv = os.statvfs(sd)
        before = used_percent(sd)
        blocks = sum(os.lstat(p).st_blocks * 512 for p in caches["old"].iterdir()) // sv.f_frsize
        after1 = 100 - ((sv.f_bavail + blocks) * 100) // sv.f_blocks
        require(before > after1, f"cannot place a threshold: {before}% used, {after1}% after removing one cache")
        r = ex.raw(["--state-dir", str(sd), "gc", "--threshold", str(after1)], timeout=120)
        _, _, n_c, _ = gc_counts(r)
        gone = sorted(k for k, d in caches.items() if not d.exists())
        require(gone == ["old"] and n_c == 1, f"gc --threshold {after1} (usage {before}%) removed {gone}, expected only the "
                                            f"least recently used [old] (the oldest archive, [read], was just used)")
    finally:
        if mnt in s.extra_state_dirs:
            s.extra_state_dirs.remove(mnt)
        small_fs_remove(s, dev, mnt, backing)


def t_gc_generations(s, ex):
    """gc removes every generation that is neither current nor used, and counts each."""
    lc = Lifecycle(s, ex, "overlay", "gcgen")
    d = lc.sd / ".images" / "gens"
    for g in (1, 2, 3, 5):
        (d / str(g) / "usr/bin").mkdir(parents=True)
        (d / str(g) / "usr/bin/file").write_bytes(os.urandom(64 * 1024))
    for g in (1, 3):
        (d / f"{g}.info").write_text(f"suite={IMAGE}\narch={host_arch()}\nrefreshed={int(time.time())}\n")
    (d / "4.info").write_text("suite=x\n")  # an info without its generation
    (lc.sd / "gens").symlink_to(".images/gens/1")
    n_m, n_g, n_c, freed = gc_counts(lc.nr(["gc"]))
    lc.only_generation("gens", 1, "after gc")
    require(n_g == 3, f"gc removed generations 2, 3 and 5 of one image but reported {n_g} unused generation(s)")
    require(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")


def tests(s):
    ex, lc = s.ex, "lifecycle: "
    return [
        bind_lifecycle(s, lc + "gc --threshold on a small file system: leftover machines and the oldest caches go, fresh "
                       "ones stay", t_gc_threshold, ex),
        bind_lifecycle(s, lc + "gc removes and counts every unused generation", t_gc_generations, ex),
        bind_lifecycle(s, lc + "gc on a noatime mount: a cache a job only read is kept, the least recently used goes",
                       t_gc_noatime, ex),
    ]
