# SPDX-License-Identifier: GPL-2.0-or-later
"""chroot-maintenance: refreshes into new generations, jobs keeping theirs, kill -9 at any point,
malformed playbooks, a host without ansible-playbook."""

from __future__ import annotations

import collections
import os
import random
import re
import shutil
import signal
import time

from tap import Fail, require

from jobs import Call, IMAGE, Job, PROPAGATE_DIR, end_job, parse_state, short, stderr_lines
from lifecycle import Lifecycle, bind_lifecycle, host_arch, marker_playbook, propagate_names


def t_maint_refresh(s, ex, backend):
    """A playbook of several plays refreshes an image into a new generation; run again with nothing
    to change, it reports unchanged and keeps the generation."""
    lc = Lifecycle(s, ex, backend, "refresh")
    name = "pb"
    lc.make_image(name, marker="version-0")
    # On btrfs the playbook lives in the state dir, on overlay in the config dir: both are looked at.
    lc.playbook(name, marker_playbook("version-1"), where="state" if backend == "btrfs" else "conf")
    t0 = int(time.time())
    r = lc.maintenance(name, "updated")
    require("PLAY [write the marker]" in r.text and "PLAY [read the marker]" in r.text,
            f"not both plays ran: {short(r.out)}")
    require(lc.current(name) == 2, f"after the refresh {name} is at generation {lc.current(name)}, expected 2")
    require(lc.marker(name) == "version-1", f"/etc/marker of the new generation is {lc.marker(name)!r}")
    lc.only_generation(name, 2, "after the refresh (no job uses generation 1)")
    info = parse_state((lc.sd / ".images" / name / "2.info").read_text())
    require(info.get("suite") == IMAGE and info.get("arch") == host_arch(), f"2.info: {info}")
    require(int(info.get("refreshed", 0)) >= t0, f"2.info: refreshed={info.get('refreshed')} is before the refresh ({t0})")
    require(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")
    if backend == "btrfs":
        require(os.stat(lc.sd / ".images" / name / "2").st_ino == 256, "the new generation on btrfs is not a subvolume")
    # Nothing changed: every task is idempotent. Without a name, every image (and playbook) is done.
    r = lc.maintenance(None, "unchanged")
    require("PLAY [read the marker]" in r.text, f"the playbook did not run again: {short(r.out)}")
    require(lc.current(name) == 2, f"an unchanged refresh switched {name} to generation {lc.current(name)}")
    lc.only_generation(name, 2, "after an unchanged refresh")
    require(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")
    left = lc.wait_no_processes()
    require(not left, f"processes left: {list(left.values())[:3]}")


def t_maint_while_job(s, ex, backend):
    """A job keeps the generation it started on while maintenance switches the image; the old
    generation goes with the job's cleanup, not before."""
    lc = Lifecycle(s, ex, backend, "live")
    name = "live"
    lc.make_image(name, marker="version-1")
    lc.playbook(name, marker_playbook("version-2"))
    with Job(s, ex, lc.sd, image=f"debian:{name}") as a, Job(s, ex, lc.sd, image=f"debian:{name}") as b:
        a.prepare()
        r = a.run_ok("get_sources", ["cat /etc/marker"])
        require("version-1" in r.lines, f"job A on generation 1 reads {short(r.out)}")
        lst = lc.list_json()
        require(lst[name]["generation"] == 1 and lst[name]["jobs"] == 1, f"chroot-list before the refresh: {lst[name]}")
        lc.maintenance(name, "updated")
        require(lc.current(name) == 2, f"{name} is at generation {lc.current(name)} after the refresh")
        require((lc.sd / ".images" / name / "1").is_dir(), "generation 1 was removed while job A runs on it")
        lst = lc.list_json()
        require(lst[name]["generation"] == 2 and lst[name]["jobs"] == 0, f"chroot-list after the refresh: {lst[name]}")
        r = a.run_ok("build_script", ["cat /etc/marker", "ls /usr/bin | wc -l"])
        require("version-1" in r.lines, f"job A sees {short(r.out)} after the refresh, expected its generation's version-1")
        require(any(re.fullmatch(r"[0-9]+", x) and int(x) > 100 for x in r.lines), f"job A's /usr/bin: {short(r.out)}")
        b.prepare()
        r = b.run_ok("build_script", ["cat /etc/marker"])
        require("version-2" in r.lines, f"a new job reads {short(r.out)}, expected the new generation's version-2")
        lst = lc.list_json()
        require(lst[name]["generation"] == 2 and lst[name]["jobs"] == 1, f"chroot-list with a job on each generation: {lst[name]}")
        g = lc.nr(["gc"])
        require(g.rc == 0, f"gc: {g.describe()}")
        require((lc.sd / ".images" / name / "1").is_dir(), "gc removed generation 1 while job A runs on it")
        end_job(s, b)
        require((lc.sd / ".images" / name / "1").is_dir(), "job B's cleanup removed generation 1 while job A runs on it")
        r = a.run_ok("after_script", ["cat /etc/marker"])
        require("version-1" in r.lines, f"job A's last stage reads {short(r.out)}")
        end_job(s, a)
    lc.only_generation(name, 2, "after the last job of generation 1 was cleaned up")
    require(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")


def t_maint_plain_dir_while_job(s, ex):
    """An image that is a plain directory (generation 0) is not replaced while a job runs on it (the
    job keeps its files); once the job is gone, the refresh makes it generation 1, with the suite of
    its os-release."""
    lc = Lifecycle(s, ex, "overlay", "plain")
    name = "plaindir"
    lc.s.sh(["cp", "-a", "--reflink=auto", f"{s.chroot()}/.", str(lc.sd / name)], timeout=600)
    (lc.sd / name / "etc/marker").write_text("version-1\n")
    # (No suite in the playbook: the image's own, from its os-release, stays its suite.)
    lc.playbook(name, marker_playbook("version-2", suite=None))
    with Job(s, ex, lc.sd, image=f"debian:{name}") as a:
        a.prepare()
        outputs = lambda r: [line for line in r.lines if not line.startswith("\x1b")]  # not the echoed commands
        r = a.run_ok("get_sources", ["ls /usr/bin | wc -l", "cat /etc/marker"])
        before = outputs(r)
        require("version-1" in before, f"the job reads {short(r.out)}")
        r = lc.maintenance(name, "FAILED")
        require(any("jobs" in line for line in stderr_lines(r.err)), f"the failure does not say jobs run on it: {short(r.err)}")
        require(not (lc.sd / name).is_symlink() and (lc.sd / name / "usr/bin/bash").exists(),
                "the plain directory was replaced while a job runs on it")
        require(lc.entries(name) == [], f"the refused refresh left {lc.entries(name)}")
        require(lc.lock_files() == [], f"lock files left: {lc.lock_files()}")
        r = a.run_ok("build_script", ["ls /usr/bin | wc -l", "cat /etc/marker"])
        require(outputs(r) == before, f"the running job's files changed: {outputs(r)}, before {before}")
        end_job(s, a)
    lc.maintenance(name, "updated")
    require(lc.current(name) == 1, f"{name} is at generation {lc.current(name)}, expected 1")
    require(lc.marker(name) == "version-2", f"the new generation's marker is {lc.marker(name)!r}")
    lc.only_generation(name, 1, "after the refresh (the plain directory is collected)")
    lst = lc.list_json()
    require(lst[name]["suite"] == IMAGE and lst[name]["generation"] == 1,
            f"chroot-list of the refreshed plain image: {lst[name]}, expected suite {IMAGE!r} (its os-release)")
    with Job(s, ex, lc.sd, image=f"debian:{name}") as b:
        b.prepare()
        r = b.run_ok("build_script", ["cat /etc/marker"])
        require("version-2" in r.lines, f"a new job reads {short(r.out)}")
        end_job(s, b)


def t_maint_kill(s, ex, backend, when):
    """kill -9 of chroot-maintenance (the process alone, as a crash or the OOM killer would) after
    `when` seconds or, for 'ansible', while a playbook task runs."""
    lc = Lifecycle(s, ex, backend, "kill")
    name = "k"
    lc.make_image(name, marker="version-1")
    sleep_marker = f"1000.{random.randrange(10**8, 10**9)}" if when == "ansible" else None
    lc.playbook(name, marker_playbook("version-2", long_task=sleep_marker))
    markers = [sleep_marker] if sleep_marker else []
    propagate_before = set(propagate_names())
    c = lc.start(["chroot-maintenance", name])
    problems = []
    try:
        if when == "ansible":
            if not s.wait_marker(sleep_marker, 120):
                raise Fail(f"the playbook's long task did not start: {short(c.out + c.err)}")
        else:
            time.sleep(when)
        at_work = sorted({desc.split(":")[0].split(" ", 1)[1] for desc in lc.processes(markers).values()})
        running = c.p.poll() is None
        os.kill(c.p.pid, signal.SIGKILL)
        rc = c.p.wait(timeout=10)
        s.diag(f"chroot-maintenance {'killed' if running else 'had ended (exit %d) before the kill' % rc} "
               f"{'while a playbook task ran' if when == 'ansible' else f'after {when} s'} (at work: {', '.join(at_work) or '-'}); "
               f".images/{name}: {lc.entries(name)}")
        if when == "ansible":
            require(running, "chroot-maintenance ended before the kill")
        left = lc.wait_no_processes(markers, 5.0)
        if left:
            problems.append(f"processes of the killed maintenance still run 5 s later: {'; '.join(list(left.values())[:3])}")
            lc.kill_processes(left, markers)
            # systemd-nspawn, killed, leaves its propagation dir (named after the generation's dir).
            for n in set(propagate_names()) - propagate_before:
                if n.isdigit() and (lc.sd / ".images" / name / n).exists():
                    shutil.rmtree(PROPAGATE_DIR / n, ignore_errors=True)
    finally:
        if c.p.poll() is None:
            c.abort()
        else:
            c.kill_group(signal.SIGKILL)
    cur = lc.current(name)
    if cur == 1:
        require(lc.marker(name) == "version-1", f"generation 1's marker is {lc.marker(name)!r}")
    else:
        # The kill came after the switch: the new generation must be complete.
        require(lc.marker(name) == "version-2" and (lc.sd / ".images" / name / f"{cur}.info").exists(),
                f"{name} is at generation {cur} with marker {lc.marker(name)!r} after the kill")
    g = lc.nr(["gc"])
    require(g.rc == 0 and re.fullmatch(r"gc: removed 0 leftover machine\(s\), [0-9]+ unused generation\(s\), 0 cache dir\(s\); "
                                     r"freed [0-9.]+ MiB", g.text.strip()), f"gc: {g.describe()}, stdout {short(g.out)}")
    lc.only_generation(name, cur, "after gc")
    require(lc.lock_files() == [], f"lock files left after gc: {lc.lock_files()}")
    with Job(s, ex, lc.sd, image=f"debian:{name}") as job:
        job.prepare()
        r = job.run_ok("build_script", ["cat /etc/marker"])
        require(lc.marker(name) in r.lines, f"a job after the kill reads {short(r.out)}, expected {lc.marker(name)}")
        end_job(s, job)
    require(lc.lock_files() == [], f"lock files left after the job: {lc.lock_files()}")
    require(not problems, "; ".join(problems))


# (name, text, the lines the error may name (None: any), the key it must name)
MALFORMED_PLAYBOOKS = [
    ("invalid YAML", "- hosts: all\n  vars: [unclosed\n  tasks: []\n", {2, 3}, None),
    ("bad indentation", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: bookworm\n   tasks: []\n", {3, 4}, None),
    ("a tab in the indentation", "- hosts: all\n\tvars: {}\n", {2}, None),
    ("an empty file", "", None, None),
    ("only comments", "# nothing here\n\n", None, None),
    ("a top-level mapping", "hosts: all\ntasks: []\n", {1}, None),
    ("a top-level scalar", "just a string\n", {1}, None),
    ("an empty list", "[]\n", {1}, None),
    ("a play that is not a mapping", "- hosts: all\n  tasks: []\n- just a string\n", {3}, None),
    ("vars that is not a mapping", "- hosts: all\n  vars:\n    - nspawn_runner_chroot_suite\n", {2, 3}, "vars"),
    ("a suite that is a list", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite:\n      - bookworm\n", {3, 4},
     "nspawn_runner_chroot_suite"),
    ("a suite that is a mapping", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: {a: 1}\n", {3},
     "nspawn_runner_chroot_suite"),
    ("a suite that is null", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite:\n", {3, 4}, "nspawn_runner_chroot_suite"),
    ("recreate that is a quoted string", "- hosts: all\n  vars:\n    nspawn_runner_maint_recreate: 'yes'\n", {3},
     "nspawn_runner_maint_recreate"),
    ("recreate that is not a boolean", "- hosts: all\n  vars:\n    nspawn_runner_maint_recreate: sometimes\n", {3},
     "nspawn_runner_maint_recreate"),
    ("include with a mapping item",
     "- hosts: all\n  vars:\n    nspawn_runner_chroot_include:\n      - python3\n      - {name: curl}\n", {4, 5},
     "nspawn_runner_chroot_include"),
    ("an unknown nspawn_runner_ variable", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suit: bookworm\n", {3},
     "nspawn_runner_chroot_suit"),
    ("a template value", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: \"{{ suite }}\"\n", {3},
     "nspawn_runner_chroot_suite"),
    ("two documents", "- hosts: all\n  tasks: []\n---\n- hosts: all\n  tasks: []\n", {3, 4}, None),
    ("an empty mirror", "- hosts: all\n  vars:\n    nspawn_runner_chroot_mirror: ''\n", {3}, "nspawn_runner_chroot_mirror"),
    ("an arch with a space", "- hosts: all\n  vars:\n    nspawn_runner_chroot_arch: amd 64\n", {3}, "nspawn_runner_chroot_arch"),
    ("an undefined alias", "- hosts: all\n  vars:\n    nspawn_runner_chroot_suite: *nope\n", {3}, None),
]


def t_malformed_playbooks(s, ex):
    """Every malformed playbook: chroot-maintenance of an existing image, and chroot-create and
    chroot-maintenance of a missing one, fail with one line FILE:LINE: naming the key, and change
    nothing."""
    lc = Lifecycle(s, ex, "overlay", "malformed")
    (lc.sd / "img").symlink_to(s.chroot())
    errors = collections.defaultdict(list)  # (kind, problem) -> the commands that had it
    for i, (kind, text, want_lines, key) in enumerate(MALFORMED_PLAYBOOKS):
        where = "state" if i % 2 else "conf"
        files = {"img": lc.playbook("img", text, where), "new": lc.playbook("new", text, where)}
        before = s.snapshot(lc.sd)
        for args in (["chroot-maintenance", "img"], ["chroot-create", "new"], ["chroot-maintenance", "new"]):
            r = lc.nr(args, timeout=60)
            path = str(files[args[1]])
            lines = stderr_lines(r.err)
            problem = None
            m = re.fullmatch(rf"nspawn-runner: {re.escape(path)}:([0-9]+): .+", lines[0]) if len(lines) == 1 else None
            if r.rc == 0:
                problem = "succeeded"
            elif len(lines) != 1:
                problem = f"{len(lines)} lines on stderr: {short(r.err)}"
            elif not m:
                problem = f"the error is not FILE:LINE: …: {lines[0]!r}"
            elif want_lines is not None and int(m.group(1)) not in want_lines:
                problem = f"the error names line {m.group(1)}, expected {sorted(want_lines)}: {lines[0]!r}"
            elif key and key not in lines[0]:
                problem = f"the error does not name {key}: {lines[0]!r}"
            elif args[0] == "chroot-maintenance" and not re.search(
                    r"^maintenance: 0 created, 0 updated, 0 unchanged, 1 failed", r.text, re.M):
                problem = f"no summary with 1 failed: {short(r.out)}"
            if problem:
                errors[(kind, problem.replace(path, "FILE"))].append(" ".join(args))
        d = s.snapshot_diff(before, s.snapshot(lc.sd))
        if d:
            errors[(kind, f"the state dir changed: {d}")].append("")
        for f in files.values():
            f.unlink()
    require(not errors, f"{len(errors)} problem(s): " +
            " | ".join(f"{kind} ({', '.join(cmds)}): {problem}" for (kind, problem), cmds in list(errors.items())[:6]))


def t_maint_without_ansible(s, ex):
    """A refresh with a playbook on a host without ansible-playbook (hidden in a private mount
    namespace) fails clearly and leaves the image as it was."""
    lc = Lifecycle(s, ex, "overlay", "noansible")
    name = "na"
    (lc.make_mini_image(name, python=True) / "etc/marker").write_text("version-1\n")
    lc.playbook(name, marker_playbook("version-2"))
    before = s.snapshot(lc.sd)
    hide = "mount --bind /dev/null /usr/bin/ansible-playbook && exec \"$@\""
    c = Call(["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh"] +
             lc.argv(["chroot-maintenance", name]), str(s.tmproot), s.clean_env())
    rc = c.wait(300)
    ex.check_sanitizer(bytes(c.err), "chroot-maintenance")
    require(rc == 1, f"chroot-maintenance without ansible-playbook: exit {rc}, stderr {short(c.err)}")
    require(any("Ansible" in line for line in stderr_lines(c.err)), f"the error does not say Ansible is missing: {short(c.err)}")
    require(re.search(r"^maintenance: 0 created, 0 updated, 0 unchanged, 1 failed", bytes(c.out).decode(), re.M),
            f"no summary with 1 failed: {short(c.out)}")
    require(lc.current(name) == 1 and lc.marker(name) == "version-1", "the image changed")
    d = s.snapshot_diff(before, s.snapshot(lc.sd))
    require(not d, f"the failed refresh left: {d}")


def tests(s):
    ex, lc = s.ex, "lifecycle: "
    out = []
    for backend in ("overlay", "btrfs"):
        p = f"{lc}{backend}: "
        out += [
            bind_lifecycle(s, p + "a playbook of 2 plays refreshes the image into a new generation; run again, it is "
                           "unchanged", t_maint_refresh, ex, backend),
            bind_lifecycle(s, p + "a job keeps its generation through a refresh, a new job gets the new one, the old one "
                           "goes with the job's cleanup", t_maint_while_job, ex, backend),
        ]
    out.append(bind_lifecycle(s, lc + "overlay: a plain-directory image is not replaced while a job runs on it, and is "
                              "after", t_maint_plain_dir_while_job, ex))
    for backend, points in (("overlay", (0.3, 1.5, 3.0, "ansible")), ("btrfs", (0.3, "ansible"))):
        for when in points:
            at = "while a playbook task runs" if when == "ansible" else f"after {when} s"
            out.append(bind_lifecycle(s, f"{lc}{backend}: kill -9 of chroot-maintenance {at}: last good generation, no "
                                      "processes left, a job works, gc leaves only the current generation", t_maint_kill,
                                      ex, backend, when))
    return out + [
        bind_lifecycle(s, f"{lc}{len(MALFORMED_PLAYBOOKS)} kinds of malformed playbooks: maintenance and create fail "
                       "with FILE:LINE and change nothing", t_malformed_playbooks, ex),
        bind_lifecycle(s, lc + "refresh without ansible-playbook fails clearly and leaves the image",
                       t_maint_without_ansible, ex),
    ]
