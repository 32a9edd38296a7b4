#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the appliance image (build/nspawn-runner-rpi4.img), made by board/rpi4/build-image.

1. Inspects the image as it is: partition table, the FAT boot partition's files against
   firmware/manifest, config.txt and boot.scr, the root filesystem (read-only in fstab, units
   enabled, arm64 binaries of this project, no identity baked in).
2. Boots a copy of it twice under qemu-system-aarch64 (-M virt -cpu cortex-a72, software emulation),
   through Debian's u-boot-qemu running the image's own boot.scr, with a second disk as the data SSD
   (btrfs NSPAWN-DATA, an arm64 chroot made on the host beforehand with qemu-user), a test
   nspawn-runner.conf, and a stand-in for gitlab-runner (tests/image/fake-gitlab-runner: there is no
   gitlab-runner binary or GitLab server here), packaged and built into a second image through
   GITLAB_RUNNER_DEB as a person would, that registers through first boot and replays one CI job
   through the executor protocol. A third boot has no SSD. A report unit prints what the test asserts on the serial
   console, then powers off: no failed unit, root read-only, SSD mounted, nspawn-runnerd READY, the
   job ran on aarch64 in a transient unit in machine.slice registered with machined, the runner
   registered once, the token in no log and not in nspawn-runner-status.txt, the same machine id
   and ssh host key on both boots.

Usage (as root, from the repository root): python3 tests/image/check_image.py --build build
Prints "ok N - name" / "not ok N - name: reason" lines and "N passed, N failed" last.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "tests/lib"))

import tap  # noqa: E402
from tap import Fail, require  # noqa: E402

UBOOT_QEMU = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
TOKEN = "glrt-TESTtoken-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:20]
BOOT_TIMEOUT = 900  # seconds for one boot, report and power-off under software emulation
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKxWqbnv3cTPbK0S6NHEoPBtEVqExE+1c1cmiC8DRV6Y test@check-image"


def run(*args, **kw):
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run([str(a) for a in args], **kw)


class Image:
    """The disk image and its two partitions, read without mounting the FAT (no vfat here)."""

    def __init__(self, path: Path):
        self.path = path
        table = json.loads(run("sfdisk", "-J", path).stdout)["partitiontable"]
        self.table = table
        self.parts = table["partitions"]
        self.boot_offset = self.parts[0]["start"] * 512
        self.root_offset = self.parts[1]["start"] * 512
        self.root_size = self.parts[1]["size"] * 512

    def fat(self):
        return f"{self.path}@@{self.boot_offset}"

    def fat_files(self):
        out = run("mdir", "-b", "-i", self.fat(), "::/", env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout
        return {Path(line.strip()).name for line in out.splitlines() if line.strip()}

    def fat_read(self, name) -> bytes:
        return subprocess.run(["mtype", "-i", self.fat(), f"::/{name}"], check=True, capture_output=True,
                              env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout

    def fat_write(self, name, data: bytes):
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            run("mcopy", "-o", "-i", self.fat(), f.name, f"::/{name}", env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})

    @contextlib.contextmanager
    def root_mounted(self, writable=False):
        mnt = Path(tempfile.mkdtemp(prefix="check-image-root."))
        opts = f"loop,offset={self.root_offset},sizelimit={self.root_size}" + ("" if writable else ",ro")
        run("mount", "-o", opts, self.path, mnt)
        try:
            yield mnt
        finally:
            run("umount", mnt, check=False)
            mnt.rmdir()


# --- 1. the image as built ------------------------------------------------------------------------

def t_partitions(img: Image):
    require(img.table["label"] == "dos", f"partition table is {img.table['label']}, the Pi 4 boots from MBR")
    require(len(img.parts) == 2, f"{len(img.parts)} partitions, want 2 (boot, root)")
    boot, root = img.parts
    require(boot["type"] == "c" and boot.get("bootable"), f"partition 1 is {boot}, want FAT32 LBA (c), bootable")
    require(boot["start"] == 8192 and boot["size"] == 524288, "partition 1 is not 256 MiB from 4 MiB")
    require(root["type"] == "83" and root["start"] == boot["start"] + boot["size"], f"partition 2 is {root}")
    magic = open(img.path, "rb").read(512)[510:]
    require(magic == b"\x55\xaa", "no MBR signature")


def manifest():
    for line in (REPO / "firmware/manifest").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.split()


def t_boot_files(img: Image):
    files = img.fat_files()
    want = {m[0] for m in manifest()} | {"config.txt", "boot.scr", "uboot.env", "initrd.img", "nspawn-runner.conf",
                                        "README.txt"}
    require(want <= files, f"missing on the boot partition: {sorted(want - files)}")
    for name, package, version, path, sha in manifest():
        got = hashlib.sha256(img.fat_read(name)).hexdigest()
        require(got == sha, f"{name}: sha256 {got}, the manifest says {sha} ({package} {version})")


def fstab_boot_label() -> str:
    for line in (REPO / "rootfs/etc/fstab").read_text().splitlines():
        f = line.split()
        if len(f) > 1 and f[1] == "/boot/firmware" and f[0].startswith("LABEL="):
            return f[0][len("LABEL="):]
    raise Fail("rootfs/etc/fstab mounts /boot/firmware by no LABEL=")


def t_fat_label(img: Image):
    with open(img.path, "rb") as f:
        f.seek(img.boot_offset)
        bpb = f.read(512)
    require(bpb[82:90] == b"FAT32   ", f"partition 1 is not FAT32: {bpb[82:90]!r}")
    label = bpb[71:82].decode(errors="replace").rstrip()
    want = fstab_boot_label()
    require(label == want, f"the FAT is labelled {label!r}, fstab mounts {want!r} on /boot/firmware")
    require(label not in ("BOOT", "boot", "NO NAME"), f"the FAT's label {label!r} is one other disks have too")


def t_uboot_env(img: Image):
    env = img.fat_read("uboot.env")
    require(len(env) == 0x4000, f"uboot.env is {len(env)} bytes, u-boot-rpi reads 0x4000")
    require(int.from_bytes(env[:4], "little") == zlib.crc32(env[4:]), "uboot.env's CRC does not match: u-boot would ignore it")
    entries = env[4:].split(b"\0\0")[0].split(b"\0")
    got = dict(e.decode().split("=", 1) for e in entries)
    require(got.get("bootdelay") == "-2", f"bootdelay={got.get('bootdelay')}: a byte on the serial console stops the boot")
    require("preboot" not in got, f"preboot={got.get('preboot')!r}: u-boot would reset the VL805 before Linux does")
    targets = got.get("boot_targets", "").split()
    require(targets and not {"usb0", "pxe", "dhcp"} & set(targets), f"boot_targets={targets}: boots from more than the SD card")
    require(got.get("bootcmd", "").endswith("reset"), f"bootcmd={got.get('bootcmd')!r} waits at the prompt when nothing boots")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "u-boot.bin").write_bytes(img.fat_read("u-boot.bin"))
        want = run(REPO / "board/rpi4/uboot-env", Path(tmp) / "u-boot.bin").stdout.splitlines()
    require([e.decode() for e in entries] == want, "uboot.env is not u-boot.bin's default environment with board/rpi4/uboot-env's changes")


def t_initrd(img: Image):
    with tempfile.TemporaryDirectory() as tmp, img.root_mounted() as r:
        for name in ("initrd.img", "vmlinuz", "bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb"):
            (Path(tmp) / name).write_bytes(img.fat_read(name))
        p = run(REPO / "board/rpi4/check-initrd", "--root", r, "--initrd", Path(tmp) / "initrd.img", "--kernel",
                Path(tmp) / "vmlinuz", "--dtb", Path(tmp) / "bcm2711-rpi-4-b.dtb", "--dtb", Path(tmp) / "bcm2711-rpi-400.dtb",
                "--modules-list", REPO / "board/rpi4/initramfs-modules", "--fstype", "ext4", check=False)
    for line in p.stdout.splitlines():
        print("#" + line, flush=True)
    require(p.returncode == 0, "\n" + p.stderr.strip())


def uboot_run_script(boot_scr: bytes, files: dict, until: tuple, timeout=120) -> str:
    """Runs boot.scr in u-boot-qemu from a small FAT disk holding it and files (no kernel: the script
    ends at its failed load); returns the console up to the first of until."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        disk, fat, console = t / "disk.img", t / "fat.img", t / "console.log"
        run("truncate", "-s", "40M", disk)
        run("sfdisk", "-q", disk, input="start=2048, type=c, bootable\n")
        run("mkfs.vfat", "-C", "-F", "32", fat, "36000")
        for name, data in {"boot.scr": boot_scr, **files}.items():
            (t / name).write_bytes(data)
            run("mcopy", "-i", fat, t / name, "::", env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
        run("dd", f"if={fat}", f"of={disk}", "bs=512", "seek=2048", "conv=notrunc", "status=none")
        p = subprocess.Popen(["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-m", "512", "-bios", UBOOT_QEMU,
                              "-display", "none", "-monitor", "none", "-nic", "none", "-serial", f"file:{console}",
                              "-drive", f"if=none,id=d,format=raw,file={disk}", "-device", "virtio-blk-pci,drive=d"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + timeout
            text = ""
            while time.monotonic() < end and not any(u in text for u in until):
                time.sleep(0.5)
                text = console.read_text(errors="replace") if console.exists() else ""
        finally:
            p.kill()
            p.wait()
        return text


def t_kernel_args_bad(img: Image):
    scr = img.fat_read("boot.scr")
    for content, want in ((b"a" * 300 + b"\n", "kernel-args.txt is longer than 256 bytes: ignored"),
                          (b'quiet init=/bin/sh;reset "x"\r\n', "kernel-args.txt has characters other than")):
        text = uboot_run_script(scr, {"kernel-args.txt": content}, (want, "booti failed"))
        require(want in text, f"u-boot did not say {want!r} for kernel-args.txt {content[:40]!r}:\n{text[-600:]}")
        require("kernel arguments from kernel-args.txt" not in text, f"a bad kernel-args.txt was taken:\n{text[-600:]}")


def t_config_txt(img: Image):
    cfg = img.fat_read("config.txt").decode()
    lines = {ln.strip() for ln in cfg.splitlines() if ln.strip() and not ln.startswith("#")}
    for want in ("arm_64bit=1", "kernel=u-boot.bin", "enable_uart=1", "upstream_kernel=1"):
        require(want in lines, f"config.txt lacks {want}")


def t_boot_script(img: Image):
    scr = img.fat_read("boot.scr")
    require(scr[:4] == b"\x27\x05\x19\x56", "boot.scr is not a u-boot image")
    require(scr[30] == 6, f"boot.scr image type is {scr[30]}, want 6 (script)")
    text = scr[72:].decode(errors="replace")
    for want in ("booti ${kernel_addr_r} ${ramdisk_addr_r}:${initrd_size} ${fdt_addr}", "root=PARTUUID=${root_partuuid}",
                 " ro ", "part uuid ${devtype} ${devnum}:2 root_partuuid", "identity.env"):
        require(want in text, f"boot.scr lacks {want!r}")
    require("@CMDLINE@" not in text, "boot.scr still has the @CMDLINE@ placeholder")


def t_root_fs(img: Image):
    with img.root_mounted() as r:
        fstab = [ln.split() for ln in (r / "etc/fstab").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        root = [f for f in fstab if f[1] == "/"]
        require(root and "ro" in root[0][3].split(","), f"/ is not read-only in fstab: {root}")
        require(root[0][5] == "0", "the root has an fsck pass: a read-only root never needs one")
        tmpfs = {f[1] for f in fstab if f[2] == "tmpfs"}
        require({"/tmp", "/var/tmp", "/var/lib/systemd/timesync"} <= tmpfs, f"tmpfs mounts: {tmpfs}")
        wants = r / "etc/systemd/system/multi-user.target.wants"
        for unit in ("nspawn-runnerd.service", "nspawn-runner-setup.service", "ssh.service", "systemd-networkd.service"):
            require((wants / unit).exists() or (wants / unit).is_symlink(), f"{unit} is not enabled")
        dev = r / "etc/systemd/system/dev-disk-by\\x2dlabel-NSPAWN\\x2dDATA.device.wants"
        require((dev / "var-lib-nspawn\\x2drunner.mount").is_symlink(), "the data SSD's mount unit is not enabled")
        require((r / "etc/machine-id").read_text() == "", "/etc/machine-id is not empty: every card would share it")
        require(not list((r / "etc/ssh").glob("ssh_host_*")), "ssh host keys are baked into the image")
        require(os.readlink(r / "etc/nspawn-runner/nspawn-runner.conf") == "/boot/firmware/nspawn-runner.conf",
                "/etc/nspawn-runner/nspawn-runner.conf does not point at the boot partition")
        for exe in ("usr/bin/nspawn-runner", "usr/bin/nspawn-runnerd", "usr/libexec/nspawn-runner/nspawn-runner-init"):
            desc = run("file", "-b", r / exe).stdout
            require("ARM aarch64" in desc, f"/{exe} is not an arm64 binary: {desc.strip()}")
        init = run("file", "-b", r / "usr/libexec/nspawn-runner/nspawn-runner-init").stdout
        require("statically linked" in init, f"the machine init is not static: {init.strip()}")
        status = (r / "var/lib/dpkg/status").read_text()
        require(re.search(r"^Package: nspawn-runner\nStatus: install ok installed", status, re.M),
                "the nspawn-runner package is not installed")
        require(not list((r / "var/lib/apt/lists").glob("*_Packages")), "apt lists were left in the image")


def t_compressed(img: Image):
    xz = img.path.with_suffix(".img.xz")
    sums = img.path.with_suffix(".sha256")
    require(xz.exists() and sums.exists(), "the .img.xz or .sha256 is missing")
    run("sha256sum", "--quiet", "-c", sums.name, cwd=img.path.parent)
    require(img.path.with_suffix(".img.bmap").exists(), "the .bmap is missing")


# --- 2. booting it ----------------------------------------------------------------------------------

# What the test wants to see of the host while the job's machine runs (the fake runner runs it after
# build_script, whose attacks need the world below).
PROBE_DROPIN = """\
[Service]
Environment=FAKE_PROBE=/usr/local/sbin/image-test-probe
"""

PROBE_SCRIPT = r"""#!/bin/bash
# The machine's name as prepare made it: its key came to every stage from gitlab-config's job_env.
m=nspawn-runner-${NSPAWN_RUNNER_MACHINE:?no job_env from gitlab-config}
machinectl list --no-legend
systemctl show -p Slice -p ActiveState -p DevicePolicy -p DeviceAllow -p MemoryMax -p MemorySwapMax \
	-p TasksMax -p CPUWeight $m.service
# The servers the job could not reach answer the host itself: a refused connect proves nothing otherwise.
dev=$(ip -4 -o route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1) }' | head -1)
addr=$(ip -4 -o addr show dev "${dev:-lo}" scope global | awk '{ sub("/.*", "", $4); print $4; exit }')
for t in guest-loopback:127.0.0.1:8081 guest-address:198.51.100.1:8082 guest-uplink:${addr:-none}:8082 \
	internet:198.51.100.80:80; do
	IFS=: read -r name a port <<<"$t"
	r=$(timeout 15 bash -c "exec 3<>/dev/tcp/$a/$port && cat <&3" 2>&1 | tr -d '\r' | tail -1)
	echo "control: $name ${r:-unreachable}"
done
journalctl -b -o cat -u image-test-world.service | tail -5 | sed 's/^/world: /'
# The SD card's node, planted in the machine's /tmp from outside (mode 666): what keeps the job from
# opening it is the unit's device policy alone. On btrfs the snapshot is the machine's root as it is on
# disk; on overlayfs the node is made in the machine's mount namespace.
disk=$(lsblk -no PKNAME "$(findmnt -nvo SOURCE /)" | head -1)
IFS=: read -r maj min < <(lsblk -dno MAJ:MIN "/dev/$disk" | tr -d ' ')
dir=$(ls -d /var/lib/nspawn-runner/.machines/*4242* | head -1)
leader=$(machinectl show -p Leader --value $m)
echo "init uid_map: $(tr -s ' ' </proc/$leader/uid_map | sed 's/^ //')"
if [ -d "$dir/upper" ]; then
	nsenter -t "$leader" -m mknod -m 666 /tmp/planted-disk b "$maj" "$min"
else
	mknod -m 666 "$dir/root/tmp/planted-disk" b "$maj" "$min"
fi && echo "planted: /dev/$disk ($maj:$min) as /tmp/planted-disk"
# nspawn-run on the systemd path: its machine in a transient scope with the jobs' devices and limits.
nspawn-run -n bookworm -- sh -c 'echo "inside as $(id -un), uid_map $(tr -s " " </proc/self/uid_map)"; sleep 15' \
	>/run/nspawn-run.out 2>&1 &
nr=$!
for _ in $(seq 120); do
	scope=$(systemctl list-units --no-legend --plain 'nspawn-run-*.scope' | awk '{ print $1; exit }')
	[ -n "$scope" ] && break
	sleep 1
done
echo "nspawn-run scope: ${scope:-none}"
[ -z "$scope" ] || systemctl show -p Slice -p DevicePolicy -p DeviceAllow -p MemoryMax -p TasksMax "$scope" |
	sed 's/^/nspawn-run: /'
wait $nr
echo "nspawn-run exit: $?"
sed 's/^/nspawn-run output: /' /run/nspawn-run.out
"""

# The world of the network attacks, made inside the guest before gitlab-runner starts: an "internet"
# host in a network namespace of its own (198.51.100.80, routed from the guest over a veth; the
# guest's side has a /32 so that it is no subnet of the host's), an HTTP answer there, and the guest's
# own services on 127.0.0.1:8081 and on all its addresses at :8082. Nothing of it leaves the VM.
WORLD_UNIT = """\
[Unit]
Description=nspawn-runner image test: an internet host in a network namespace, services of the host
Before=gitlab-runner.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/image-test-world

[Install]
WantedBy=multi-user.target
"""

WORLD_SCRIPT = r"""#!/bin/bash
set -eu
# The answer is written at once and the connection closed; clients send nothing (a request left
# unread would turn the close into a reset).
serve() { # ADDRESS:PORT TEXT [NETNS]
	${3:+ip netns exec $3} systemd-socket-activate -l "$1" -a --inetd \
		/bin/echo -e "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n$2" </dev/null >/dev/null 2>&1 &
}
ip netns add imgtest-inet
ip link add tinet0 type veth peer name eth0 netns imgtest-inet
ip addr add 198.51.100.1/32 dev tinet0
ip link set tinet0 up
ip route add 198.51.100.80/32 dev tinet0
ip -n imgtest-inet link set lo up
ip -n imgtest-inet addr add 198.51.100.80/32 dev eth0
ip -n imgtest-inet link set eth0 up
ip -n imgtest-inet route add 198.51.100.1/32 dev eth0
ip -n imgtest-inet route add default via 198.51.100.1 dev eth0
serve 198.51.100.80:80 internet-ok imgtest-inet
serve 127.0.0.1:8081 guest-loopback-secret
serve 0.0.0.0:8082 guest-address-secret
"""

FAKE_POSTINST = """\
#!/bin/sh
# What gitlab-runner's own package does after unpacking: a user, and its systemd unit.
set -e
id gitlab-runner >/dev/null 2>&1 || useradd --system --create-home --home-dir /home/gitlab-runner --shell /bin/bash gitlab-runner
gitlab-runner install --user=gitlab-runner --working-directory=/home/gitlab-runner
gitlab-runner start || :
"""


def make_fake_deb(path: Path):
    """gitlab-runner_0.0.0-fake_arm64.deb: the stand-in as a package, to go through GITLAB_RUNNER_DEB."""
    root = path.parent / "fake-deb"
    shutil.rmtree(root, ignore_errors=True)
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy(REPO / "tests/image/fake-gitlab-runner", root / "usr/bin/gitlab-runner")
    (root / "DEBIAN/control").write_text(
        "Package: gitlab-runner\nVersion: 0.0.0-fake\nArchitecture: arm64\nMaintainer: nspawn-runner tests <tests@invalid>\n"
        "Depends: bash\nDescription: stand-in for gitlab-runner in nspawn-runner's image test\n")
    (root / "DEBIAN/postinst").write_text(FAKE_POSTINST)
    (root / "DEBIAN/postinst").chmod(0o755)
    run("dpkg-deb", "--root-owner-group", "--build", root, path)
    shutil.rmtree(root)


REPORT_UNIT = """\
[Unit]
Description=nspawn-runner image test: report on the serial console, then power off
After=multi-user.target dev-hvc0.device
Wants=dev-hvc0.device

[Service]
Type=simple
ExecStart=/usr/local/sbin/image-test-report
# A console of its own (qemu's virtconsole): the serial console is the kernel's and getty's.
StandardOutput=tty
TTYPath=/dev/hvc0

[Install]
WantedBy=multi-user.target
"""

REPORT_SCRIPT = r"""#!/bin/bash
# Waits for the boot to settle and the job to end, prints "@@ key=value" lines, powers off.
say() { printf '\n@@ %s=%s\n' "$1" "$2"; }
for i in $(seq 400); do
	state=$(systemctl is-system-running 2>/dev/null)
	case $state in running|degraded) break ;; esac
	sleep 1
done
say system "$state"
say boot_seconds "$(cut -d' ' -f1 /proc/uptime)"
# Without the SSD no job runs (that is the point): nothing to wait for.
if mountpoint -q /var/lib/nspawn-runner; then
	for i in $(seq 400); do [ -f /etc/gitlab-runner/fake-job.result ] && break; sleep 1; done
fi
say job_result "$(cat /etc/gitlab-runner/fake-job.result 2>/dev/null)"
sed 's/^/@@ job_log=/' /etc/gitlab-runner/fake-job.log 2>/dev/null
say failed "$(systemctl --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')"
say jobs "$(systemctl list-jobs --no-legend | awk '{print $2}' | tr '\n' ' ')"
say root_options "$(findmnt -no OPTIONS /)"
say data "$(findmnt -no SOURCE,FSTYPE /var/lib/nspawn-runner)"
say daemon "$(systemctl show -p ActiveState --value nspawn-runnerd.service) / $(systemctl show -p StatusText --value nspawn-runnerd.service)"
say setup "$(systemctl show -p ActiveState --value nspawn-runner-setup.service) $(systemctl show -p Result --value nspawn-runner-setup.service)"
say gitlab_runner "$(systemctl show -p ActiveState --value gitlab-runner.service)"
say hostname "$(hostname)"
say machine_id "$(cat /etc/machine-id)"
say cmdline "$(cat /proc/cmdline)"
w=/sys/class/watchdog/watchdog0
say watchdog "$(cat $w/identity $w/state $w/timeout 2>/dev/null | tr '\n' '/')"
say watchdog_pid1 "$(ls -l /proc/1/fd 2>/dev/null | grep -c ' -> /dev/watchdog0$')"
say watchdog_log "$(journalctl -b -o cat _PID=1 | grep -m1 'hardware watchdog')"
say modules "$(cd /sys/module && ls -d bcm2835_wdt leds_gpio 2>/dev/null | tr '\n' ' ')"
say host_key "$(cat /var/lib/nspawn-runner/.appliance/ssh/ssh_host_ed25519_key.pub 2>/dev/null | cut -d' ' -f2)"
say register_argv "$(cat /run/fake-gitlab-runner-register.argv 2>/dev/null)"
tok=$(sed -n 's/^ *token = "\(.*\)"/\1/p' /etc/gitlab-runner/config.toml 2>/dev/null | head -1)
say token_in_journal "$(journalctl -b -o cat | grep -c -F "${tok:-no token in config.toml}")"
say token_in_config "$(grep -c '^ *token = "glrt-' /etc/gitlab-runner/config.toml 2>/dev/null)"
say journal_persistent "$(ls -d /var/log/journal/*/ 2>/dev/null | wc -l)"
say problems "$(tr '\n' '|' </run/nspawn-runner/setup-problems 2>/dev/null)"
journalctl -b -p warning -o short-monotonic --no-pager | tail -40 | sed 's/^/@@ warning=/'
journalctl -b -u 'nspawn-runner-*' -o short-monotonic --no-pager | tail -30 | sed 's/^/@@ unit_log=/'
say previous_boot_drained "$(journalctl -b -1 -o cat -u nspawn-runnerd.service 2>/dev/null | grep -c 'No job left: powering off')"
say previous_boot_sigquit "$(journalctl -b -1 -o cat -u gitlab-runner.service 2>/dev/null | grep -c 'SIGQUIT')"
if ! mountpoint -q /var/lib/nspawn-runner; then
	# The LED on PL061 line 0, as the kernel has it (debugfs), 60 samples over about 3 s.
	say gpio_lines "$(grep 'nspawn-runner' /sys/kernel/debug/gpio | tr -s ' ' | tr '\n' '|')"
	say led_levels "$(for i in $(seq 60); do grep -o ' out [a-z]*' /sys/kernel/debug/gpio; sleep 0.05; done | sort | uniq -c | tr -s ' ' | tr '\n' '|')"
	# The host presses the button (system_powerdown on qemu's monitor) when it reads this line.
	say press_button 1
	for i in $(seq 120); do
		journalctl -b -o cat -u nspawn-runnerd.service | grep -q 'Refresh started' && break
		sleep 0.5
	done
	sleep 5
	say button_log "$(journalctl -b -o cat -u nspawn-runnerd.service | grep -E 'button|Status: refreshing|Refresh' | tr '\n' '|')"
fi
say end 1
sync
# With the SSD, power off the way a long press does: the daemon drains (SIGQUIT to gitlab-runner
# over D-Bus), then starts poweroff.target. Without it, or if that fails, the plain way.
if mountpoint -q /var/lib/nspawn-runner && nspawn-runner poweroff; then
	sleep 60
fi
systemctl --no-wall poweroff
"""


# qemu virt's PL061 GPIO controller (the kernel's chip label): the status LED on its free line 0,
# the button on line 3, which qemu pulses on system_powerdown (active high).
PL061 = "9030000.pl061"


def test_config():
    return f"""# nspawn-runner.conf of the image test (CRLF line endings, as from a laptop)\r
gitlab_url = https://gitlab.example.com\r
RUNNER_TOKEN = {TOKEN}\r
concurrent = 2\r
image = bookworm\r
hostname = ci-box-test\r
ssh_authorized_key = {SSH_KEY}\r
maintenance_time = off\r
job_tasks_max = 512\r
job_cpu_weight = 50\r
led = gpio:{PL061}:0\r
button = gpio:{PL061}:3:active-high\r
""".encode()


# kernel-args.txt on the test card: the README's example and a marker the test looks for.
KERNEL_ARGS_MARKER = "nspawn_runner_test.kernel_args=1"
# gpio_keys would hold PL061 line 3 (the power button), which the test gives to nspawn-runnerd.
KERNEL_ARGS = f"usb-storage.quirks=152d:0578:u modprobe.blacklist=gpio_keys {KERNEL_ARGS_MARKER}\r\n"


class Boot:
    def __init__(self, build: Path, work: Path):
        self.build = build
        self.work = work
        self.disk = work / "sd.img"
        self.ssd = work / "ssd.img"
        self.reports: list[dict] = []

    def prepare_sd(self):
        """The image again, built as the person would with GITLAB_RUNNER_DEB (the fake as a package),
        from the same cached Debian root, then the test's config and report unit."""
        fake = self.work / "gitlab-runner_0.0.0-fake_arm64.deb"
        make_fake_deb(fake)
        debs = sorted((self.build / "deb").glob("nspawn-runner_*_arm64.deb"), key=lambda p: p.stat().st_mtime)
        require(debs, f"no arm64 package in {self.build / 'deb'} (make deb-arm64)")
        out = self.work / "image"
        p = subprocess.Popen([REPO / "board/rpi4/build-image", "--out", out, "--deb", debs[-1], "--cache",
                              self.build / "image-cache", "--gitlab-runner-deb", fake, "--no-compress"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in p.stdout:
            print("# test image: " + line.rstrip(), flush=True)
        require(p.wait() == 0, f"build-image with GITLAB_RUNNER_DEB failed ({p.returncode})")
        (out / "nspawn-runner-rpi4.img").rename(self.disk)
        shutil.rmtree(out)
        img = Image(self.disk)
        img.fat_write("nspawn-runner.conf", test_config())
        img.fat_write("kernel-args.txt", KERNEL_ARGS.encode())
        with img.root_mounted(writable=True) as r:
            wants = r / "etc/systemd/system/multi-user.target.wants/gitlab-runner.service"
            require(wants.is_symlink(), "gitlab-runner's package went in, but its unit is not enabled")
            (r / "etc/systemd/system/gitlab-runner.service.d").mkdir(exist_ok=True)
            (r / "etc/systemd/system/gitlab-runner.service.d/test-probe.conf").write_text(PROBE_DROPIN)
            (r / "etc/systemd/system/image-test-report.service").write_text(REPORT_UNIT)
            (r / "usr/local/sbin").mkdir(parents=True, exist_ok=True)
            (r / "etc/systemd/system/image-test-world.service").write_text(WORLD_UNIT)
            for name, text in (("report", REPORT_SCRIPT), ("probe", PROBE_SCRIPT), ("world", WORLD_SCRIPT)):
                (r / f"usr/local/sbin/image-test-{name}").write_text(text)
                (r / f"usr/local/sbin/image-test-{name}").chmod(0o755)
            run("systemctl", f"--root={r}", "enable", "image-test-report.service", "image-test-world.service")
        return img

    SSD_CACHE = REPO / "tests/cache/image-ssd-arm64.btrfs"

    @classmethod
    def make_ssd_cache(cls, build: Path):
        """A btrfs NSPAWN-DATA disk with an arm64 chroot 'bookworm', made once with the host's
        nspawn-runner through qemu-user and cached in tests/cache/."""
        cache = cls.SSD_CACHE
        if not cache.exists():
            print("# test SSD: an arm64 bookworm chroot through qemu-user (about 6 minutes, once)", flush=True)
            tmp = cache.with_suffix(".tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.unlink(missing_ok=True)
            run("truncate", "-s", "8G", tmp)
            run("mkfs.btrfs", "-q", "-L", "NSPAWN-DATA", tmp)
            mnt = Path(tempfile.mkdtemp(prefix="check-image-ssd."))
            run("mount", "-o", "loop", tmp, mnt)
            try:
                p = subprocess.Popen([build / "nspawn-runner", "--state-dir", mnt, "chroot-create", "bookworm",
                                      "--arch", "arm64"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for line in p.stdout:
                    print("# test SSD: " + line.rstrip(), flush=True)
                require(p.wait() == 0, f"chroot-create --arch arm64 failed with exit status {p.returncode}")
            finally:
                run("umount", mnt, check=False)
                mnt.rmdir()
            tmp.rename(cache)

    def prepare_ssd(self):
        self.make_ssd_cache(self.build)
        run("cp", "--sparse=always", self.SSD_CACHE, self.ssd)

    def boot(self, n: int, ssd=True) -> dict:
        log = self.work / f"console-{n}.log"
        report_log = self.work / f"report-{n}.log"
        monitor = self.work / f"monitor-{n}.sock"
        # acpi=off: virt then has its PL061 GPIO controller, whose line 3 is the power button.
        cmd = ["qemu-system-aarch64", "-M", "virt,acpi=off", "-cpu", "cortex-a72", "-smp", "2", "-m", "2048",
               "-bios", str(UBOOT_QEMU), "-display", "none", "-monitor", f"unix:{monitor},server=on,wait=off", "-no-reboot",
               "-serial", f"file:{log}",
               "-device", "virtio-serial-pci", "-chardev", f"file,id=report,path={report_log}",
               "-device", "virtconsole,chardev=report",
               "-drive", f"if=none,id=sd,format=raw,file={self.disk}", "-device", "virtio-blk-pci,drive=sd",
               # restrict=on: nothing the VM sends leaves this host (prepare resolves gitlab_url for
               # the isolated network mode; gitlab.example.com must not be looked up for real).
               "-nic", "user,model=virtio-net-pci,restrict=on",
               # A watchdog device, so that systemd drives one with the image's own settings.
               "-device", "i6300esb"]
        if ssd:
            cmd += ["-drive", f"if=none,id=ssd,format=raw,file={self.ssd}", "-device", "virtio-blk-pci,drive=ssd"]
        t0 = time.monotonic()
        qemu_out = self.work / f"qemu-{n}.log"
        with open(qemu_out, "wb") as f:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
        pressed = False
        while p.poll() is None and time.monotonic() - t0 < BOOT_TIMEOUT:
            time.sleep(0.5)
            # The report script asks for the button: qemu's power button is a 100 ms pulse on PL061 line 3.
            if not pressed and report_log.exists() and "@@ press_button=1" in report_log.read_text(errors="replace"):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as m:
                    m.connect(str(monitor))
                    m.sendall(b"system_powerdown\n")
                    time.sleep(0.5)
                pressed = True
        if p.poll() is None:
            p.kill()
        p.wait()
        out = qemu_out.read_bytes()
        elapsed = time.monotonic() - t0
        text = log.read_text(errors="replace") if log.exists() else ""
        report_text = report_log.read_text(errors="replace") if report_log.exists() else ""
        report: dict = {"_seconds": elapsed, "_console": text + report_text, "_qemu": out.decode(errors="replace")}
        for line in report_text.splitlines():
            m = re.search(r"@@ (\w+)=(.*?)\r?$", line.strip("\x00"))
            if m:
                key, value = m.groups()
                if key in ("job_log", "warning", "unit_log"):
                    report.setdefault(key, []).append(value)
                else:
                    report[key] = value
        print(f"# boot {n}: {elapsed:.0f} s in qemu, system {report.get('system')!r} after "
              f"{report.get('boot_seconds')} s of uptime", flush=True)
        if "end" not in report:
            tail = "\n".join("#   " + ln for ln in text.splitlines()[-40:])
            print(f"# boot {n}: no complete report; the console's last lines:\n{tail}", flush=True)
        for w in report.get("warning", [])[-15:]:
            print(f"#   journal: {w}", flush=True)
        if report.get("job_result") != "0":
            for w in report.get("unit_log", []):
                print(f"#   machine unit: {w}", flush=True)
        self.reports.append(report)
        return report


def need(report, key):
    require("end" in report, "the boot did not finish its report (see the console lines above)")
    return report.get(key, "")


def t_boot_clean(r):
    require(need(r, "system") == "running", f"systemd says {r.get('system')!r}; failed units: {r.get('failed')!r}")
    require(r.get("failed", "").strip() == "", f"failed units: {r['failed']}")


def t_boot_watchdog(r):
    wd = need(r, "watchdog").split("/")
    require(wd[:3] == ["i6300ESB timer", "active", "15"], f"/dev/watchdog0 is {wd} (identity/state/timeout), want i6300ESB active at 15 s")
    require(need(r, "watchdog_pid1") == "1", "systemd (PID 1) does not hold /dev/watchdog0 open")
    require("/dev/watchdog0" in need(r, "watchdog_log"), f"systemd's journal says {r.get('watchdog_log')!r}")
    require(need(r, "modules").split() == ["bcm2835_wdt", "leds_gpio"], f"modules-load.d loaded {r.get('modules')!r}")


def t_boot_kernel_args(r):
    require(KERNEL_ARGS_MARKER in need(r, "cmdline").split(), f"kernel-args.txt's line is not on the command line: {r['cmdline']!r}")
    require("nspawn-runner: kernel arguments from kernel-args.txt: " + KERNEL_ARGS.strip() in r["_console"],
            "boot.scr did not say which arguments it took from kernel-args.txt")


def t_boot_readonly(r):
    opts = need(r, "root_options").split(",")
    require("ro" in opts, f"/ is mounted {opts}")


def t_boot_ssd(r):
    require(need(r, "data") == "/dev/vdb btrfs", f"/var/lib/nspawn-runner is {r.get('data')!r}, want the SSD (btrfs)")
    require(need(r, "journal_persistent") == "1", "the journal is not on the SSD")


def t_boot_daemon(r):
    state = need(r, "daemon")
    require(state.startswith("active / "), f"nspawn-runnerd: {state!r} (Type=notify: active means READY=1)")
    require("idle" in state or "job" in state, f"nspawn-runnerd's STATUS= is {state!r}")


def t_boot_setup(r):
    require(need(r, "setup") == "active success", f"nspawn-runner-setup.service: {r.get('setup')!r}")
    require(need(r, "problems") == "", f"setup reported problems: {r.get('problems')!r}")
    require(need(r, "hostname") == "ci-box-test", f"hostname is {r.get('hostname')!r}")


def t_boot_register(r, first):
    argv = need(r, "register_argv")
    if first:
        require("--non-interactive" in argv and "--executor custom" in argv, f"the runner was not registered: {argv!r}")
        require(TOKEN not in argv, "the token was on gitlab-runner's command line")
        require("--url https://gitlab.example.com" in argv, f"register got {argv!r}")
    else:
        require(argv == "", f"the runner registered again on the second boot: {argv!r}")
    require(need(r, "token_in_config") == "1", "config.toml has no runner token (or more than one runner)")


def t_boot_job(r):
    log = "\n".join(r.get("job_log", []))
    require(need(r, "job_result") == "0", f"the job ended with {r.get('job_result')!r}:\n{log[-1500:]}")
    require("job on aarch64, Debian GNU/Linux 12 (bookworm)" in log, f"prepare_script output missing:\n{log[-800:]}")
    require("build: 42" in log and "background process survived the stage" in log, f"job log:\n{log[-800:]}")
    require(re.search(r"job_env: NSPAWN_RUNNER_MACHINE=4242-[0-9a-f]{8}\n", log), f"gitlab-config gave no machine key:\n{log[:800]}")
    require(re.search(r"probe: nspawn-runner-4242-[0-9a-f]{8}\s", log), f"machinectl did not list the job's machine:\n{log[-800:]}")
    require("probe: Slice=machine.slice" in log, f"the machine's unit is not in machine.slice:\n{log[-800:]}")
    require("probe: ActiveState=active" in log, f"the machine's transient unit is not active:\n{log[-800:]}")


def job_lines(r, prefix):
    return [line[len(prefix):].strip() for line in r.get("job_log", []) if line.startswith(prefix)]


def t_boot_containment(r):
    log = "\n".join(r.get("job_log", []))
    unit = set(job_lines(r, "probe:"))
    # The test's config sets job_tasks_max and job_cpu_weight; memory and swap are the defaults.
    want = {"DevicePolicy=closed", "DeviceAllow=char-pts rw", "DeviceAllow=/dev/net/tun rwm",
            "MemoryMax=1610612736", "MemorySwapMax=536870912", "TasksMax=512", "CPUWeight=50"}
    require(want <= unit, f"the machine's unit lacks {sorted(want - unit)}; it shows {sorted(unit)}")
    # The job's stages are one user namespace below the machine's (ids one to one), whose range is
    # uid_base's: 0 0 65536 inside, 0 BASE 65536 for the machine's init as the host sees it.
    m = re.search(r"^uid_map: (\d+) (\d+) (\d+)$", log, re.M)
    require(m and m.group(0) == "uid_map: 0 0 65536", f"the job's uid map: {m.group(0) if m else 'no uid_map line'}")
    init_map = job_lines(r, "probe: init uid_map:")
    require(init_map and re.fullmatch(r"0 [1-9]\d* 65536", init_map[0]),
            f"the machine is not in a user namespace of its own: init's uid map {init_map}")
    attacks = job_lines(r, "attack:")
    require(not [a for a in attacks if a.endswith("SUCCEEDED")], f"attacks that succeeded: {attacks}")
    disks = {re.sub(r"^(mknod|open)-", "", a.split()[0]) for a in attacks
             if re.match(r"(mknod|open)-\S+ refused$", a) and "planted" not in a}
    require(len(disks) == 2, f"the job did not try the SD card's and the SSD's nodes: {attacks}")
    planted = job_lines(r, "probe: planted:")
    require(planted and planted[0] != "none" and "open-planted refused" in attacks,
            f"the SD card's node planted in the machine: {planted}, attacks {attacks}")
    for a in ("remount-proc-sys refused", "write-core-pattern refused"):
        require(a in attacks, f"no '{a}' among {attacks}")


def t_boot_nspawn_run(r):
    lines = set(job_lines(r, "probe: nspawn-run:"))
    out = job_lines(r, "probe: nspawn-run output:")
    require(job_lines(r, "probe: nspawn-run exit:") == ["0"], f"nspawn-run failed: {out}")
    require(any(re.fullmatch(r"inside as root, uid_map\s+0 [1-9]\d* 65536", o.strip()) for o in out),
            f"nspawn-run's command did not run in a user namespace of its own: {out}")
    want = {"Slice=machine.slice", "DevicePolicy=closed", "DeviceAllow=char-pts rw", "DeviceAllow=/dev/net/tun rwm",
            "MemoryMax=1610612736", "TasksMax=512"}
    require(want <= lines, f"nspawn-run's scope lacks {sorted(want - lines)}; it shows {sorted(lines)}")


def t_boot_network(r):
    controls = job_lines(r, "probe: control:")
    # The host reaches its own services and the internet host: the job's refusals below mean something.
    for c in ("guest-loopback guest-loopback-secret", "guest-address guest-address-secret", "internet internet-ok"):
        require(c in controls, f"the host itself did not get '{c}': {controls} {job_lines(r, 'probe: world:')}")
    attacks = job_lines(r, "attack:")
    want = ["connect-guest-loopback refused", "connect-guest-address refused", "connect-guest-gateway refused"]
    # The uplink's address (qemu's user-mode DHCP) when the guest has one by then; the host reaches it.
    if "guest-uplink guest-address-secret" in controls:
        want.append("connect-guest-uplink refused")
    for a in want:
        require(a in attacks, f"no '{a}' among {attacks}")
    require(not [a for a in attacks if a.endswith("SUCCEEDED")], f"attacks that succeeded: {attacks}")
    require(job_lines(r, "internet:") == ["internet-ok"],
            f"the isolated job did not reach the internet host: {job_lines(r, 'internet:')} "
            f"(its interfaces: {job_lines(r, 'job interfaces:')})")


def t_no_ssd(r, img: Image):
    require(need(r, "system") == "running" and r.get("failed", "").strip() == "",
            f"without the SSD: systemd says {r.get('system')!r}, failed units {r.get('failed')!r}")
    require("No data disk" in need(r, "problems"), f"setup's problems: {r.get('problems')!r}")
    require(need(r, "daemon").startswith("active / attention") and "No data disk" in r["daemon"],
            f"nspawn-runnerd's status: {r.get('daemon')!r} (the LED shows attention with it)")
    require(need(r, "gitlab_runner") != "active", "gitlab-runner runs without the SSD: jobs would fail")
    require(need(r, "data") == "", f"something is mounted on the state dir: {r.get('data')!r}")
    status = img.fat_read("nspawn-runner-status.txt").decode(errors="replace")
    require("No data disk" in status, f"nspawn-runner-status.txt does not say why:\n{status}")


def t_gpio(r):
    lines = need(r, "gpio_lines")
    require(re.search(r"\|nspawn-runner *\) out ", lines) and re.search(r"\|nspawn-runner *\) in ", lines),
          f"nspawn-runnerd does not hold a PL061 output (LED) and input (button): {lines!r}")
    levels = need(r, "led_levels")
    require("out hi" in levels and "out lo" in levels, f"the LED line did not blink (attention): {levels!r}")
    log = need(r, "button_log")
    require("Refresh started" in log and "Status: refreshing" in log,
            f"a short press (qemu's power button) did not start a refresh: {log!r}")
    require("without a button" not in log, f"the daemon runs without its button: {log!r}")


def t_drain_poweroff(r):
    require(need(r, "previous_boot_drained") == "1",
            "the last boot did not end with nspawn-runnerd's drain and poweroff.target (nspawn-runner poweroff)")
    require(need(r, "previous_boot_sigquit") not in ("", "0"), "gitlab-runner got no SIGQUIT from the drain in the last boot")


def t_token_hidden(boot: Boot, img: Image):
    for i, r in enumerate(boot.reports, 1):
        require(TOKEN not in r["_console"], f"boot {i}: the token appeared on the console")
        require(need(r, "token_in_journal") == "0", f"boot {i}: the token appeared in the journal")
    status = img.fat_read("nspawn-runner-status.txt").decode(errors="replace")
    require(status.strip(), "nspawn-runner-status.txt is empty")
    require(TOKEN not in status, "the token is in nspawn-runner-status.txt")


def t_identity(boot: Boot, img: Image):
    a, b = boot.reports[0], boot.reports[1]
    require(re.fullmatch(r"[0-9a-f]{32}", need(a, "machine_id")), f"machine id {a.get('machine_id')!r}")
    require(need(a, "machine_id") == need(b, "machine_id"), f"machine id changed: {a['machine_id']} → {b['machine_id']}")
    require(f"systemd.machine_id={a['machine_id']}" in need(b, "cmdline"), "boot.scr did not pass the saved machine id")
    require(need(a, "host_key") and a["host_key"] == need(b, "host_key"), "the ssh host key changed across reboots")
    env = img.fat_read("identity.env").decode()
    require(f"machine_id={a['machine_id']}" in env, f"identity.env on the boot partition says {env!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--image", help="default: BUILD/nspawn-runner-rpi4.img")
    ap.add_argument("--no-boot", action="store_true", help="only inspect the image")
    ap.add_argument("--prepare-ssd", action="store_true",
                    help="only make the cached test SSD (make check-image runs this while the image builds)")
    tap.add_arguments(ap)
    args = ap.parse_args()
    build = (REPO / args.build).resolve()
    if args.prepare_ssd:
        try:
            Boot.make_ssd_cache(build)
        except Fail as e:
            sys.exit(f"check_image: {e}")
        return
    path = Path(args.image) if args.image else build / "nspawn-runner-rpi4.img"
    if os.geteuid() != 0:
        sys.exit("check_image: run as root")
    if not path.exists():
        sys.exit(f"check_image: {path} does not exist (make image)")
    s = tap.Tap()
    img = Image(path)
    for name, fn in tap.selected(IMAGE_TESTS, args.pattern):
        s.test(name, fn, img)
    if not args.no_boot:
        work = Path(tempfile.mkdtemp(prefix="check-image.", dir="/var/tmp"))
        try:
            boot_tests(s, Boot(build, work), args.pattern)
        finally:
            if s.failed == 0:
                shutil.rmtree(work, ignore_errors=True)
            else:
                print(f"# kept {work} for a look (console logs, disks)", flush=True)
    s.plan(s.n)
    sys.exit(s.summary())


IMAGE_TESTS = [
    ("image: MBR with a 256 MiB bootable FAT partition and the root after it", t_partitions),
    ("image: the boot partition's files match firmware/manifest", t_boot_files),
    ("image: config.txt starts u-boot in 64-bit mode with the mainline device tree", t_config_txt),
    ("image: boot.scr boots the kernel read-only from the root's PARTUUID", t_boot_script),
    ("image: the FAT's label is the one fstab mounts, not BOOT", t_fat_label),
    ("image: uboot.env boots at once, without USB in u-boot, only from the SD card", t_uboot_env),
    ("image: the initrd has every driver the Pi 4's SD slot needs (from its device tree)", t_initrd),
    ("image: boot.scr ignores, with a console line, a kernel-args.txt too long or with other characters",
     t_kernel_args_bad),
    ("image: root read-only in fstab, units enabled, arm64 binaries, no identity baked in", t_root_fs),
    ("image: .img.xz, .bmap and .sha256 match", t_compressed),
]


def boot_tests(s, boot, pattern):
    """The boots' tests that match pattern; the test SD and SSD are made, and the boots up to the last
    one a chosen test needs are run, in order (boot 3 without the SSD)."""
    reports = []
    sd = None

    def report(n):
        return reports[n - 1]
    tests = [  # (name, the boot it needs, test, its arguments)
        ("boot 1: multi-user reached, no failed unit", 1, t_boot_clean, lambda: (report(1),)),
        ("boot 1: the root is mounted read-only", 1, t_boot_readonly, lambda: (report(1),)),
        ("boot 1: systemd drives the watchdog (/dev/watchdog0, 15 s); modules-load.d ran", 1, t_boot_watchdog,
         lambda: (report(1),)),
        ("boot 1: kernel-args.txt on the FAT is on the kernel command line", 1, t_boot_kernel_args, lambda: (report(1),)),
        ("boot 1: the data SSD is mounted on the state dir, the journal on it", 1, t_boot_ssd, lambda: (report(1),)),
        ("boot 1: nspawn-runnerd is READY with a status line", 1, t_boot_daemon, lambda: (report(1),)),
        ("boot 1: first-boot setup ran without a problem, hostname set", 1, t_boot_setup, lambda: (report(1),)),
        ("boot 1: the runner registered (token not on the command line)", 1, t_boot_register,
         lambda: (report(1), True)),
        ("boot 1: a CI job ran through the executor in an arm64 machine (transient unit, machined)", 1, t_boot_job,
         lambda: (report(1),)),
        ("boot 1: the job's unit has its limits and DevicePolicy=closed; own user namespace; no disk node "
         "opened (made or planted), /proc/sys not remounted", 1, t_boot_containment, lambda: (report(1),)),
        ("boot 1: nspawn-run's machine in a transient scope with the jobs' devices and limits", 1, t_boot_nspawn_run,
         lambda: (report(1),)),
        ("boot 1: isolated network: the job reaches an internet host in a netns of the guest, not the "
         "guest's own services", 1, t_boot_network, lambda: (report(1),)),
        ("boot 2: multi-user reached, no failed unit", 2, t_boot_clean, lambda: (report(2),)),
        ("boot 2: not registered again", 2, t_boot_register, lambda: (report(2), False)),
        ("boot 2: a CI job ran again", 2, t_boot_job, lambda: (report(2),)),
        ("boot 2: the job's containment again", 2, t_boot_containment, lambda: (report(2),)),
        ("boot 2: isolated network again", 2, t_boot_network, lambda: (report(2),)),
        ("boot 1 ended by a drain: SIGQUIT to gitlab-runner, then poweroff.target (over D-Bus)", 2,
         t_drain_poweroff, lambda: (report(2),)),
        ("boots: the same machine id and ssh host key on both boots", 2, t_identity, lambda: (boot, sd)),
        ("boot 3, no SSD: attention with the reason in the status file, no jobs, no failed unit", 3, t_no_ssd,
         lambda: (report(3), sd)),
        ("boot 3: the LED blinks on a PL061 line (debugfs); a press of qemu's power button starts a refresh", 3,
         t_gpio, lambda: (report(3),)),
        ("boots: the token in no log, console or status file", 3, t_token_hidden, lambda: (boot, sd)),
    ]
    def prepare():
        boot.prepare_sd()
        boot.prepare_ssd()
    chosen = tap.selected(tests, pattern)
    if not chosen or not s.test("boot: the image with GITLAB_RUNNER_DEB (a stand-in package), the test SSD with an "
                                "arm64 chroot", prepare):
        return
    sd = Image(boot.disk)
    last = max(n for _, n, _, _ in chosen)
    for t in tests:
        name, n, fn, args = t
        while len(reports) < min(n, last):
            reports.append(boot.boot(len(reports) + 1, ssd=len(reports) + 1 != 3))
        if t in chosen:
            s.test(name, fn, *args())

if __name__ == "__main__":
    main()
