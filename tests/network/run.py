"""Network containment tests of nspawn-runner: jobs in isolated, host and none mode, in a world made of
network namespaces this test creates, so that no packet can reach a real address.

The test re-executes itself in a new network and mount namespace: that is the "host" the runner runs
on (its uplink up0 10.99.0.2/24, default route via 10.99.0.1; /etc/resolv.conf, /run/netns,
/run/nspawn-runner and /run/systemd/nspawn are tmpfs or bind mounts of its own). Two more
namespaces hang off it:
  router  10.99.0.1/24 on the "LAN" (also 10.99.0.10 "gitlab.test", 10.99.0.11 "lan.test" and
          10.99.0.12, a registry of network_allow), the LAN's only DNS server (10.99.0.1:53), and
          198.51.100.1/24 towards the "internet";
  inet    198.51.100.80/24 ("internet.test"), an HTTP server.
Everything dies with the test's namespaces, also when it is killed; servers die with it (PDEATHSIG).
Attacks try only their first step (connect, bind, one ARP request) and fail the test if it works.

Usage (as root, from the repository root): python3 tests/network/run.py --build build
Prints TAP ("ok N - name"), and "N passed, N failed" last; exits non-zero when a test failed.
"""

from __future__ import annotations

import argparse
import ctypes
import faulthandler
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "tests/lib"))

import netstate  # noqa: E402
import tap  # noqa: E402
from private_run import reexec_in_private_run  # noqa: E402
from tap import Fail, require  # noqa: E402

IMAGE = "bookworm"
LAN = {"host": "10.99.0.2", "router": "10.99.0.1", "gitlab": "10.99.0.10", "lanhost": "10.99.0.11",
       "registry": "10.99.0.12"}
INET = "198.51.100.80"
HOSTS = {"internet.test": INET, "gitlab.test": LAN["gitlab"], "lan.test": LAN["lanhost"]}
BUILD_FAILURE, SYSTEM_FAILURE = 1, 2
libc = ctypes.CDLL(None, use_errno=True)


def sh(*argv, ns=None, check_rc=True, **kw):
    if ns:
        argv = ("ip", "netns", "exec", ns) + argv
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check_rc and r.returncode != 0:
        raise Fail(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()[:300]}")
    return r


def die_with_parent():
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# --- the world ---------------------------------------------------------------------------------

DNS_SERVER = r"""
import socket, struct, sys, json
hosts = json.loads(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 17:
        continue
    i, labels = 12, []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace")); i += 1 + q[i]
    qtype = q[i + 1:i + 3]
    name, question = ".".join(labels).lower(), q[12:i + 5]
    addr = hosts.get(name)
    ok = addr is not None and qtype == b"\x00\x01"
    flags = 0x8180 if addr is not None else 0x8183
    head = q[:2] + struct.pack(">HHHHH", flags, 1, 1 if ok else 0, 0, 0)
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(addr) if ok else b""
    s.sendto(head + question + answer, peer)
"""

HTTP_SERVER = r"""
import http.server, sys, functools
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer.allow_reuse_address = True
srv = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), functools.partial(H, directory=sys.argv[3]))
srv.serve_forever()
"""


class World:
    def __init__(self, tmp):
        self.tmp = tmp
        self.servers = []

    def serve(self, ns, code, *args):
        argv = [sys.executable, "-c", code] + [str(a) for a in args]
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             preexec_fn=die_with_parent)
        self.servers.append(p)
        return p

    def www(self, name, text):
        d = self.tmp / "www" / name
        d.mkdir(parents=True)
        (d / "index.html").write_text(text)
        return d

    def build(self):
        os.makedirs("/run/netns", exist_ok=True)
        sh("mount", "-t", "tmpfs", "tmpfs", "/run/netns")
        if os.path.isdir("/run/systemd/resolve"):
            sh("mount", "-t", "tmpfs", "tmpfs", "/run/systemd/resolve")
        resolv = self.tmp / "resolv.conf"
        resolv.write_text(f"nameserver {LAN['router']}\n")
        sh("mount", "--bind", str(resolv), "/etc/resolv.conf")
        sh("ip", "link", "set", "lo", "up")
        for ns in ("router", "inet"):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "add", "up0", "type", "veth", "peer", "name", "lan0", "netns", "router")
        sh("ip", "addr", "add", f"{LAN['host']}/24", "dev", "up0")
        sh("ip", "link", "set", "up0", "up")
        for a in ("router", "gitlab", "lanhost", "registry"):
            sh("ip", "addr", "add", f"{LAN[a]}/24", "dev", "lan0", ns="router")
        sh("ip", "link", "set", "lan0", "up", ns="router")
        sh("ip", "route", "add", "default", "via", LAN["router"])
        sh("ip", "link", "add", "wan0", "netns", "router", "type", "veth", "peer", "name", "eth0", "netns", "inet")
        sh("ip", "addr", "add", "198.51.100.1/24", "dev", "wan0", ns="router")
        sh("ip", "link", "set", "wan0", "up", ns="router")
        sh("ip", "addr", "add", f"{INET}/24", "dev", "eth0", ns="inet")
        sh("ip", "link", "set", "eth0", "up", ns="inet")
        sh("ip", "route", "add", "default", "via", "198.51.100.1", ns="inet")
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns="router")
        # Services: DNS and the GitLab server on the LAN, a LAN host, a registry, a web server on the internet.
        self.serve("router", DNS_SERVER, LAN["router"], json.dumps(HOSTS))
        self.serve("inet", HTTP_SERVER, INET, 80, self.www("inet", "internet-page\n"))
        self.serve("router", HTTP_SERVER, LAN["lanhost"], 80, self.www("lan", "lan-secret\n"))
        self.serve("router", HTTP_SERVER, LAN["registry"], 8080, self.www("registry", "registry-page\n"))
        self.serve("router", HTTP_SERVER, LAN["registry"], 8081, self.www("registry2", "registry-other-port\n"))
        self.git_repo()
        self.serve("router", HTTP_SERVER, LAN["gitlab"], 80, self.tmp / "gitlab")
        # The host's own services: one on loopback, one on every address.
        self.serve(None, HTTP_SERVER, "127.0.0.1", 8000, self.www("host-lo", "host-loopback-secret\n"))
        self.serve(None, HTTP_SERVER, "0.0.0.0", 8001, self.www("host-any", "host-service-secret\n"))
        deadline = time.monotonic() + 10
        for ns, addr, port in (("inet", INET, 80), ("router", LAN["gitlab"], 80), (None, "127.0.0.1", 8000),
                               (None, LAN["host"], 8001), ("router", LAN["registry"], 8081)):
            while sh("python3", "-c", f"import socket; socket.create_connection(('{addr}', {port}), 1)", ns=ns,
                     check_rc=False).returncode != 0:
                require(time.monotonic() < deadline, f"the test's server {addr}:{port} did not start")
                time.sleep(0.1)
        for p in self.servers:
            if p.poll() is not None:
                raise Fail(f"a server of the test died: {p.stderr.read()[:300]}")

    def git_repo(self):
        src = self.tmp / "src"
        bare = self.tmp / "gitlab" / "group" / "project.git"
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                   GIT_COMMITTER_EMAIL="t@t", HOME=str(self.tmp))
        src.mkdir()
        (src / "README").write_text("project-from-gitlab\n")
        for argv in (["git", "init", "-q", "-b", "main", str(src)], ["git", "-C", str(src), "add", "README"],
                     ["git", "-C", str(src), "commit", "-qm", "first"],
                     ["git", "clone", "-q", "--bare", str(src), str(bare)],
                     ["git", "-C", str(bare), "update-server-info"]):
            r = subprocess.run(argv, capture_output=True, text=True, env=env)
            require(r.returncode == 0, f"{' '.join(argv)}: {r.stderr.strip()}")

    def stop(self):
        for p in self.servers:
            p.kill()
            p.wait()


# --- jobs ----------------------------------------------------------------------------------------

class Runner:
    def __init__(self, build, tmp):
        self.binary = str(build / "nspawn-runner")
        self.state = tmp / "state"
        self.conf = tmp / "conf"
        self.tmp = tmp
        self.state.mkdir()
        self.conf.mkdir()
        chroot = (REPO / "tests/cache/state" / IMAGE).resolve()
        require(chroot.is_dir(), f"{chroot} is missing: run tests/integration/run.py once (it makes the chroot)")
        for name, mode in (("bookworm", None), ("hostnet", "host"), ("nonet", "none")):
            (self.state / name).symlink_to(chroot)
            if mode:
                (self.conf / f"{name}.yaml").write_text(f"- hosts: all\n  vars:\n    nspawn_runner_network: {mode}\n")
        (self.conf / "nspawn-runner.conf").write_text(
            "gitlab_url = http://gitlab.test/\nnetwork_allow = 10.99.0.12:8080\n")
        self.next = 900000 + os.getpid() % 1000 * 10

    def env(self, job_id, image, conf=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTOM_ENV_", "NSPAWN_RUNNER_"))}
        e.update(CUSTOM_ENV_CI_JOB_ID=str(job_id), CUSTOM_ENV_CI_JOB_IMAGE=image, NSPAWN_RUNNER_CONFIG_DIR=str(conf or self.conf),
                 BUILD_FAILURE_EXIT_CODE=str(BUILD_FAILURE), SYSTEM_FAILURE_EXIT_CODE=str(SYSTEM_FAILURE))
        return e

    def call(self, job_id, image, *args, timeout=60, path=None, conf=None):
        env = self.env(job_id, image, conf)
        if path:
            env["PATH"] = f"{path}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        return subprocess.run([self.binary, "--state-dir", str(self.state)] + list(args), capture_output=True, text=True,
                              env=env, timeout=timeout, stdin=subprocess.DEVNULL)


class Job:
    def __init__(self, runner, image="bookworm", conf=None):
        self.runner, self.image, self.conf = runner, image, conf
        runner.next += 1
        self.id = runner.next

    def __enter__(self):
        r = self.runner.call(self.id, self.image, "prepare", conf=self.conf)
        if r.returncode != 0:
            self.cleanup()
            raise Fail(f"prepare of job {self.id} ({self.image}): exit {r.returncode}: {r.stderr.strip()[-400:]}")
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def cleanup(self):
        r = self.runner.call(self.id, self.image, "cleanup", conf=self.conf)
        require(r.returncode == 0, f"cleanup of job {self.id}: {r.stderr.strip()[-300:]}")

    def run(self, script, stage="build_script"):
        f = self.runner.tmp / f"script-{self.id}.sh"
        f.write_text("#!/bin/bash\n" + script)
        return self.runner.call(self.id, self.image, "run", str(f), stage, timeout=120, conf=self.conf)

    def py(self, code, stage="build_script"):
        """Runs python3 code in the job; returns its stdout lines parsed as JSON when they are."""
        r = self.run(f"python3 - <<'PY'\n{PROBES}\n{code}\nPY\n", stage)
        require(r.returncode == 0, f"job {self.id}: exit {r.returncode}: {(r.stderr or r.stdout).strip()[-400:]}")
        return r.stdout


# What the jobs run: each probe prints one JSON line {"what": ..., "ok": bool, "detail": ...}.
PROBES = r"""
import json, socket, struct, time, urllib.request, subprocess
def say(what, ok, detail=""):
    print(json.dumps({"what": what, "ok": ok, "detail": str(detail)[:200]}), flush=True)
def tcp(what, addr, port, timeout=2):
    try:
        socket.create_connection((addr, port), timeout).close(); say(what, True)
    except OSError as e:
        say(what, False, e)
def http(what, url, want):
    try:
        body = urllib.request.urlopen(url, timeout=4).read().decode()
        say(what, want in body, body.strip())
    except Exception as e:
        say(what, False, e)
def resolve(what, name, want):
    try:
        a = socket.gethostbyname(name); say(what, a == want, a)
    except OSError as e:
        say(what, False, e)
def my_addr():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("198.51.100.80", 9)); return s.getsockname()[0]
    except OSError:
        return None
def gateway():
    for l in open("/proc/net/route").read().splitlines()[1:]:
        f = l.split()
        if f[1] == "00000000":
            return socket.inet_ntoa(struct.pack("<I", int(f[2], 16)))
def abstract(what, name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0" + name); say(what, True)
    except OSError as e:
        say(what, False, e)
def arp(what, target, iface="host0"):
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        s.bind((iface, 0x0806)); s.settimeout(1.5)
        mac = s.getsockname()[4]
        mine = socket.inet_aton(my_addr() or "0.0.0.0")
        pkt = b"\xff" * 6 + mac + b"\x08\x06" + struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + mac + mine + b"\0" * 6 + socket.inet_aton(target)
        s.send(pkt)
        end = time.time() + 1.5
        while time.time() < end:
            d = s.recv(100)
            if d[12:14] == b"\x08\x06" and d[20:22] == b"\x00\x02" and d[28:32] == socket.inet_aton(target):
                say(what, True, "reply from " + d[6:12].hex()); return
        say(what, False, "no reply")
    except OSError as e:
        say(what, False, e)
"""


def results(out):
    res = {}
    for line in out.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            res[d["what"]] = d
    return res


def expect(res, what, ok):
    require(what in res, f"probe {what!r} printed nothing")
    d = res[what]
    require(d["ok"] == ok, f"{what}: {'failed' if ok else 'succeeded'} ({d['detail']})")


# --- tests ---------------------------------------------------------------------------------------

DEFAULT_POOL = "0ad50000_16"  # 10.213.0.0/16 in a firewall table's name


def firewall_tables(pool=DEFAULT_POOL):
    """The firewall tables of pool (None: of every pool)."""
    return netstate.firewall_tables(pool=pool)


def network_state(firewall_ok=True, wait_links=True):
    """What isolated machines leave behind (netstate.leftovers() in this namespace: pool slots,
    namespace mounts, veths, the firewall tables unless firewall_ok), and their control directories
    and routes."""
    left = netstate.leftovers(firewall_ok=firewall_ok, wait_links=wait_links)
    machines = Path("/run/nspawn-runner/machines")
    if machines.is_dir() and any(machines.iterdir()):
        left.append(f"{machines}: {sorted(x.name for x in machines.iterdir())}")
    routes = [l for l in sh("ip", "route").stdout.splitlines() if "nr" in l]
    if routes:
        left.append(f"routes {routes}")
    return left


def nftables_sockets(pid):
    """The NETLINK_NETFILTER sockets (of this namespace) among the open files of process pid."""
    rows = [l.split() for l in Path("/proc/net/netlink").read_text().splitlines()[1:]]
    nf = {row[-1] for row in rows if row[1] == "12"}
    fds = Path(f"/proc/{pid}/fd")
    links = [os.readlink(fds / f) for f in os.listdir(fds)]
    return [l for l in links if l.startswith("socket:[") and l[8:-1] in nf]


def t_works(r):
    with Job(r) as job:
        state = (r.state / ".machines" / str(job.id) / "state").read_text()
        nspawn = re.search(r"^nspawn_pid=(\d+)", state, re.M)
        require(nspawn, f"no nspawn pid in the state of job {job.id}: {state!r}")
        require(not nftables_sockets(nspawn.group(1)),
                f"the machine's systemd-nspawn holds prepare's nftables socket: {nftables_sockets(nspawn.group(1))}")
        res = results(job.py(f"""
resolve("dns", "internet.test", "{INET}")
http("http", "http://internet.test/", "internet-page")
http("allow", "http://{LAN['registry']}:8080/", "registry-page")
"""))
        expect(res, "dns", True)
        expect(res, "http", True)
        expect(res, "allow", True)
        rg = job.run("git clone -q http://gitlab.test/group/project.git /tmp/p && cat /tmp/p/README")
        require(rg.returncode == 0 and "project-from-gitlab" in rg.stdout,
                f"git clone from the GitLab server on the LAN: exit {rg.returncode}: {(rg.stderr or rg.stdout).strip()[-300:]}")


def t_attacks(r):
    with Job(r) as job:
        res = results(job.py(f"""
tcp("host loopback", "127.0.0.1", 8000)
tcp("host address", "{LAN['host']}", 8001)
tcp("host veth end", gateway(), 8001)
tcp("lan host", "{LAN['lanhost']}", 80)
tcp("allowed host on another port", "{LAN['registry']}", 8081)
arp("arp to the lan router", "{LAN['router']}")
try:
    socket.if_nametoindex("up0"); say("uplink visible", True)
except OSError as e:
    say("uplink visible", False, e)
"""))
        for what in ("host loopback", "host address", "host veth end", "lan host", "allowed host on another port", "arp to the lan router", "uplink visible"):
            expect(res, what, False)


def job_server(abstract_name):
    """A background server in the job on port 7777 (and an abstract socket): ready when it returns."""
    code = ("import socket,time\n"
            "a=socket.socket(); a.bind((\"0.0.0.0\", 7777)); a.listen()\n"
            + (f"u=socket.socket(socket.AF_UNIX); u.bind(\"\\0{abstract_name}\"); u.listen()\n" if abstract_name else "")
            + "time.sleep(600)\n")
    return (f"nohup python3 -c '{code}' >/dev/null 2>&1 </dev/null &\n"
            "for i in $(seq 50); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 7777), 1)' "
            "2>/dev/null && exit 0; sleep 0.1; done; exit 1\n")


def t_jobs_apart(r):
    """Two jobs listen on one port; neither reaches the other's port or abstract socket; a job's bind
    does not take the port from the host."""
    with Job(r) as a, Job(r) as b:
        ra = a.run(job_server("nr-net-test"))
        require(ra.returncode == 0, f"job A's server: {ra.stderr.strip()[-300:]}")
        rb = b.run(job_server(None))
        require(rb.returncode == 0, f"job B's server on the same port: exit {rb.returncode} {rb.stderr.strip()[-300:]}")
        addr_a = results(a.py('say("addr", True, my_addr())'))["addr"]["detail"]
        res = results(a.py('abstract("own abstract socket", "nr-net-test")'))
        expect(res, "own abstract socket", True)
        res = results(b.py(f"""
tcp("own port", "127.0.0.1", 7777)
tcp("other job's address", "{addr_a}", 7777)
abstract("other job's abstract socket", "nr-net-test")
"""))
        expect(res, "own port", True)
        expect(res, "other job's address", False)
        expect(res, "other job's abstract socket", False)
        # The port the jobs hold is free on the host.
        s = socket.socket()
        try:
            s.bind(("0.0.0.0", 7777))
        except OSError as e:
            raise Fail(f"a job's bind took port 7777 from the host: {e}")
        finally:
            s.close()


def t_host_mode(r):
    with Job(r, "hostnet") as job:
        res = results(job.py(f"""
tcp("host loopback", "127.0.0.1", 8000)
resolve("dns", "internet.test", "{INET}")
"""))
        expect(res, "host loopback", True)
        expect(res, "dns", True)


def t_none_mode(r):
    with Job(r, "nonet") as job:
        res = results(job.py(f"""
tcp("internet", "{INET}", 80)
tcp("host loopback", "127.0.0.1", 8000)
resolve("dns", "internet.test", "{INET}")
say("interfaces", True, " ".join(sorted(n for _, n in socket.if_nameindex())))
"""))
        expect(res, "internet", False)
        expect(res, "host loopback", False)
        expect(res, "dns", False)
        require(res["interfaces"]["detail"] == "lo", f"interfaces in none mode: {res['interfaces']['detail']}")


def t_bad_pool(r):
    """A network_pool too small for two jobs: the second prepare fails with one line and leaves nothing."""
    conf = r.conf / "nspawn-runner.conf"
    saved = conf.read_text()
    conf.write_text(saved + "network_pool = 10.213.7.0/30\n")  # room for one machine
    try:
        with Job(r):
            j2 = Job(r)
            p = r.call(j2.id, "bookworm", "prepare")
            j2.cleanup()
            require(p.returncode == SYSTEM_FAILURE, f"prepare with the pool full: exit {p.returncode}")
            require("network slots" in p.stderr, f"prepare with the pool full said: {p.stderr.strip()[-300:]}")
    finally:
        conf.write_text(saved)


def t_slot_link_left(r):
    """A slot whose link name (nr0) is held by another link is not used: with no other slot free,
    prepare waits for it a while, then fails with one line naming it, and leaves nothing."""
    conf = r.conf / "nspawn-runner.conf"
    saved = conf.read_text()
    require(not network_state(), f"left before the test: {network_state()}")  # an earlier job's nr0 is gone
    conf.write_text(saved + "network_pool = 10.213.7.0/30\n")  # one slot: 0, its veth nr0
    try:
        sh("ip", "link", "add", "nr0", "type", "veth", "peer", "name", "taken0")
        j = Job(r)
        p = r.call(j.id, "bookworm", "prepare")
        lines = p.stderr.strip().splitlines()
        require(p.returncode == SYSTEM_FAILURE, f"prepare with nr0 taken: exit {p.returncode}: {p.stderr.strip()[-300:]}")
        require(len(lines) == 1 and "nr0" in lines[0] and "free" in lines[0],
                f"prepare with nr0 taken said: {p.stderr.strip()[-300:]}")
        require(not (r.state / ".machines" / str(j.id)).exists(), "the machine's directory is left")
        require(sh("ip", "-o", "link", "show", "nr0").stdout, "the link nr0 of somebody else's was removed")
        require(network_state(wait_links=False) == ["veths ['nr0']"],
                f"left after the failed prepare: {network_state(wait_links=False)}")
    finally:
        conf.write_text(saved)
        sh("ip", "link", "del", "nr0", check_rc=False)


def t_half_way(r):
    """prepare that fails after the network was made (systemd-nspawn fails at once): one line, and
    the slot, the namespace and the veth are gone."""
    fake = r.tmp / "fake-nspawn"
    fake.mkdir(exist_ok=True)
    (fake / "systemd-nspawn").write_text("#!/bin/sh\necho 'fake systemd-nspawn: refusing' >&2\nexit 1\n")
    (fake / "systemd-nspawn").chmod(0o755)
    j = Job(r)
    p = r.call(j.id, "bookworm", "prepare", path=str(fake))
    require(p.returncode == SYSTEM_FAILURE, f"prepare with a failing systemd-nspawn: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    require(p.stderr.strip(), "prepare with a failing systemd-nspawn said nothing")
    require(not (r.state / ".machines" / str(j.id)).exists(), "the machine's directory is left")
    require(not network_state(), f"left after the failed prepare: {network_state()}")


def t_firewall(r):
    """One firewall table for all isolated machines: kept by gc while a machine runs, replaced when
    the configuration changes, loaded again after `nft flush ruleset`, removed by gc once no machine
    is left — and no cleanup removes it (the next job would only load it again)."""
    conf = r.conf / "nspawn-runner.conf"
    saved = conf.read_text()
    try:
        with Job(r):
            first = firewall_tables()
            require(len(first) == 1, f"one firewall table while a job runs: {first}")
            g = r.call(0, "bookworm", "gc")
            require(g.returncode == 0 and firewall_tables() == first, f"gc with a job running: {firewall_tables()} {g.stderr[-200:]}")
            conf.write_text(saved + "network_allow = 10.99.0.12:8081\n")
            with Job(r) as b:
                second = firewall_tables()
                require(len(second) == 1 and second != first, f"after a change of network_allow: {first} -> {second}")
                res = results(b.py(f"""
http("registry on the port allowed now", "http://{LAN['registry']}:8081/", "registry-other-port")
"""))
                expect(res, "registry on the port allowed now", True)
            sh("nft", "flush", "ruleset")
            with Job(r) as c:
                require(firewall_tables() == second, f"after nft flush ruleset, the next prepare: {firewall_tables()}")
                res = results(c.py(f"""
tcp("host loopback", "127.0.0.1", 8000)
tcp("lan host", "{LAN['host']}", 8001)
"""))
                expect(res, "host loopback", False)
                expect(res, "lan host", False)
            require(firewall_tables() == second, f"a cleanup removed the firewall: {firewall_tables()}")
    finally:
        conf.write_text(saved)
    g = r.call(0, "bookworm", "gc")
    require(g.returncode == 0, f"gc: {g.stderr.strip()[-300:]}")
    require(not firewall_tables(None), f"gc with no machine left kept the firewall: {firewall_tables(None)}")


def t_two_pools(r):
    """Two configurations with pools of their own, jobs of both at once: a table each; each job has its
    own configuration's network_allow and not the other's, both reach the internet; one's cleanup and
    gc leave the other's table alone."""
    other = r.tmp / "conf-other-pool"
    other.mkdir(exist_ok=True)
    (other / "nspawn-runner.conf").write_text("gitlab_url = http://gitlab.test/\nnetwork_pool = 10.214.0.0/16\n")
    probe = f"""
http("allow", "http://{LAN['registry']}:8080/", "registry-page")
http("internet", "http://{INET}/", "internet-page")
"""
    with Job(r) as a:
        with Job(r, conf=other) as b:
            tables = (firewall_tables(), firewall_tables("0ad60000_16"))
            require(all(len(t) == 1 for t in tables), f"two pools, a table each: {tables}")
            ra, rb = results(a.py(probe)), results(b.py(probe))
            expect(ra, "allow", True)
            expect(ra, "internet", True)
            expect(rb, "allow", False)
            expect(rb, "internet", True)
        g = r.call(0, "bookworm", "gc")
        require(g.returncode == 0 and firewall_tables("0ad60000_16") == tables[1], f"gc with a job running: {firewall_tables(None)}")
        expect(results(a.py(probe)), "allow", True)


def t_killed(r):
    """After kill -9 of machines' processes, cleanup removes the network of one whose directory is
    there, gc that of one whose directory is gone (a crash half-way through cleanup)."""
    jobs = [Job(r), Job(r)]
    for j in jobs:
        j.__enter__()
    for j in jobs:
        state = (r.state / ".machines" / str(j.id) / "state").read_text()
        pids = re.findall(r"^(?:nspawn|init)_pid=(\d+)", state, re.M)
        require(len(pids) == 2, f"no nspawn and init pids in the state of job {j.id}: {state!r}")
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
    time.sleep(0.5)
    shutil.rmtree(r.state / ".machines" / str(jobs[1].id))
    require(network_state(wait_links=False), "nothing to collect after the kill: the test cannot tell")
    g = r.call(0, "bookworm", "gc")
    require(g.returncode == 0, f"gc: {g.stderr.strip()[-300:]}")
    left = network_state(wait_links=False)
    require(left and all(str(jobs[1].id) not in x for x in left) and f"/.machines/{jobs[0].id}" in
            os.readlink(next(Path("/run/nspawn-runner/network/slots").iterdir())),
            f"gc should have taken only the network of the vanished machine: {left}")
    jobs[0].cleanup()
    for _ in range(50):
        if not network_state():
            break
        time.sleep(0.1)
    require(not network_state(), f"left after gc: {network_state()}")


def t_clean(r):
    g = r.call(0, "bookworm", "gc")
    require(g.returncode == 0, f"gc: {g.stderr.strip()[-300:]}")
    require(not network_state(firewall_ok=False), f"left behind: {network_state(firewall_ok=False)}")


TESTS = [
    ("isolated: DNS, HTTP to the internet, git from the GitLab server on the LAN, network_allow", t_works),
    ("isolated: the host's loopback and addresses, the LAN, other ports, ARP and the uplink are out of reach", t_attacks),
    ("isolated: two jobs on one port, apart from each other and from the host", t_jobs_apart),
    ("host mode (playbook): the host's network", t_host_mode),
    ("none mode (playbook): loopback only", t_none_mode),
    ("bad input: a full network_pool fails prepare with one line", t_bad_pool),
    ("a slot whose link name another link holds is not used; none free: one line, nothing left", t_slot_link_left),
    ("half-way: a prepare that fails after the network was made leaves nothing", t_half_way),
    ("the firewall: one table, kept while jobs run, replaced on a change, back after a flush, gone by gc", t_firewall),
    ("two configurations with their own pools: a table each, each its own network_allow", t_two_pools),
    ("kill -9: gc removes the network of killed and vanished machines", t_killed),
    ("nothing left after gc: namespaces, veths, the nft table, routes", t_clean),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    tap.add_arguments(ap)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("tests/network/run.py must run as root.", file=sys.stderr)
        return 2
    reexec_in_private_run(net=True)
    if os.environ.get("NSPAWN_RUNNER_NET_TEST_STACKS"):
        faulthandler.dump_traceback_later(int(os.environ["NSPAWN_RUNNER_NET_TEST_STACKS"]), exit=True)
    for tool in ("ip", "nft", "git"):
        if not shutil.which(tool):
            print(f"Bail out! {tool} is missing (make setup installs it).")
            return 2
    build = (REPO / args.build).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="nspawn-runner-net.", dir="/var/tmp"))
    world = World(tmp)

    def teardown():
        world.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        world.build()
        r = Runner(build, tmp)
    except Fail as e:
        print(f"Bail out! the test's world: {e}", flush=True)
        teardown()
        return 1
    return tap.run([(name, lambda fn=fn: fn(r)) for name, fn in TESTS], args.pattern, teardown=teardown)

if __name__ == "__main__":
    sys.exit(main())
