# SPDX-License-Identifier: GPL-2.0-or-later
"""What the tests run on, made on first use and once per run (Fixtures, a part of the Suite): the
cached chroot, the backends' state dirs, the nested-sandbox image, the sanitized build."""

from __future__ import annotations

import collections
import fcntl
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from tap import Fail

from jobs import Executor, IMAGE, IMAGE_I386, NESTED_IMAGE, NESTED_PACKAGES, REPO, SANITIZE, short


class Fixtures:
    """The run's fixtures, each made on first use (a part of the Suite)."""

    # -- fixtures, made on first use --
    def chroot(self):
        img = self.cache_state / IMAGE
        if "chroot" in self.backend_errors:
            raise Fail(self.backend_errors["chroot"])
        try:
            if not img.is_dir():
                self.create_chroot()
            self.ensure_python(img)
        except Fail as e:
            self.backend_errors["chroot"] = f"cached chroot: {e}"
            raise Fail(self.backend_errors["chroot"])
        return img

    def ensure_python(self, img):
        """The lifecycle tests run Ansible in copies of the chroot: a cache made before it included
        python3 gets it, once, under the image's lock (the product's protocol: flock, then check that
        the file locked is still the one at the path, and remove it when done)."""
        if os.path.lexists(img / "usr/bin/python3"):
            return
        locks = self.cache_state / ".locks"
        locks.mkdir(mode=0o700, exist_ok=True)
        path = locks / IMAGE
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            if os.path.lexists(img / "usr/bin/python3"):
                return
            self.say(f"# installing python3 into the cached chroot {img} (once) …")
            t0 = time.monotonic()
            r = self.apt_install(img, ["python3"])
            if r.returncode != 0 or not os.path.lexists(img / "usr/bin/python3"):
                raise Fail(f"installing python3 into {img}: exit {r.returncode}: {short(r.stderr or r.stdout)}")
            self.say(f"# python3 installed in {time.monotonic() - t0:.0f} s")
        finally:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            os.close(fd)

    def i386_chroot(self):
        """The cached i386 chroot: <cache>/state/bookworm-i386, made once with the product's
        chroot-create --arch i386 (about 45 s), like the shared chroot."""
        img = self.cache_state / IMAGE_I386
        if "i386" in self.backend_errors:
            raise Fail(self.backend_errors["i386"])
        if not img.is_dir():
            try:
                self.create_chroot(IMAGE_I386, ["--arch", "i386", "--suite", IMAGE])
            except Fail as e:
                self.backend_errors["i386"] = f"cached i386 chroot: {e}"
                raise Fail(self.backend_errors["i386"])
        return img

    def create_chroot(self, name=IMAGE, extra=None):
        img = self.cache_state / name
        lock = self.cache_state / ".locks" / name
        if lock.exists():
            # Another chroot-create (an earlier or parallel run) may hold the image's lock: wait for it.
            with open(lock) as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    self.say(f"# waiting for another chroot-create of {img} to finish …")
                    fcntl.flock(f, fcntl.LOCK_EX)
                fcntl.flock(f, fcntl.LOCK_UN)
            if img.is_dir():
                return
        self.cache_state.mkdir(parents=True, exist_ok=True)
        if extra is None:
            extra = ["--suite", IMAGE, "--include", "busybox,python3"]
        argv = [self.ex.binary, "--state-dir", str(self.cache_state), "chroot-create", name] + list(extra)
        self.say(f"# creating the cached chroot {name} (once, in {self.cache_state.parent}): {' '.join(argv)}")
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=self.clean_env(), process_group=0)
        last = [""]
        tail = collections.deque(maxlen=20)

        def reader():
            for raw in p.stdout:
                line = raw.decode(errors="replace").rstrip()
                last[0] = line
                tail.append(line)
                if line.startswith(("nspawn-runner", "E:", "W:")):
                    self.say(f"# {line}")

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            while p.poll() is None:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.say(f"# chroot-create: {time.monotonic() - t0:.0f} s … {last[0][:100]}")
                if time.monotonic() - t0 > 900:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait()
                    raise Fail("chroot-create took more than 15 minutes")
        except BaseException:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait()
            raise
        t.join(5)
        if p.returncode != 0 or not img.is_dir():
            raise Fail(f"chroot-create failed with exit {p.returncode}: {short(chr(10).join(tail))}")
        self.say(f"# chroot created in {time.monotonic() - t0:.0f} s")

    def state_dir(self, backend):
        """The state dir of a backend: 'overlay' (host file system, the image a symlink to the cached
        chroot) or 'btrfs' (a loop-mounted btrfs, the image a subvolume copy of the chroot)."""
        if backend in self.backends:
            return self.backends[backend]
        if backend in self.backend_errors:
            raise Fail(self.backend_errors[backend])
        try:
            chroot = self.chroot()
            if backend == "overlay":
                sd = self.tmproot / "overlay-state"
                sd.mkdir()
                (sd / IMAGE).symlink_to(chroot)
                (sd / "notadir").write_text("an image must be a directory\n")
                (sd / "dangling").symlink_to(sd / "no-such-dir")
            else:
                sd = self.setup_btrfs(chroot)
                (sd / "plain").symlink_to(chroot)  # not a subvolume
        except Fail as e:
            self.backend_errors[backend] = f"{backend} state dir: {e}"
            raise Fail(self.backend_errors[backend])
        except (OSError, subprocess.SubprocessError) as e:
            self.backend_errors[backend] = f"{backend} state dir: {e}"
            raise Fail(self.backend_errors[backend])
        self.backends[backend] = sd
        return sd

    def nested_image(self, backend):
        """NESTED_IMAGE in the backend's state dir: the shared chroot plus NESTED_PACKAGES, made once per
        run (apt in a copy of the chroot in the run's temp dir, the host's network for its mirror);
        overlayfs (and tmpfs) take that copy through a symlink, btrfs a subvolume copy of it. Not in
        the shared chroot: only these tests need them."""
        key = f"nested image on {backend}"
        if key in self.backend_errors:
            raise Fail(self.backend_errors[key])
        sd = Path(self.state_dir(backend))
        if os.path.lexists(sd / NESTED_IMAGE):
            return NESTED_IMAGE
        t0 = time.monotonic()
        try:
            root = self.tmproot / "nested-image"
            if not root.is_dir():
                self.nested_image_make(root)
            if backend == "btrfs":
                self.sh(["btrfs", "-q", "subvolume", "create", str(sd / NESTED_IMAGE)])
                self.sh(["cp", "-a", "--reflink=auto", f"{root}/.", str(sd / NESTED_IMAGE)], timeout=600)
            else:
                (sd / NESTED_IMAGE).symlink_to(root)
        except (Fail, OSError, subprocess.SubprocessError) as e:
            self.backend_errors[key] = f"{key}: {e}"
            raise Fail(self.backend_errors[key])
        self.say(f"# {NESTED_IMAGE} ready on {backend} in {time.monotonic() - t0:.0f} s")
        return NESTED_IMAGE

    def nested_image_make(self, root):
        made = root.with_name(root.name + ".new")
        shutil.rmtree(made, ignore_errors=True)
        made.mkdir()
        self.sh(["cp", "-a", "--reflink=auto", f"{self.chroot()}/.", str(made)], timeout=600)
        r = self.apt_install(made, NESTED_PACKAGES, "--no-install-recommends")
        if r.returncode != 0:
            raise Fail(f"apt-get install {' '.join(NESTED_PACKAGES)}: exit {r.returncode}: {short(r.stderr or r.stdout)}")
        made.rename(root)

    def apt_install(self, root, packages, *options):
        """apt-get install in the chroot root, through systemd-nspawn on the host's network (the chroot's
        sources name the mirror); apt-get update only when the chroot's lists are too old."""
        apt = " ".join(["apt-get -q -y", *options, "install", *packages])
        cmd = f"export DEBIAN_FRONTEND=noninteractive; {{ {apt} || {{ apt-get -q update && {apt}; }}; }} && apt-get clean"
        return subprocess.run(["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "-D", str(root),
                               "--link-journal=no", "--console=pipe", "--", "/bin/sh", "-c", cmd],
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=900,
                              env=dict(self.clean_env(), SYSTEMD_NSPAWN_LOCK="0"))

    def sh(self, argv, timeout=300):
        r = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise Fail(f"{' '.join(map(str, argv))}: exit {r.returncode}: {short(r.stderr or r.stdout)}")
        return r.stdout.decode().strip()

    def setup_btrfs(self, chroot):
        self.say("# setting up a loop-mounted btrfs state dir …")
        t0 = time.monotonic()
        img = self.tmproot / "btrfs.img"
        mnt = self.tmproot / "btrfs-state"
        self.sh(["truncate", "-s", "4G", str(img)])
        self.sh(["mkfs.btrfs", "-q", str(img)])
        dev = self.sh(["losetup", "--find", "--show", str(img)])
        self.loops.append((dev, str(img)))
        mnt.mkdir()
        self.sh(["mount", dev, str(mnt)])
        self.own_mounts.append(str(mnt))
        self.sh(["btrfs", "-q", "subvolume", "create", str(mnt / IMAGE)])
        self.sh(["cp", "-a", "--reflink=auto", f"{chroot}/.", str(mnt / IMAGE)], timeout=600)
        self.say(f"# btrfs state dir ready in {time.monotonic() - t0:.0f} s ({dev} on {mnt})")
        return mnt

    def asan(self):
        """The sanitized executor; builds it when missing."""
        if self.asan_ex:
            return self.asan_ex
        if self.asan_error:
            raise Fail(self.asan_error)
        d = self.asan_build
        if not (d / "nspawn-runner").exists() or not (d / "nspawn-runner-init").exists():
            self.say(f"# building the sanitized build in {d} …")
            r = subprocess.run(["make", "-C", str(REPO), f"B={os.path.relpath(d, REPO)}", f"SANITIZE={SANITIZE}", "all"],
                               capture_output=True, stdin=subprocess.DEVNULL, timeout=900)
            if r.returncode != 0:
                msg = short(r.stderr or r.stdout, 300)
                if not (d / "nspawn-runner").exists():
                    self.asan_error = f"make of the sanitized build failed: {msg}"
                    raise Fail(self.asan_error)
                self.asan_incomplete = f"make B={d.name} SANITIZE=… all failed: {msg}"
        if (d / "nspawn-runner-init").exists():
            binary = d / "nspawn-runner"
        else:
            # The init is never sanitized (it is linked statically): pair the sanitized CLI with the
            # ordinary init in a directory of our own, so that the sanitizer pass can still run.
            own = self.tmproot / "asan"
            own.mkdir(exist_ok=True)
            shutil.copy2(d / "nspawn-runner", own / "nspawn-runner")
            shutil.copy2(self.build / "nspawn-runner-init", own / "nspawn-runner-init")
            binary = own / "nspawn-runner"
        self.asan_ex = Executor(self, binary, asan=True)
        return self.asan_ex
