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

# Kernel arguments a person adds on the boot partition: kernel-args.txt, one line, e.g.
# usb-storage.quirks=152d:0578:u for a USB-SATA adapter whose UAS mode fails. u-boot cannot read a
# file into a variable, only import "name=value" lines: the file is loaded right behind "K=" and K
# imported. Accepted: at most 256 bytes of letters, digits, space and ._,:=/+@- (no quotes, $ or
# ;, which u-boot or the kernel would read as syntax); anything else is ignored with a console line.
setenv extra_args
setenv K
setexpr args_file ${ramdisk_addr_r} + 2
if load ${devtype} ${devnum}:${distro_bootpart} ${args_file} kernel-args.txt; then
	if itest ${filesize} -gt 0x100; then
		echo "nspawn-runner: kernel-args.txt is longer than 256 bytes: ignored"
	else
		mw.w ${ramdisk_addr_r} 0x3d4b 1
		setexpr args_size ${filesize} + 2
		env import -t -r ${ramdisk_addr_r} ${args_size} K
		setenv args_rest x
		setexpr args_rest gsub "[ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ._,:=/+@-]" "" "${K}"
		if test -z "${args_rest}"; then
			setenv extra_args "${K}"
			echo "nspawn-runner: kernel arguments from kernel-args.txt: ${extra_args}"
		elif test -n "${K}"; then
			echo "nspawn-runner: kernel-args.txt has characters other than letters, digits, space and ._,:=/+@-: ignored"
		fi
	fi
fi

setenv bootargs "@CMDLINE@"

echo "nspawn-runner: loading the kernel and initrd from ${devtype} ${devnum}:${distro_bootpart}"
load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} vmlinuz
load ${devtype} ${devnum}:${distro_bootpart} ${ramdisk_addr_r} initrd.img
setenv initrd_size ${filesize}
booti ${kernel_addr_r} ${ramdisk_addr_r}:${initrd_size} ${fdt_addr}
echo "nspawn-runner: booti failed"
