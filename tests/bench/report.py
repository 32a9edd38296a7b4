#!/usr/bin/env python3
"""Prints the results of tests/bench.sh as Markdown tables (to paste into README.md).

Reads from the bench's scratch directory: single.json (single.py), phases-LABEL.txt (one line per
job: t0 config-done prepare-done stages-done cleanup-done, in seconds) and conc-LABEL-N.json
(concurrent.py), for LABEL in overlay, isolated, btrfs, boot.
"""
import argparse
import collections
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import time

TARGET_MS = 120.0
TARGET_RATIO = 10.0

METHODS = {
    "overlay": "nspawn-runner, overlayfs on the host fs, network host",
    "isolated": "nspawn-runner, overlayfs on the host fs, network isolated",
    "btrfs": "nspawn-runner, btrfs snapshot (loop file)",
    "boot": "boot-style: nspawn --boot + nsenter",
    "seed": "seed's way: boot-style + python3 per call",
}
BASELINES = ("boot", "seed")


def ms(seconds):
    v = seconds * 1000
    if v >= 1000:
        return secs(seconds)
    return f"{v:.1f} ms" if v < 10 else f"{v:.0f} ms"


def secs(seconds):
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def table(headers, rows, align):
    """align: one of 'l'/'r' per column."""
    cells = [headers] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return "| " + " | ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align)) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def phases(path, skip):
    """Medians of config, prepare, stages, cleanup over the jobs in path (minus `skip` warm-ups)."""
    try:
        with open(path) as f:
            rows = [[float(x) for x in line.split()] for line in f if line.strip()]
    except FileNotFoundError:
        return None
    rows = rows[skip:]
    if not rows:
        return None
    return [statistics.median(r[i + 1] - r[i] for r in rows) for i in range(4)]


def command_line(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "?"


def machine_info(work, runner, load):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = " ".join(line.split(":", 1)[1].split())
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    try:
        with open("/etc/debian_version") as f:
            debian = "Debian " + f.read().strip()
    except FileNotFoundError:
        debian = platform.freedesktop_os_release().get("PRETTY_NAME", "?")
    fs = command_line("findmnt", "-n", "-o", "FSTYPE", "-T", work)
    return [
        f"- Machine: nproc {len(os.sched_getaffinity(0))} ({model}), {mem_kib / 1048576:.0f} GiB RAM, "
        f"kernel {platform.release()}, {debian}, host fs {fs}",
        f"- Software: {command_line(runner, '--version')}, {command_line('systemd-nspawn', '--version')}, "
        f"measured {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Load average (1, 5, 15 min) before the bench: {load[0]}"
        + (" — the machine was busy with other work: expect figures above a quiet machine's."
           if float(load[0].split()[0]) > 0.5 * len(os.sched_getaffinity(0)) else ""),
    ]


def job_notes(work):
    """What the jobs' logs say went wrong: {(label, jobs at once or None): Counter(message)}."""
    notes = collections.defaultdict(collections.Counter)
    for path in sorted(glob.glob(os.path.join(work, "logs", "*.log"))):
        m = re.fullmatch(r"(overlay|isolated|btrfs|boot|seed)(?:-c(\d+))?-\d+\.log", os.path.basename(path))
        if not m:
            continue
        with open(path, errors="replace") as f:
            for line in f:
                n = re.match(r"(?:note: )?job \d+: (.*)", line.strip())
                if n:
                    notes[(m.group(1), int(m.group(2)) if m.group(2) else None)][n.group(1)] += 1
    return notes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--skip", action="append", default=[], help="KEY=REASON (empty reason: not skipped)")
    ap.add_argument("--note", action="append", default=[], help="a line for the end (empty: none)")
    ap.add_argument("--load", action="append", default=[], help="/proc/loadavg's first 3 fields at the start")
    a = ap.parse_args()
    skips = dict(s.split("=", 1) for s in a.skip)
    w = a.work

    single = {k: v for k, v in (load(os.path.join(w, "single.json")) or {}).items() if v}
    base = {b: statistics.median(single[b]) for b in BASELINES if b in single}

    out = ["## Job overhead: nspawn-runner vs. the boot-style way", ""]
    out += machine_info(w, a.runner, a.load or ["? ? ?"])
    out += [
        "- Job: `gitlab-config`, `prepare`, `run` for each of the 9 stages of a plain job (each script runs "
        "`true`), `cleanup`; image `debian:bookworm` (minbase + busybox; the boot-style chroot is a copy plus "
        "systemd and dbus, with dbus and logind masked).",
        f"- Cold: every job gets a fresh machine, nothing is pre-started; {a.warmup} warm-up round first (page "
        "cache warm). One job at a time: the methods take turns, round by round.",
        "",
        "### One job at a time",
        "",
    ]
    rows = []
    for label, name in METHODS.items():
        if label not in single:
            rows.append([name] + ["—"] * 9 + ["skipped: " + (skips.get(label) or "no data")])
            continue
        t = single[label]
        med = statistics.median(t)
        ph = phases(os.path.join(w, f"phases-{label}.txt"), a.warmup)
        ph_cells = ["—"] * 4 if ph is None else [("—" if label == "boot" else ms(ph[0])), ms(ph[1]), ms(ph[2]), ms(ph[3])]
        ratios = ["—" if b not in base else f"{base[b] / med:.1f}×" for b in BASELINES]
        rows.append([name, str(len(t)), ms(med), ms(min(t)), ms(max(t))] + ph_cells + ratios)
    out.append(table(["Method", "Runs", "Median", "Min", "Max", "config", "prepare", "9 stages", "cleanup",
                      "boot-style / this", "seed's way / this"], rows, "lrrrrrrrrrr"))
    out += ["", "config, prepare, 9 stages, cleanup: medians of each step (for boot-style, prepare = start "
            "the container and wait for `systemctl is-system-running` to say running/degraded; cleanup = "
            "power it off and remove its overlay)."]

    out += ["", "### Jobs started at once (each a full job)", ""]
    rows = []
    for label, name in METHODS.items():
        for n in (8, 32):
            c = load(os.path.join(w, f"conc-{label}-{n}.json"))
            if c is None:
                why = skips.get(f"{label}{n}") or skips.get(label) or "no data"
                rows.append([name, str(n), "—", "—", "—", "—", "skipped: " + why])
                continue
            t = c["times"]
            codes = sorted(set(c.get("exit_codes", [])))
            failed = f"{c['failed']}" + (f" (exit {', '.join(map(str, codes))})" if codes else "") + \
                (" (timed out)" if c["timed_out"] else "")
            rows.append([name, str(n), secs(c["wall"]), ms(statistics.median(t)), ms(max(t)),
                         f"{n / c['wall']:.1f}", failed])
    out.append(table(["Method", "Jobs", "Wall, all jobs", "Per-job median", "Per-job max", "Jobs/s", "Failed"],
                     rows, "lrrrrrr"))

    notes = job_notes(w)
    if notes:
        out += ["", "What went wrong in some jobs (from their logs):", ""]
        for (label, n), msgs in sorted(notes.items(), key=lambda kv: (list(METHODS).index(kv[0][0]), kv[0][1] or 0)):
            where = f"{METHODS[label]}, " + (f"{n} at once" if n else "one at a time")
            for msg, k in msgs.most_common():
                out.append(f"- {where}: {k} job{'s' if k > 1 else ''}: {msg}")

    out += ["", "### Targets", ""]
    rows = []
    for label in ("overlay", "isolated", "btrfs"):
        if label not in single:
            continue
        med = statistics.median(single[label])
        rows.append([f"≤ {TARGET_MS:.0f} ms cold overhead per job ({label})", f"{ms(med)} median",
                     "PASS" if med * 1000 <= TARGET_MS else "MISS"])
        for b in BASELINES:
            if b not in base:
                continue
            r = base[b] / med
            rows.append([f"≥ {TARGET_RATIO:.0f}× less than the {METHODS[b].split(':')[0]} ({label})",
                         f"{r:.1f}× ({ms(base[b])} / {ms(med)})", "PASS" if r >= TARGET_RATIO else "MISS"])
    out.append(table(["Target", "Measured", "Result"], rows, "llr"))
    out += ["", "boot-style is the seed's mechanism alone, a lower bound of its cost. The seed's way adds what "
            "the seed, a Python program, pays on every one of a job's 12 calls: starting Debian's python3 with "
            "the modules it imports. Both still enter the container with `nsenter` for each stage where the "
            "seed used `systemd-run --machine --pipe --wait` through systemd-machined, which this host cannot "
            "run: the real seed costs more still."]
    for n in a.note:
        if n:
            out += ["", n]
    print("\n".join(out))


if __name__ == "__main__":
    main()
