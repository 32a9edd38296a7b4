"""What isolated machines may leave in a network namespace, for the suites' leftover checks
(tests/network and the integration suites): pool slots and namespace mounts under
/run/nspawn-runner/network, the machines' veths (nr<slot>) and the firewall's nft tables
(nspawn_runner_<pool>_<hash>, one per pool)."""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

RUN_DIR = Path("/run/nspawn-runner/network")


def _out(argv):
    return subprocess.run(argv, capture_output=True, text=True).stdout


def links(ns=None):
    """The machines' veths in network namespace ns (None: this process's)."""
    return re.findall(r"^\d+: (nr\d+)", _out(["ip", *(["-n", ns] if ns else []), "-o", "link"]), re.M)


def firewall_tables(ns=None, pool=None):
    """The firewall tables in ns of pool as their names spell it (e.g. 0ad50000_16), or of every pool."""
    listing = _out([*(["ip", "netns", "exec", ns] if ns else []), "nft", "list", "tables"])
    return [t for t in listing.splitlines() if f"nspawn_runner_{pool + '_' if pool else ''}" in t]


def leftovers(ns=None, firewall_ok=True, wait_links=True):
    """What is left: slots and namespace mounts; veths (the kernel frees one a few ms after its
    namespace: with wait_links, waited for up to 5 s); firewall tables — one per pool allowed with
    firewall_ok (gc removes them once no machine is left), two of one pool never."""
    deadline = time.monotonic() + 5
    while wait_links and links(ns) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [f"{p}: {sorted(x.name for x in p.iterdir())}"
            for p in (RUN_DIR / "slots", RUN_DIR / "netns") if p.is_dir() and any(p.iterdir())]
    veths = links(ns)
    if veths:
        left.append(f"veths {veths}")
    tables = firewall_tables(ns)
    pools = [t.rsplit("_", 1)[0] for t in tables]
    if len(set(pools)) < len(pools) or (tables and not firewall_ok):
        left.append(f"nft: {tables}")
    return left
