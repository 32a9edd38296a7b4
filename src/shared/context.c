/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "context.h"
#include "log.h"
#include "macro.h"
#include "util.h"

int job_id_check(const char *id) {
        size_t n = 0;

        for (const char *p = id; *p; p++, n++)
                if (*p < '0' || *p > '9' || n >= JOB_ID_MAX)
                        return -EINVAL;
        return n > 0 ? 0 : -EINVAL;
}

int machine_key_check(const char *key) {
        const char *dash = strchr(key, '-');
        _cleanup_free_ char *id = dash ? strndup(key, (size_t) (dash - key)) : NULL;
        size_t n = 0;

        if (!dash)
                return job_id_check(key);
        if (!id || job_id_check(id) < 0)
                return -EINVAL;
        for (const char *p = dash + 1; *p; p++, n++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')) || n >= MACHINE_KEY_RANDOM_LEN)
                        return -EINVAL;
        return n == MACHINE_KEY_RANDOM_LEN ? 0 : -EINVAL;
}

int machine_key_new(const char *job_id, char **ret) {
        uint32_t random;

        if (job_id_check(job_id) < 0)
                return -EINVAL;
        if (getrandom(&random, sizeof(random), 0) != (ssize_t) sizeof(random))
                return -errno ?: -EIO;
        *ret = strprintf("%s-%08" PRIx32, job_id, random);
        return *ret ? 0 : -ENOMEM;
}

int job_id_resolve(const char *arg, const char **ret) {
        const char *key = getenv(MACHINE_KEY_ENV), *job_id = getenv("CUSTOM_ENV_CI_JOB_ID");
        const char *id = arg ?: !isempty(key) ? key : job_id;
        const char *rest = id == key && job_id ? startswith(key, job_id) : NULL;

        if (!id)
                return log_error_errno(EINVAL, "No job id: pass --id or set CUSTOM_ENV_CI_JOB_ID.");
        if (machine_key_check(id) < 0)
                return log_error_errno(EINVAL, "Invalid job id '%.32s%s': expected 1 to %d digits%s.", id,
                                       strlen(id) > 32 ? "…" : "", JOB_ID_MAX,
                                       id == key ? " and 8 hex digits (" MACHINE_KEY_ENV ", from gitlab-config)" : "");
        if (id == key && job_id && (!rest || rest[0] != '-'))
                return log_error_errno(EINVAL, "%s=%.40s is not a key of job '%.32s' (CUSTOM_ENV_CI_JOB_ID).", MACHINE_KEY_ENV,
                                       key, job_id);
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
