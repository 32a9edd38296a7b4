# SPDX-License-Identifier: GPL-2.0-or-later
"""A job's limits: a fork bomb and a memory hog hit them with one line naming each, and the next job
works."""

from __future__ import annotations

import secrets
import shutil

from tap import require

from jobs import BUILD_FAILURE, IMAGE, Job, end_job, short, stderr_lines
from suite import bind


# Forks up to 200 sleeping children, takes them all down and fails: the next stage has its tasks back.
FORK_BOMB = """python3 -c '
import os, time
kids = []
try:
    for i in range(200):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
except OSError as e:
    print("fork refused after", len(kids), e)
for pid in kids:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
raise SystemExit(3)'"""


def t_sec_limits(s, ex, backend, storage=None):
    """A bounded fork bomb and memory hog hit the job's limits (from the configuration, one from the
    image's playbook): each stage fails as a build failure with one line naming the limit, and the
    next stage and the next job work. The bounds keep the host safe even if a limit were missing."""
    sd = s.state_dir(backend)
    conf = s.tmproot / f"limits-conf-{secrets.token_hex(4)}"
    conf.mkdir()
    (conf / "nspawn-runner.conf").write_text("job_tasks_max = 64\njob_memory_max = 256M\njob_swap_max = off\n")
    (conf / f"{IMAGE}.yaml").write_text("- hosts: all\n  vars:\n    nspawn_runner_job_memory_max: 128M\n  tasks: []\n")
    try:
        with Job(s, ex, sd, prepare_args=["--storage", storage] if storage else []) as job:
            job.env_override["NSPAWN_RUNNER_CONFIG_DIR"] = str(conf)
            job.prepare()
            r = job.run("build_script", [FORK_BOMB])
            require(r.rc == BUILD_FAILURE, f"fork bomb: {r.describe()}")
            lines = [x for x in stderr_lines(r.err) if "limit" in x]
            require(lines == ["nspawn-runner: The job hit its tasks limit (job_tasks_max = 64 tasks): a fork was refused."],
                    f"fork bomb: no one line naming the limit: {short(r.err)}")
            r = job.run("build_script", ["python3 -c 'b = bytearray(600 << 20); print(len(b))'"])
            require(r.rc == BUILD_FAILURE, f"memory hog: {r.describe()}")
            lines = [x for x in stderr_lines(r.err) if "limit" in x]
            require(lines == ["nspawn-runner: The job hit its memory limit (job_memory_max = 128.0 MiB): the kernel killed a "
                            "process."], f"memory hog: no one line naming the playbook's limit: {short(r.err)}")
            r = job.run_ok("after_script", ["echo still-here"])
            require("still-here" in r.lines, "the stage after the limits did not run")
            require(stderr_lines(r.err) == [], f"a stage within the limits reports one: {short(r.err)}")
            end_job(s, job)
        with Job(s, ex, sd) as job:
            job.prepare()
            job.run_ok("build_script", ["python3 -c 'b = bytearray(300 << 20)'", "for i in $(seq 100); do true & done; wait"])
            end_job(s, job)
    finally:
        shutil.rmtree(conf, ignore_errors=True)


def tests(s):
    ex = s.ex
    return [bind(s, f"security: {storage or backend}: a fork bomb and a memory hog hit the limits, one line names "
                 "each, the next job works", t_sec_limits, ex, backend, storage)
            for backend, storage in (("overlay", None), ("btrfs", None), ("overlay", "tmpfs"))]
