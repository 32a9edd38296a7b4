/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "kv.h"
#include "log.h"
#include "machine-state.h"
#include "userns.h"
#include "util.h"

void machine_state_done(MachineState *s) {
        free(s->image);
        free(s->image_path);
        free(s->unit);
        free(s->cache_subdir);
        *s = (MachineState) MACHINE_STATE_INIT;
}

static int parse_pid(const char *v, pid_t *ret) {
        uint64_t u;
        int r = safe_atou64(v, &u);
        if (r < 0)
                return r;
        if (u < 1 || u > 4194304) /* PID_MAX_LIMIT */
                return -ERANGE;
        *ret = (pid_t) u;
        return 0;
}

static int set_string(char **field, const char *v) {
        if (isempty(v) || strlen(v) > 4096)
                return -EINVAL;
        return free_and_strdup(field, v);
}

static int parse_assignment(MachineState *s, const char *key, const char *v) {
        if (streq(key, "image"))
                return set_string(&s->image, v);
        if (streq(key, "image_path"))
                return v[0] == '/' ? set_string(&s->image_path, v) : -EINVAL;
        if (streq(key, "unit"))
                return set_string(&s->unit, v);
        if (streq(key, "backend")) {
                s->backend = storage_backend_from_string(v);
                return s->backend < 0 ? -EINVAL : 0;
        }
        if (streq(key, "cache_subdir"))
                return cache_subdir_check(v) >= 0 ? set_string(&s->cache_subdir, v) : -EINVAL;
        if (streq(key, "uid_base")) {
                uint64_t u;
                int r = safe_atou64(v, &u);
                if (r < 0)
                        return r;
                if (u > UINT32_MAX || !userns_base_valid((uid_t) u))
                        return -ERANGE;
                s->uid_base = (uid_t) u;
                return 0;
        }
        if (streq(key, "suppress_sync")) {
                if (!streq(v, "0") && !streq(v, "1"))
                        return -EINVAL;
                s->suppress_sync = streq(v, "1");
                return 0;
        }
        if (streq(key, "nspawn_pid"))
                return parse_pid(v, &s->nspawn.pid);
        if (streq(key, "init_pid"))
                return parse_pid(v, &s->init.pid);
        if (streq(key, "nspawn_start"))
                return safe_atou64(v, &s->nspawn.start_time);
        if (streq(key, "init_start"))
                return safe_atou64(v, &s->init.start_time);
        return 0; /* written by a newer version: not ours to judge */
}

static int parse_cb(const char *key, const char *value, unsigned line, void *userdata) {
        (void) line;
        return parse_assignment(userdata, key, value);
}

int machine_state_parse(const char *text, size_t size, MachineState *ret, unsigned *ret_line) {
        MachineState s = MACHINE_STATE_INIT;
        int r;

        if (size > MACHINE_STATE_SIZE_MAX)
                return -EBADMSG;
        r = kv_parse(text, size, parse_cb, &s, ret_line);
        if (r < 0) {
                machine_state_done(&s);
                return r;
        }
        /* A start time names nothing without its PID. */
        if (s.nspawn.pid == 0)
                s.nspawn.start_time = 0;
        if (s.init.pid == 0)
                s.init.start_time = 0;
        *ret = s;
        return 0;
}

char *machine_state_format(const MachineState *s) {
        MemStream ms;
        FILE *f = memstream_open(&ms);

        if (!f)
                return NULL;
        if (s->image)
                fprintf(f, "image=%s\n", s->image);
        if (s->image_path)
                fprintf(f, "image_path=%s\n", s->image_path);
        if (s->backend >= 0)
                fprintf(f, "backend=%s\n", storage_backend_to_string(s->backend));
        if (s->unit)
                fprintf(f, "unit=%s\n", s->unit);
        if (s->cache_subdir)
                fprintf(f, "cache_subdir=%s\n", s->cache_subdir);
        if (s->uid_base > 0)
                fprintf(f, "uid_base=%u\n", (unsigned) s->uid_base);
        if (s->suppress_sync)
                fputs("suppress_sync=1\n", f);
        if (s->nspawn.pid > 0)
                fprintf(f, "nspawn_pid=%d\nnspawn_start=%llu\n", (int) s->nspawn.pid,
                        (unsigned long long) s->nspawn.start_time);
        if (s->init.pid > 0)
                fprintf(f, "init_pid=%d\ninit_start=%llu\n", (int) s->init.pid,
                        (unsigned long long) s->init.start_time);
        return memstream_finish(&ms);
}

int machine_state_load(const char *path, MachineState *ret) {
        _cleanup_free_ char *text = NULL;
        unsigned line = 0;
        size_t size;
        int r;

        r = read_full_file(path, MACHINE_STATE_SIZE_MAX, &text, &size);
        if (r < 0)
                return r;
        r = machine_state_parse(text, size, ret, &line);
        if (r < 0)
                return log_error_errno(r, "%s:%u: invalid machine state: %m", path, line);
        return 0;
}

int machine_state_save(const char *path, const MachineState *s) {
        _cleanup_free_ char *text = machine_state_format(s);

        if (!text)
                return -ENOMEM;
        return write_file_atomic(path, text, 0600);
}
