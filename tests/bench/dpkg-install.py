#!/usr/bin/env python3
"""A job that installs local .debs with dpkg, with and without --suppress-sync, side by side.

Usage: dpkg-install.py RUNNER STATE_DIR WORK ROUNDS

Each round runs one job of each kind, in an order that alternates from round to round: gitlab-config,
prepare, one build_script stage that runs `dpkg -i` on a set of .debs, cleanup. The job with
suppress-sync is nspawn-runner's default; the one without has `job_suppress_sync = no` in its
configuration directory. The .debs come from the image's own apt cache (/var/cache/apt/archives in the
machine, no network needed); when the image has none of them, tiny ones are built with dpkg-deb into
the cache dir the machines see at /cache (also with BENCH_DPKG=tiny). Prints the medians of the dpkg stage and their ratio.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

# Packages of a minbase chroot with git and python3 (the test chroot), many small files between them.
PACKAGES = ("git-man", "perl-modules-5.36", "libpython3.11-stdlib")
TINY = 20  # packages of 100 files of 4 KiB each, when the image's apt cache has none of the above


def build_tiny(state_dir):
    """Tiny .debs in <state>/.cache/bench-debs (the machines' /cache/bench-debs)."""
    out = os.path.join(state_dir, ".cache", "bench-debs")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=state_dir) as tmp:
        for i in range(TINY):
            root = os.path.join(tmp, f"p{i}")
            os.makedirs(os.path.join(root, "DEBIAN"))
            with open(os.path.join(root, "DEBIAN", "control"), "w") as f:
                f.write(f"Package: nspawn-runner-bench-{i}\nVersion: 1.0\nArchitecture: all\n"
                        "Maintainer: bench <bench@example.invalid>\nDescription: bench package\n")
            files = os.path.join(root, "usr", "share", f"nspawn-runner-bench-{i}")
            os.makedirs(files)
            for k in range(100):
                with open(os.path.join(files, f"f{k}"), "wb") as f:
                    f.write(os.urandom(4096))
            subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", root, os.path.join(out, f"p{i}.deb")],
                           check=True, capture_output=True)
    return "/cache/bench-debs/*.deb"


def debs_in_image(state_dir):
    archives = os.path.join(state_dir, "bookworm", "var", "cache", "apt", "archives")
    found = [n for n in sorted(os.listdir(archives)) if n.endswith(".deb") and n.split("_")[0] in PACKAGES] \
        if os.path.isdir(archives) else []
    if len(found) != len(PACKAGES):
        return None
    return " ".join("/var/cache/apt/archives/" + n for n in found)


def job(runner, state_dir, conf_dir, job_id, debs, script_dir):
    env = dict(os.environ, CUSTOM_ENV_CI_JOB_ID=str(job_id), CUSTOM_ENV_CI_JOB_IMAGE="debian:bookworm",
               NSPAWN_RUNNER_CONFIG_DIR=conf_dir, BUILD_FAILURE_EXIT_CODE="1", SYSTEM_FAILURE_EXIT_CODE="2")
    script = os.path.join(script_dir, "dpkg-script")
    with open(script, "w") as f:
        f.write("#!/usr/bin/env bash\nset -eo pipefail\n"
                f"dpkg -i {debs} >/dev/null\n")
    os.chmod(script, 0o700)
    call = lambda *a: subprocess.run([runner, "--state-dir", state_dir, *a], env=env, stdin=subprocess.DEVNULL,
                                     capture_output=True, text=True)
    try:
        for args in (["gitlab-config"], ["prepare"]):
            r = call(*args)
            if r.returncode != 0:
                raise RuntimeError(f"{args[0]}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
        t0 = time.monotonic()
        r = call("run", script, "build_script")
        t = time.monotonic() - t0
        if r.returncode != 0:
            raise RuntimeError(f"dpkg -i in the job: exit {r.returncode}: {(r.stdout + r.stderr).strip()[-300:]}")
        return t
    finally:
        call("cleanup")


def main():
    runner, state_dir, work, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    debs = None if os.environ.get("BENCH_DPKG") == "tiny" else debs_in_image(state_dir)
    what = f"{', '.join(PACKAGES)} from the image's apt cache"
    if debs is None:
        debs = build_tiny(state_dir)
        what = f"{TINY} tiny packages of 100 files"
    confs = {}
    for label, conf in (("suppress-sync", ""), ("without", "job_suppress_sync = no\n")):
        d = os.path.join(work, f"conf-{label}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "nspawn-runner.conf"), "w") as f:
            f.write(conf)
        confs[label] = d
    times = {label: [] for label in confs}
    labels = list(confs)
    job_id = 880000000 + os.getpid() * 100
    for r in range(rounds + 1):  # round 0 warms the page cache
        for label in (labels if r % 2 == 0 else labels[::-1]):
            job_id += 1
            t = job(runner, state_dir, confs[label], job_id, debs, work)
            if r > 0:
                times[label].append(t)
    on, off = statistics.median(times["suppress-sync"]), statistics.median(times["without"])
    print(f"\n### Installing packages in a job: dpkg -i of {what}\n")
    print(f"{rounds} rounds, interleaved, median of the `run` stage (the job's dpkg):\n")
    print("| machine | median | runs |")
    print("|---|---:|---|")
    for label, t in (("--suppress-sync (default)", times["suppress-sync"]), ("job_suppress_sync = no", times["without"])):
        print(f"| {label} | {statistics.median(t):.2f} s | {', '.join(f'{x:.2f}' for x in t)} |")
    print(f"\nsuppress-sync: {off / on:.1f}× faster.")


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        sys.exit(f"dpkg-install.py: {e}")
    except KeyboardInterrupt:
        sys.exit(130)
