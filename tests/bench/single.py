#!/usr/bin/env python3
"""Times single jobs of several methods, one job at a time, interleaved.

Usage: single.py ROUNDS WARMUP OUT.json LABEL COMMAND [ARG...] [:: LABEL COMMAND [ARG...]]...

Runs WARMUP rounds (not recorded), then ROUNDS rounds; each round runs every method's command once, in an
order that rotates from round to round, so that a burst of load from elsewhere on the machine falls on
all methods alike rather than on one series. Writes {LABEL: [seconds per job]} to OUT.json. Stops at
the first failed job (exit 1).
"""
import json
import subprocess
import sys
import time


def main() -> int:
    rounds, warmup, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    methods, cur = [], []
    for a in sys.argv[4:] + ["::"]:
        if a == "::":
            if len(cur) < 2:
                sys.exit("usage: single.py ROUNDS WARMUP OUT.json LABEL COMMAND [ARG...] [:: LABEL COMMAND...]...")
            methods.append((cur[0], cur[1:]))
            cur = []
        else:
            cur.append(a)

    times = {label: [] for label, _ in methods}
    for r in range(warmup + rounds):
        k = r % len(methods)
        for label, cmd in methods[k:] + methods[:k]:
            t0 = time.monotonic()
            rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, check=False).returncode
            t = time.monotonic() - t0
            if rc < 0 or rc >= 128:  # killed, as by a Ctrl-C
                return 130
            if rc != 0:
                print(f"single.py: a {label} job failed (exit {rc})", file=sys.stderr)
                return 1
            if r >= warmup:
                times[label].append(t)
    with open(out, "w") as f:
        json.dump(times, f)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
