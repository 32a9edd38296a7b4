# SPDX-License-Identifier: GPL-2.0-or-later
"""The storage backends beyond the common tests: tmpfs, --storage on btrfs, images that are no
subvolume, unusual state dir paths, a garbage state file."""

from __future__ import annotations

import re
from pathlib import Path

from tap import require

from jobs import IMAGE, Job, end_job, expect_system_failure, short
from protocol import t_failure, t_persistence, t_success
from suite import bind


def t_btrfs_plain_image(s, ex, backend):
    """On btrfs, an image that is not a subvolume falls back to overlayfs; --storage btrfs refuses it."""
    sd = s.state_dir(backend)
    with Job(s, ex, sd, image="debian:plain") as job:
        job.prepare()
        require(job.state().get("backend") == "overlay", f"plain image on btrfs: storage {job.state().get('backend')!r}")
        r = job.run_ok("build_script", ["cat /etc/debian_version"])
        require(any(re.fullmatch(r"[0-9]+(\.[0-9]+)*", line) for line in r.lines), f"no Debian in the machine: {short(r.out)}")
        end_job(s, job)


def t_unusual_state_dirs(s, ex, backend):
    """A state dir with a long path works (its machines' paths are longer than sun_path, which their
    control sockets on /run do not care about); one whose path overlayfs cannot take fails cleanly."""
    chroot = s.chroot()
    long_sd = s.tmproot / ("long-" + "d" * 60) / ("e" * 60) / ("f" * 60) / "state"
    long_sd.mkdir(parents=True)
    (long_sd / IMAGE).symlink_to(chroot)
    s.extra_state_dirs.append(long_sd)
    with Job(s, ex, long_sd) as job:
        require(len(f"{job.machine_dir}/control.sock") > 108, "the path is not long enough to test")
        job.prepare()
        r = job.run_ok("build_script", ["echo long-ok"])
        require("long-ok" in r.lines, f"job in a long state dir: {short(r.out)}")
        end_job(s, job)
    bad_sd = s.tmproot / "state,with:colon"
    bad_sd.mkdir()
    (bad_sd / IMAGE).symlink_to(chroot)
    s.extra_state_dirs.append(bad_sd)
    with Job(s, ex, bad_sd) as job:
        r = job.prepare(expect=None)
        expect_system_failure(r, "prepare in a state dir with ',' and ':'")
        s.wait_job_gone(job)
        require(job.cleanup().rc == 0, "cleanup failed")


def t_corrupt_state(s, ex, backend):
    """cleanup finds and stops the machine even when its state file is garbage."""
    for garbage in ("", "garbage without an equals sign\n", "nspawn_pid=abc\ninit_pid=-1\n", "\0\0\0"):
        with Job(s, ex, s.state_dir(backend)) as job:
            job.prepare()
            job.run_ok("build_script", ["true"])
            require(s.job_processes(job), "no machine processes seen")
            Path(job.machine_dir, "state").write_text(garbage)
            r = job.cleanup()
            require(r.rc == 0, f"cleanup with state {garbage!r}: {r.describe()}")
            s.wait_job_gone(job)


def tests(s):
    ex = s.ex
    return [
        bind(s, "btrfs: an image that is not a subvolume runs on overlayfs", t_btrfs_plain_image, ex, "btrfs"),
        bind(s, "btrfs: --storage overlay on a btrfs state dir", t_success, ex, "btrfs", storage="overlay"),
        bind(s, "overlay: long state dir path works; one with ',' and ':' fails cleanly", t_unusual_state_dirs, ex,
             "overlay"),
        bind(s, "overlay: cleanup with a garbage state file leaves nothing", t_corrupt_state, ex, "overlay"),
        bind(s, "tmpfs: success through all stages", t_success, ex, "overlay", storage="tmpfs"),
        bind(s, "tmpfs: failing script exit 42", t_failure, ex, "overlay", storage="tmpfs"),
        bind(s, "tmpfs: files and a background server persist across stages", t_persistence, ex, "overlay",
             storage="tmpfs"),
    ]
