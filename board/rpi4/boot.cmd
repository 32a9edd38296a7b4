# u-boot script of the nspawn-runner appliance (compiled to boot.scr with mkimage -T script).
# The same script boots the Raspberry Pi 4 (u-boot-rpi) and qemu's virt machine in CI (u-boot-qemu):
# it uses distro boot's ${devtype} ${devnum}:${distro_bootpart} and the device tree u-boot was given.

# The Debian arm64 kernel is about 32 MiB uncompressed: on the Pi, load it above u-boot's defaults,
# which would leave it overlapping the ramdisk and this script.
if test "${board}" = "rpi"; then
	setenv kernel_addr_r 0x04000000
	setenv ramdisk_addr_r 0x08000000
	setenv console ttyS1,115200
else
	setenv console ttyAMA0,115200
fi

# The root filesystem is the second partition, found by its PARTUUID (no fixed disk id in the image).
part uuid ${devtype} ${devnum}:2 root_partuuid

# The box's machine id, once first boot wrote it: identity stays the same across reboots with a
# read-only root (systemd takes systemd.machine_id= from the command line).
setenv machine_id_arg
# (loaded where the initrd goes later: scriptaddr holds this script)
if load ${devtype} ${devnum}:${distro_bootpart} ${ramdisk_addr_r} identity.env; then
	env import -t ${ramdisk_addr_r} ${filesize} machine_id
	if test -n "${machine_id}"; then
		setenv machine_id_arg systemd.machine_id=${machine_id}
	fi
fi

setenv bootargs "@CMDLINE@"

echo "nspawn-runner: loading the kernel and initrd from ${devtype} ${devnum}:${distro_bootpart}"
load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} vmlinuz
load ${devtype} ${devnum}:${distro_bootpart} ${ramdisk_addr_r} initrd.img
setenv initrd_size ${filesize}
booti ${kernel_addr_r} ${ramdisk_addr_r}:${initrd_size} ${fdt_addr}
echo "nspawn-runner: booti failed"
