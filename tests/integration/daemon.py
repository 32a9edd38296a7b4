#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end test of nspawn-runnerd as a process: notify protocol, sysfs LED, control socket,
refresh, metrics, job counting, bad configuration, SIGTERM. Runs without systemd as PID 1 and without
LED or GPIO hardware: the LED is a temporary directory laid out like /sys/class/leds/NAME.

    python3 tests/integration/daemon.py --build build
"""
import argparse
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402

T = tap.Tap()
point = T.point  # one TAP point of a scenario, counted as it is reached


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def read_crlf(path):
    """A file as it is, CR LF line ends kept."""
    try:
        with open(path, newline="") as f:
            return f.read()
    except OSError:
        return None


class Notify:
    """An AF_UNIX datagram socket in the role of systemd's notify socket."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.extend(data.decode(errors="replace").split("\n"))

    def seen(self, pred):
        with self.lock:
            return [m for m in self.messages if pred(m)]

    def statuses(self):
        return [m[len("STATUS="):] for m in self.seen(lambda m: m.startswith("STATUS="))]

    def last_status(self):
        s = self.statuses()
        return s[-1] if s else None

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def led_samples(led, seconds, step=0.01):
    """Samples the LED's brightness for a while: (fraction on, number of changes)."""
    on = total = changes = 0
    last = None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = (read(os.path.join(led, "brightness")) or "").strip()
        if v:
            total += 1
            lit = v != "0"
            on += lit
            if last is not None and lit != last:
                changes += 1
            last = lit
        time.sleep(step)
    return (on / total if total else 0.0), changes


def children(pid):
    """The pids of a process's children."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        out += [int(c) for c in (read(f"/proc/{pid}/task/{tid}/children") or "").split()]
    return out


def make_image(state, name, dirs, files, size):
    """A chroot-like image state/NAME -> .images/NAME/1 with dirs*files files of size bytes."""
    gen = os.path.join(state, ".images", name, "1")
    for i in range(dirs):
        d = os.path.join(gen, f"d{i}")
        os.makedirs(d)
        for j in range(files):
            with open(os.path.join(d, f"f{j}"), "wb") as f:
                f.write(b"x" * size)
    os.symlink(f".images/{name}/1", os.path.join(state, name))


def image_bytes(metrics_text, name):
    for line in (metrics_text or "").splitlines():
        if line.startswith(f'nspawn_runner_image_disk_bytes{{image="{name}"}} '):
            return int(line.split()[1])
    return None


class Fixture:
    """What the scenarios share: a temporary directory with an LED laid out like sysfs, a state dir, a
    configuration, the notify socket and the daemon's command line and log."""

    def __init__(self, build):
        self.daemon_bin = os.path.join(build, "nspawn-runnerd")
        self.cli = os.path.join(build, "nspawn-runner")
        self.proc = self.notify = None
        self.tmp = tmp = tempfile.mkdtemp(prefix="nspawn-runnerd-test-")
        os.chmod(tmp, 0o755)  # the non-root peer test connects to the socket in here
        self.led = led = os.path.join(tmp, "led")
        self.state = os.path.join(tmp, "state")
        os.makedirs(led)
        os.makedirs(self.state)
        with open(os.path.join(led, "trigger"), "w") as f:
            f.write("none [heartbeat] mmc0\n")
        with open(os.path.join(led, "brightness"), "w") as f:
            f.write("0\n")
        with open(os.path.join(led, "max_brightness"), "w") as f:
            f.write("255\n")
        self.metrics = os.path.join(tmp, "metrics.prom")
        self.sock = os.path.join(tmp, "daemon.sock")
        self.conf = os.path.join(tmp, "nspawn-runner.conf")
        with open(self.conf, "w") as f:
            f.write(f"# test\nled=sysfs:{led}\nbutton=none\nmetrics_file={self.metrics}\nmaintenance_time=off\n"
                    "disk_attention_percent=100\n")
        self.notify = Notify(os.path.join(tmp, "notify"))
        self.env = dict(os.environ, NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC="1000000")
        self.env.pop("WATCHDOG_PID", None)
        self.env.pop("JOURNAL_STREAM", None)
        self.errlog = open(os.path.join(tmp, "daemon.err"), "w+")
        self.problems = os.path.join(tmp, "setup-problems")
        self.status_file = os.path.join(tmp, "boot", "nspawn-runner-status.txt")
        os.makedirs(os.path.dirname(self.status_file))
        self.argv = [self.daemon_bin, "-v", "--config", self.conf, "--state-dir", self.state, "--control-socket",
                     self.sock, "--problems-file", self.problems, "--status-file", self.status_file]

    def log(self):
        self.errlog.flush()
        return read(self.errlog.name) or ""

    def cli_run(self, *a, user=None):
        cmd = [self.cli, *a, "--control-socket", self.sock]
        if user:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    def teardown(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        if self.notify:
            self.notify.close()
            self.notify = None
        shutil.rmtree(self.tmp, ignore_errors=True)


def the_daemons_life(d):
    """One daemon from start to SIGTERM: notify protocol, LED, status, metrics, refresh, jobs, the image
    scan in a child, the status file, problems, peers of the control socket."""
    tmp, led, state, metrics, sock, notify = d.tmp, d.led, d.state, d.metrics, d.sock, d.notify
    env, errlog, problems, status_file, argv, cli = d.env, d.errlog, d.problems, d.status_file, d.argv, d.cli
    log, cli_run = d.log, d.cli_run
    # A drain flag left from before: the daemon removes it at start.
    open(os.path.join(state, ".draining"), "w").close()
    proc = d.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errlog)

    point(wait_for(lambda: notify.seen(lambda m: m == "READY=1"), 10), "READY=1 arrives")
    point(notify.last_status() == "idle, 0 images", f"STATUS= says idle, 0 images ({notify.last_status()!r})")
    point(wait_for(lambda: notify.seen(lambda m: m == "WATCHDOG=1"), 3), "WATCHDOG=1 pings with WATCHDOG_USEC=1 s")
    point(not os.path.exists(os.path.join(state, ".draining")), "a leftover .draining flag is removed at start")
    point((read(os.path.join(led, "trigger")) or "").strip() == "none", "the LED is taken from its trigger")
    frac, changes = led_samples(led, 3.5)
    point(changes >= 1 and frac < 0.3, f"IDLE: the LED blips (on {frac:.0%} of the time, {changes} changes)")
    point("No button configured" in log(), "no button: said once")

    r = cli_run("status")
    point(r.returncode == 0 and "status: idle, 0 images" in r.stdout and "jobs running: 0" in r.stdout
          and "images: 0" in r.stdout, f"nspawn-runner status ({r.stdout.strip()!r} {r.stderr.strip()!r})")

    m = wait_for(lambda: read(metrics), 3) or ""
    point("# TYPE nspawn_runner_jobs_running gauge" in m and "\nnspawn_runner_jobs_running 0\n" in m
          and "nspawn_runner_jobs_total 0" in m and "nspawn_runner_jobs_failed_total 0" in m,
          "metrics file written with HELP/TYPE lines")

    t0 = time.time()
    r = cli_run("refresh")
    point(r.returncode == 0 and "refresh: started" in r.stdout, f"nspawn-runner refresh starts one ({r.stdout.strip()!r})")
    ok = wait_for(lambda: "last refresh: succeeded" in cli_run("status").stdout, 15, 0.2)
    point(ok, "the refresh completes and status says it succeeded")
    point("maintenance: no images" in log(), "the refresh ran chroot-maintenance (no images)")
    point("refreshing" in notify.statuses(), "STATUS= said refreshing while it ran")
    m = wait_for(lambda: "nspawn_runner_last_refresh_success" in (read(metrics) or "") and read(metrics), 5) or ""
    ts = [line.split()[1] for line in m.splitlines() if line.startswith("nspawn_runner_last_refresh_timestamp_seconds ")]
    point("\nnspawn_runner_last_refresh_success 1\n" in m, "metrics: last refresh succeeded")
    point(ts and t0 - 2 <= int(ts[0]) <= time.time() + 2, f"metrics: last refresh timestamp is now ({ts})")

    os.makedirs(os.path.join(state, ".machines", "123"), exist_ok=True)
    point(wait_for(lambda: notify.last_status() == "1 job running, 0 images", 5),
          f"a job dir makes STATUS= say 1 job running ({notify.last_status()!r})")
    time.sleep(0.2)
    frac, changes = led_samples(led, 2.5)
    point(changes >= 2 and frac > 0.6, f"BUSY: the LED is mostly on (on {frac:.0%} of the time, {changes} changes)")
    point("LED: busy" in log(), "the LED state is busy")
    r = cli_run("status")
    point("jobs running: 1" in r.stdout, "status says 1 job running")
    point(wait_for(lambda: "\nnspawn_runner_jobs_running 1\n" in (read(metrics) or ""), 5), "metrics: 1 job running")
    os.rmdir(os.path.join(state, ".machines", "123"))
    point(wait_for(lambda: notify.last_status() == "idle, 0 images", 5), "the job's end makes it idle again")

    # gc and the image scan run in a child. Here it is stuck on an image's generations lock, which
    # a job's prepare holds while it picks a generation: the daemon answers all the same, a second
    # request does not start a second scan, and a scan that dies is reported once.
    make_image(state, "big", 40, 50, 4096)
    os.makedirs(os.path.join(state, ".locks"), exist_ok=True)
    lock = open(os.path.join(state, ".locks", "big.generations"), "w")
    fcntl.flock(lock, fcntl.LOCK_SH)
    os.makedirs(os.path.join(state, ".machines", "124"))
    wait_for(lambda: "Job 124 started" in log(), 5)
    os.rmdir(os.path.join(state, ".machines", "124"))
    kids = wait_for(lambda: children(proc.pid), 5)
    point(kids and len(kids) == 1 and wait_for(lambda: "Image scan and gc started" in log(), 3),
          f"a job's end starts gc and the image scan in a child ({kids})")
    time.sleep(0.5)
    times = []
    for _ in range(5):
        t = time.monotonic()
        r = cli_run("status")
        times.append(time.monotonic() - t)
        if r.returncode != 0:
            break
    point(r.returncode == 0 and max(times) < 2 and children(proc.pid) == kids,
          f"status answers while the scan is stuck ({max(times):.3f} s at most)")
    pings = len(notify.seen(lambda m: m == "WATCHDOG=1"))
    time.sleep(1.2)
    more = len(notify.seen(lambda m: m == "WATCHDOG=1")) - pings
    point(more >= 1, f"the watchdog is still fed ({more} pings in 1.2 s)")
    os.makedirs(os.path.join(state, ".machines", "125"))
    wait_for(lambda: "Job 125 started" in log(), 5)
    os.rmdir(os.path.join(state, ".machines", "125"))
    point(wait_for(lambda: "one more follows it" in log(), 5) and children(proc.pid) == kids,
          "another job's end starts no second scan while one runs")
    os.kill(kids[0], signal.SIGKILL)
    point(wait_for(lambda: "scan and gc failed (signal 9" in log(), 5), "a scan killed by SIGKILL is reported")
    again = wait_for(lambda: [k for k in children(proc.pid) if k != kids[0]], 5)
    point(again and len(again) == 1, f"the scan asked for meanwhile runs once after it ({again})")
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    want = 40 * 50 * 4096
    got = wait_for(lambda: (image_bytes(read(metrics), "big") or 0) >= want and image_bytes(read(metrics), "big"), 10)
    point(got, f"once the lock is free the scan ends and metrics have the image's size ({got} >= {want})")
    point(log().count("scan and gc failed") == 1 and "does not parse" not in log(),
          "the killed scan was reported exactly once")
    point(wait_for(lambda: not children(proc.pid), 5), "no child is left")

    # The status report for a person with the SD card in a laptop: CRLF text, what the daemon knows.
    text = wait_for(lambda: read_crlf(status_file), 5) or ""
    point(text.startswith("nspawn-runner status, written ") and "\r\nStatus: idle, 1 image\r\n" in text
          and "Jobs: 0 running, 0 in all, 0 failed\r\n" in text and "  big: 8." in text
          and "Last refresh: succeeded at " in text and "Problems: none\r\n" in text
          and text.count("\r\n") == text.count("\n"), f"the status file ({text!r})")
    st0 = os.stat(status_file)
    for _ in range(3):
        cli_run("status")
    os.makedirs(os.path.join(state, ".machines", "126"))
    wait_for(lambda: "1 job running" in (read_crlf(status_file) or ""), 5)
    st1 = os.stat(status_file)
    point(st1.st_ino != st0.st_ino and not [f for f in os.listdir(os.path.dirname(status_file)) if ".tmp" in f],
          "a change is written through a new file (rename), no temporary file left")
    os.rmdir(os.path.join(state, ".machines", "126"))
    wait_for(lambda: "Jobs: 0 running" in (read_crlf(status_file) or ""), 5)
    time.sleep(1.5)
    st2 = os.stat(status_file)
    for _ in range(3):
        cli_run("status")
    time.sleep(1)
    point(os.stat(status_file).st_ino == st2.st_ino, "nothing changed: not written again (the time line does not count)")

    # Problems appliance-setup found: LED attention, STATUS= and the report say so; gone, gone.
    with open(problems, "w") as f:
        f.write("no data disk (data_disk = /dev/sda is not blank)\r\nrunner_token glrt-secret123 was refused\n")
    point(wait_for(lambda: (notify.last_status() or "").startswith("attention: no data disk"), 3),
          f"a problem: STATUS= says its first line at once (inotify) ({notify.last_status()!r})")
    point(wait_for(lambda: "LED: attention" in log(), 3), "a problem: the LED asks for attention")
    text = wait_for(lambda: "Problems:\r\n" in (read_crlf(status_file) or "") and read_crlf(status_file), 3) or ""
    point("  no data disk (data_disk = /dev/sda is not blank)\r\n" in text and "glrt-...\x20was refused" in text
          and "secret123" not in text, f"the report lists every problem, a token hidden ({text[-160:]!r})")
    r = cli_run("status")
    point("status: attention: no data disk" in r.stdout, "nspawn-runner status says it too")
    with open(problems, "wb") as f:
        f.write(b"binary\0junk\n")
    point(wait_for(lambda: "cannot be read" in (notify.last_status() or ""), 3),
          f"a file with a NUL byte is refused, and is a problem itself ({notify.last_status()!r})")
    with open(problems, "w") as f:
        f.write(("x" * 60 + "\n") * 100)
    text = wait_for(lambda: "(more in " in (read_crlf(status_file) or "") and read_crlf(status_file), 3) or ""
    n = text.count("  " + "x" * 60 + "\r\n")
    point(n == 4096 // 61, f"at most 4 KiB are read ({n} lines of 61 bytes, then a note)")
    open(problems, "w").close()
    point(wait_for(lambda: notify.last_status() == "idle, 1 image", 3), "an empty file: no problem")
    with open(problems, "w") as f:
        f.write("again\n")
    point(wait_for(lambda: (notify.last_status() or "").startswith("attention: again"), 3), "a problem again")
    os.unlink(problems)
    point(wait_for(lambda: notify.last_status() == "idle, 1 image" and "LED: idle" in log(), 3),
          "the file removed: no problem, the LED idle again")
    point("Problems: none\r\n" in (wait_for(lambda: "Problems: none" in (read_crlf(status_file) or "") and read_crlf(status_file), 3) or ""),
          "and the report says none")

    if shutil.which("setpriv"):
        r = cli_run("status", user="65534")
        point(r.returncode != 0 and "status:" not in r.stdout and r.stderr.strip().count("\n") == 0,
              f"a non-root peer gets no answer ({r.stderr.strip()!r})")
        point(wait_for(lambda: "refused a connection from uid 65534" in log(), 3), "the daemon logs the refused peer")

    r = subprocess.run([cli, "status", "--control-socket", os.path.join(tmp, "nothing.sock")], capture_output=True,
                       text=True, timeout=10)
    point(r.returncode != 0 and "not running" in r.stderr and r.stderr.count("\n") == 1,
          f"no daemon: one clear line ({r.stderr.strip()!r})")

    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    point(rc == 0, f"SIGTERM: exits 0 ({rc})")
    point((read(os.path.join(led, "trigger")) or "").strip() == "heartbeat", "the LED goes back to its trigger")
    point(not os.path.exists(os.path.join(tmp, "led-trigger")), "… and the saved trigger is removed")
    point(not os.path.exists(sock), "the control socket is removed")
    point(notify.seen(lambda m: m == "STOPPING=1"), "STOPPING=1 sent")
    d.proc = None


def restore_led(d):
    """SIGKILL leaves the LED at "none"; --restore-led (ExecStopPost=) hands it back."""
    tmp, led, sock, env, argv, daemon_bin = d.tmp, d.led, d.sock, d.env, d.argv, d.daemon_bin
    with open(os.path.join(led, "trigger"), "w") as f:
        f.write("none [heartbeat] mmc0\n")
    saved = os.path.join(tmp, "led-trigger")
    killed = subprocess.Popen(argv, env=dict(env, NOTIFY_SOCKET=""), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    point(wait_for(lambda: os.path.exists(sock) and os.path.exists(saved), 10),
          "the daemon saves the LED's trigger beside its control socket")
    point("trigger=heartbeat" in (read(saved) or ""), f"… which is heartbeat ({read(saved)!r})")
    killed.kill()
    killed.wait(10)
    point((read(os.path.join(led, "trigger")) or "").strip() == "none", "SIGKILL: the LED stays at trigger none")
    r = subprocess.run([daemon_bin, "--restore-led", "--control-socket", sock], capture_output=True, text=True,
                       timeout=10)
    point(r.returncode == 0 and (read(os.path.join(led, "trigger")) or "").strip() == "heartbeat"
          and not os.path.exists(saved), f"--restore-led hands it back and removes the file ({r.stderr.strip()!r})")
    r = subprocess.run([daemon_bin, "--restore-led", "--control-socket", sock], capture_output=True, text=True,
                       timeout=10)
    point(r.returncode == 0 and r.stderr == "", f"--restore-led with nothing saved: quiet success ({r.stderr!r})")
    os.unlink(sock)  # what the killed daemon left


def drain_flag(d):
    # prepare refuses new jobs while this boot drains; a flag of another boot (the power-off it
    # was for, on a disk mounted after the daemon started) means nothing.
    state, cli = d.state, d.cli
    boot_id = read("/proc/sys/kernel/random/boot_id").strip()
    with open(os.path.join(state, ".draining"), "w") as f:
        f.write(boot_id + "\n")
    r = subprocess.run([cli, "--state-dir", state, "prepare", "--id", "7", "debian"], capture_output=True, text=True,
                       timeout=30)
    point(r.returncode == 2 and "draining" in r.stderr and r.stderr.count("\n") == 1,
          f"prepare refuses while draining ({r.returncode}, {r.stderr.strip()!r})")
    with open(os.path.join(state, ".draining"), "w") as f:
        f.write("00000000-1111-2222-3333-444444444444\n")
    r = subprocess.run([cli, "--state-dir", state, "prepare", "--id", "7", "debian"], capture_output=True, text=True,
                       timeout=30)
    point("draining" not in r.stderr, f"a drain flag of another boot is stale: prepare goes on ({r.stderr.strip()!r})")
    os.unlink(os.path.join(state, ".draining"))


def refresh_cannot_start(d):
    # A refresh that cannot even start (no nspawn-runner beside the daemon) says so.
    tmp, state, conf, env, problems, daemon_bin, cli = d.tmp, d.state, d.conf, d.env, d.problems, d.daemon_bin, d.cli
    lonely = os.path.join(tmp, "lonely")
    os.makedirs(lonely)
    shutil.copy2(daemon_bin, lonely)
    sock2 = os.path.join(tmp, "lonely.sock")
    lone = subprocess.Popen([os.path.join(lonely, "nspawn-runnerd"), "--config", conf, "--state-dir", state,
                             "--control-socket", sock2, "--problems-file", problems], env=dict(env, NOTIFY_SOCKET=""),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        point(wait_for(lambda: os.path.exists(sock2), 10), "a second daemon listens")
        r = subprocess.run([cli, "refresh", "--control-socket", sock2], capture_output=True, text=True, timeout=30)
        point(r.returncode != 0 and "could not be started" in r.stderr and r.stderr.count("\n") == 1,
              f"a refresh that cannot start is reported as such ({r.returncode}, {r.stderr.strip()!r})")
    finally:
        lone.send_signal(signal.SIGTERM)
        lone.wait(10)


def poweroff(d):
    # Power-off on request (what a long press does): no new jobs, wait for the running one, then off.
    tmp, state, conf, env, problems, daemon_bin, cli = d.tmp, d.state, d.conf, d.env, d.problems, d.daemon_bin, d.cli
    sock3 = os.path.join(tmp, "drain.sock")
    os.makedirs(os.path.join(state, ".machines", "555"))
    drain = subprocess.Popen([daemon_bin, "--config", conf, "--state-dir", state, "--control-socket", sock3,
                              "--problems-file", problems],
                             env=dict(env, NOTIFY_SOCKET=""), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    try:
        point(wait_for(lambda: os.path.exists(sock3), 10), "a third daemon listens")
        r = subprocess.run([cli, "poweroff", "--control-socket", sock3], capture_output=True, text=True, timeout=30)
        point(r.returncode == 0 and "draining" in r.stdout and "1 job" in r.stdout,
              f"poweroff: draining, 1 job left ({r.returncode}, {r.stdout.strip()!r}, {r.stderr.strip()!r})")
        point((read(os.path.join(state, ".draining")) or "").strip() == read("/proc/sys/kernel/random/boot_id").strip(),
              "poweroff: new jobs are refused (.draining holds this boot's id)")
        time.sleep(1)
        point(drain.poll() is None, "poweroff: waits while a job runs")
        os.rmdir(os.path.join(state, ".machines", "555"))
        try:
            rc = drain.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        err = drain.stderr.read() if rc is not None else ""
        point(rc == 0 and "would power off now" in err,
              f"poweroff: once the job ended, powers off (here: says so and exits) ({rc}, {err.strip()[-200:]!r})")
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait(10)
        if os.path.exists(os.path.join(state, ".draining")):
            os.unlink(os.path.join(state, ".draining"))


def late_led(d):
    # An LED that appears after the daemon started (leds-gpio loads late at boot): taken then.
    # On a real system udev's "add" brings it at once; here (no udev events for a directory) the
    # 15 s tick finds it.
    tmp, state, env, daemon_bin = d.tmp, d.state, d.env, d.daemon_bin
    late = os.path.join(tmp, "late-led")
    late_conf = os.path.join(tmp, "late.conf")
    with open(late_conf, "w") as f:
        f.write(f"led=sysfs:{late}\nbutton=none\nmetrics_file=off\nmaintenance_time=off\ndisk_attention_percent=100\n")
    sock4 = os.path.join(tmp, "late.sock")
    late_err = open(os.path.join(tmp, "late.err"), "w+")
    latep = subprocess.Popen([daemon_bin, "--config", late_conf, "--state-dir", state, "--control-socket", sock4,
                              "--problems-file", ""], env=dict(env, NOTIFY_SOCKET=""), stdout=subprocess.DEVNULL,
                             stderr=late_err)
    try:
        point(wait_for(lambda: os.path.exists(sock4), 10), "a daemon without its LED starts all the same")
        late_err.flush()
        point("Taking the status LED when it appears" in (read(late_err.name) or ""),
              f"… and says it takes the LED later ({(read(late_err.name) or '').strip()[-300:]!r})")
        os.makedirs(late)
        for name, value in (("trigger", "none [heartbeat] mmc0\n"), ("brightness", "0\n"), ("max_brightness", "1\n")):
            with open(os.path.join(late, name), "w") as f:
                f.write(value)
        point(wait_for(lambda: (read(os.path.join(late, "trigger")) or "").strip() == "none", 20),
              "the LED, once there, is taken from its trigger (within a tick)")
        late_err.flush()
        point("The status LED appeared" in (read(late_err.name) or ""), "… and the daemon says so")
        _, changes = led_samples(late, 3.5)
        point(changes >= 1, f"… and blinks its state ({changes} changes in 3.5 s)")
    finally:
        latep.send_signal(signal.SIGTERM)
        latep.wait(10)
    point((read(os.path.join(late, "trigger")) or "").strip() == "heartbeat", "the late LED is handed back at the end")


def bad_config(d):
    # A bad configuration: one line naming file and line, and no start.
    tmp, state, sock, env, daemon_bin = d.tmp, d.state, d.sock, d.env, d.daemon_bin
    bad = os.path.join(tmp, "bad.conf")
    with open(bad, "w") as f:
        f.write("button=none\nled=blinky\n")
    r = subprocess.run([daemon_bin, "--config", bad, "--state-dir", state, "--control-socket", sock],
                       capture_output=True, text=True, timeout=10, env=env)
    point(r.returncode != 0 and f"{bad}:2:" in r.stderr and r.stderr.count("\n") == 1,
          f"a bad config is refused with file:line ({r.returncode}, {r.stderr.strip()!r})")
    point(not os.path.exists(sock), "… and nothing listens")


SCENARIOS = [
    ("the daemon's life: notify, LED, status, metrics, refresh, jobs, image scan, status file, problems, peers, "
     "SIGTERM", the_daemons_life),
    ("SIGKILL leaves the LED to --restore-led", restore_led),
    ("prepare and the drain flag of this boot or another", drain_flag),
    ("a refresh that cannot start", refresh_cannot_start),
    ("power-off on request waits for the running job", poweroff),
    ("an LED that appears after the start", late_led),
    ("a bad configuration", bad_config),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    tap.add_arguments(ap)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("daemon.py: must run as root", file=sys.stderr)
        return 2
    d = Fixture(os.path.abspath(args.build))
    return tap.run([(name, lambda fn=fn: fn(d)) for name, fn in SCENARIOS], args.pattern, teardown=d.teardown,
                   scenarios=True, tap=T)


if __name__ == "__main__":
    sys.exit(main())
