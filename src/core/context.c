/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "context.h"
#include "log.h"
#include "util.h"

int job_id_check(const char *id) {
        size_t n = 0;

        for (const char *p = id; *p; p++, n++)
                if (*p < '0' || *p > '9' || n >= JOB_ID_MAX)
                        return -EINVAL;
        return n > 0 ? 0 : -EINVAL;
}

int job_id_resolve(const char *arg, const char **ret) {
        const char *id = arg ?: getenv("CUSTOM_ENV_CI_JOB_ID");

        if (!id)
                return log_error_errno(EINVAL, "No job id: pass --id or set CUSTOM_ENV_CI_JOB_ID.");
        if (job_id_check(id) < 0)
                return log_error_errno(EINVAL, "Invalid job id '%.32s%s': expected 1 to %d digits.", id,
                                       strlen(id) > 32 ? "…" : "", JOB_ID_MAX);
        *ret = id;
        return 0;
}

int exit_code_from_env(const char *name, int def) {
        const char *v = getenv(name);
        int code;

        if (!v || safe_atoi(v, &code) < 0 || code < 0 || code > 255)
                return def;
        return code;
}

char *context_machines_dir(const Context *c) {
        return path_join(c->state_dir, ".machines");
}

char *context_machine_dir(const Context *c, const char *id) {
        return strprintf("%s/.machines/%s", c->state_dir, id);
}

char *context_cache_dir(const Context *c) {
        return path_join(c->state_dir, ".cache");
}

char *context_image_dir(const Context *c, const char *name) {
        return path_join(c->state_dir, name);
}
