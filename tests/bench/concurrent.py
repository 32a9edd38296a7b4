#!/usr/bin/env python3
"""Starts N copies of a job command at once and times them.

Usage: concurrent.py N TIMEOUT_S OUT.json -- COMMAND [ARG...]

Writes {"jobs": N, "wall": s, "times": [s per job], "failed": n, "exit_codes": [of the failed jobs],
"timed_out": bool} to OUT.json: wall is
from the first start to the last exit; each job's time from its own start to its own exit. Jobs still
running after TIMEOUT_S are sent SIGTERM (then SIGKILL) and count as failed. Exits 0 even when jobs
failed: the report says so.
"""
import json
import os
import signal
import subprocess
import sys
import time


def main() -> int:
    n, timeout, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    if sys.argv[4] != "--":
        sys.exit("usage: concurrent.py N TIMEOUT_S OUT.json -- COMMAND [ARG...]")
    cmd = sys.argv[5:]

    procs, starts, ends, codes = {}, {}, {}, {}
    t0 = time.monotonic()
    try:
        for _ in range(n):
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
            starts[p.pid] = time.monotonic()
            procs[p.pid] = p
        timed_out = False
        deadline = t0 + timeout
        while len(ends) < n:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                if time.monotonic() > deadline and not timed_out:
                    timed_out = True
                    for p in procs.values():
                        if p.pid not in ends:
                            p.terminate()
                    deadline += 30
                elif timed_out and time.monotonic() > deadline:
                    for p in procs.values():
                        if p.pid not in ends:
                            p.kill()
                time.sleep(0.002)
                continue
            if pid in procs:
                ends[pid] = time.monotonic()
                codes[pid] = os.waitstatus_to_exitcode(status)
                procs[pid].returncode = codes[pid]  # reaped here, not by Popen
    except KeyboardInterrupt:
        for p in procs.values():
            if p.pid not in ends:
                p.send_signal(signal.SIGTERM)
        raise
    wall = max(ends.values()) - t0
    times = sorted(ends[pid] - starts[pid] for pid in ends)
    failed = sorted(c for c in codes.values() if c != 0)
    with open(out, "w") as f:
        json.dump({"jobs": n, "wall": wall, "times": times, "failed": len(failed), "exit_codes": failed,
                   "timed_out": timed_out}, f)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
