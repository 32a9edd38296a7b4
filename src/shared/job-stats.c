/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>

#include "job-stats.h"
#include "kv.h"
#include "util.h"

#define JOB_STATS_SIZE_MAX 4096U

typedef struct Counts {
        uint64_t total, failed;
} Counts;

static int assignment(const char *key, const char *value, unsigned line _unused_, void *userdata) {
        Counts *c = userdata;

        if (streq(key, "jobs_total"))
                return safe_atou64(value, &c->total);
        if (streq(key, "jobs_failed"))
                return safe_atou64(value, &c->failed);
        return 0; /* from a newer version */
}

static int parse(int fd, Counts *ret) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        unsigned line;
        int r;

        *ret = (Counts) {};
        r = read_full_fd(fd, JOB_STATS_SIZE_MAX, &text, &size);
        if (r < 0)
                return r;
        return kv_parse(text, size, assignment, ret, &line);
}

static int open_stats(const char *state_dir, int flags, int lock, int *ret_fd) {
        _cleanup_free_ char *path = path_join(state_dir, JOB_STATS_FILE);
        _cleanup_close_ int fd = -EBADF;

        if (!path)
                return -ENOMEM;
        fd = open(path, flags | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return -errno;
        if (flock(fd, lock) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int job_stats_load(const char *state_dir, uint64_t *ret_total, uint64_t *ret_failed) {
        _cleanup_close_ int fd = -EBADF;
        Counts c = {};
        int r;

        r = open_stats(state_dir, O_RDONLY, LOCK_SH, &fd);
        if (r >= 0)
                r = parse(fd, &c);
        if (r == -ENOENT) {
                c = (Counts) {};
                r = 0;
        }
        *ret_total = c.total;
        *ret_failed = c.failed;
        return r;
}

int job_stats_record(const char *state_dir, bool failed) {
        _cleanup_close_ int fd = -EBADF;
        char buf[128];
        Counts c;
        int r;

        r = open_stats(state_dir, O_RDWR | O_CREAT, LOCK_EX, &fd);
        if (r < 0)
                return r;
        if (parse(fd, &c) < 0)
                c = (Counts) {}; /* damaged: start over rather than never count again */
        c.total++;
        if (failed)
                c.failed++;
        snprintf(buf, sizeof(buf), "jobs_total=%" PRIu64 "\njobs_failed=%" PRIu64 "\n", c.total, c.failed);
        if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return loop_write(fd, buf, strlen(buf));
}
