/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The data disk: wait for the btrfs labelled NSPAWN-DATA on the state dir, and format the configured
 * disk only when it carries nothing at all. */
#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "appliance.h"
#include "log.h"
#include "time-util.h"
#include "unit.h"
#include "util.h"

#define POLL_MSEC 250

bool data_disk_mounted(const char *state_dir) {
        _cleanup_close_ int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char label[BTRFS_LABEL_SIZE] = "";
        struct statx stx;
        struct statfs sfs;

        if (fd < 0 || fstatfs(fd, &sfs) < 0 || sfs.f_type != BTRFS_SUPER_MAGIC)
                return false;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) < 0 || !(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
            !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
                return false;
        if (ioctl(fd, BTRFS_IOC_GET_FSLABEL, label) < 0)
                return false;
        label[sizeof(label) - 1] = 0;
        return streq(label, DATA_DISK_LABEL);
}

int disk_probe_blank(const char *dev, char **ret_found) {
        blkid_probe pr;
        const char *v = NULL;
        int r;

        pr = blkid_new_probe_from_filename(dev);
        if (!pr)
                return errno > 0 ? -errno : -EIO;
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_BADCSUM);
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
        r = blkid_do_safeprobe(pr);
        if (r == 1) {
                blkid_free_probe(pr);
                return 1;
        }
        if (r == 0 && blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0) {
                const char *label = NULL;
                (void) blkid_probe_lookup_value(pr, "LABEL", &label, NULL);
                *ret_found = label ? strprintf("%s labelled %s", v, label) : strdup(v);
        } else if (r == 0 && blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL) == 0)
                *ret_found = strprintf("a %s partition table", v);
        else if (r == -2)
                *ret_found = strdup("more than one signature");
        else if (r == 0)
                *ret_found = strdup("a signature");
        blkid_free_probe(pr);
        if (r < 0 && r != -2)
                return -EIO;
        return *ret_found ? 0 : -ENOMEM;
}

static bool is_block_device(const char *dev) {
        struct stat st;
        return stat(dev, &st) >= 0 && S_ISBLK(st.st_mode);
}

/* On the appliance, the state dir's mount unit waited for the label before there was one: start it now. */
static void start_mount_unit(const char *state_dir) {
        _cleanup_free_ char *unit = NULL;
        int r;

        if (!unit_manager_available() || unit_name_from_path(state_dir, ".mount", &unit) < 0)
                return;
        r = unit_start(unit, "replace");
        if (r < 0)
                log_warning_errno(r, "data disk: cannot start %s: %m", unit);
        else
                log_notice("data disk: asked systemd to start %s.", unit);
}

static int format_disk(const char *dev, const char *state_dir, Problems *p) {
        _cleanup_free_ char *last = NULL;
        char *argv[] = { (char *) "mkfs.btrfs", (char *) "-q", (char *) "-L", (char *) DATA_DISK_LABEL, (char *) dev, NULL };
        int r;

        log_notice("data disk: %s is blank, formatting it as btrfs labelled " DATA_DISK_LABEL " …", dev);
        /* Without -f: mkfs.btrfs itself refuses a disk with a signature, should one have appeared. */
        r = appliance_spawn(argv, NULL, NULL, &last);
        if (r == -ENOENT) {
                problem_add(p, "mkfs.btrfs is not installed: cannot format data_disk %s", dev);
                return r;
        }
        if (r != 0) {
                problem_add(p, "Formatting data_disk %s failed: %s", dev, r < 0 ? strerror(-r) : last && *last ? last : "mkfs.btrfs failed");
                return -EIO;
        }
        log_notice("data disk: formatted %s; waiting for it to be mounted.", dev);
        start_mount_unit(state_dir);
        return 0;
}

bool appliance_data_disk(const Context *c, const Config *cfg, unsigned wait_sec, Problems *p) {
        const char *dev = cfg->data_disk;
        uint64_t deadline = now_monotonic_usec() + (uint64_t) wait_sec * USEC_PER_SEC;
        bool formatted = false, tried = false, used = false;

        log_notice("data disk: waiting up to %u s for %s to be mounted from " DATA_DISK_LABEL " …", wait_sec, c->state_dir);
        for (;;) {
                if (data_disk_mounted(c->state_dir)) {
                        log_notice("data disk: %s is on the btrfs labelled " DATA_DISK_LABEL ".", c->state_dir);
                        return true;
                }
                /* A blank disk will not become the data disk by waiting: format it at once. */
                if (dev && !tried && !used && is_block_device(dev)) {
                        _cleanup_free_ char *found = NULL;
                        int r = disk_probe_blank(dev, &found);
                        if (r > 0) {
                                tried = true;
                                formatted = format_disk(dev, c->state_dir, p) >= 0;
                                if (formatted)
                                        deadline = now_monotonic_usec() + (uint64_t) wait_sec * USEC_PER_SEC;
                        } else if (r == 0)
                                used = true;
                }
                if (now_monotonic_usec() >= deadline)
                        break;
                (void) usleep(POLL_MSEC * 1000);
        }

        if (dev && formatted)
                problem_add(p, "data_disk %s was formatted, but it was not mounted on %s within %u s", dev, c->state_dir, wait_sec);
        else if (dev && !tried && !is_block_device(dev))
                problem_add(p, "data_disk %s is not there (or not a disk)", dev);
        else if (dev && !tried) {
                _cleanup_free_ char *found = NULL;
                int r = disk_probe_blank(dev, &found);
                if (r < 0)
                        problem_add(p, "data_disk %s cannot be probed: %s", dev, strerror(-r));
                else if (r == 0 && strstr(found, "btrfs labelled " DATA_DISK_LABEL))
                        problem_add(p, "data_disk %s holds " DATA_DISK_LABEL " but it is not mounted on %s", dev, c->state_dir);
                else if (r == 0)
                        problem_add(p, "data_disk %s is not blank (found %s): not formatting it", dev, found);
        }
        problem_add(p, "No data disk (a btrfs filesystem labelled " DATA_DISK_LABEL "): no jobs will run");
        return false;
}
