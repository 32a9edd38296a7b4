/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <unistd.h>

#include "context.h"
#include "gitlab.h"
#include "machine.h"
#include "util.h"

#ifndef VERSION
#define VERSION "0"
#endif

/* Both JSON and TOML basic strings escape '"', '\' and control characters alike, but only JSON
 * knows \u escapes below 0x20 as the one form, so both use \uXXXX there. */
static void write_quoted(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p == '\n')
                        fputs("\\n", f);
                else if (*p == '\t')
                        fputs("\\t", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f);
        }
        fputc('"', f);
}

void json_write_string(FILE *f, const char *s) {
        write_quoted(f, s);
}

void toml_write_string(FILE *f, const char *s) {
        write_quoted(f, s);
}

int gitlab_config_write(const Context *c, FILE *f) {
        const char *id = getenv("CUSTOM_ENV_CI_JOB_ID");
        char host[256] = "";
        _cleanup_free_ char *hostname = NULL, *key = NULL;
        int r;

        (void) c;
        /* config runs once per prepare attempt: the key it hands on is that attempt's alone. */
        if (id && job_id_check(id) >= 0) {
                r = machine_key_new(id, &key);
                if (r < 0)
                        return r;
                hostname = strprintf(MACHINE_NAME_PREFIX "%s", key);
        } else if (gethostname(host, sizeof(host) - 1) >= 0)
                hostname = strdup(host);
        if (!hostname)
                return -ENOMEM;

        fputs("{\"builds_dir\": ", f);
        json_write_string(f, BUILDS_DIR);
        fputs(", \"cache_dir\": ", f);
        json_write_string(f, CACHE_DIR);
        fputs(", \"builds_dir_is_shared\": false, \"shell\": ", f);
        json_write_string(f, GITLAB_SHELL);
        fputs(", \"hostname\": ", f);
        json_write_string(f, hostname);
        fputs(", \"driver\": {\"name\": \"nspawn-runner\", \"version\": ", f);
        json_write_string(f, VERSION);
        fputs("}", f);
        if (key) {
                fputs(", \"job_env\": {\"" MACHINE_KEY_ENV "\": ", f);
                json_write_string(f, key);
                fputs("}", f);
        }
        fputs("}\n", f);
        return fflush(f) == 0 ? 0 : -EIO;
}

const GitlabExec gitlab_execs[GITLAB_EXECS] = {
        { "config", "gitlab-config", 200 },
        { "prepare", "prepare", 300 },
        { "run", "run", 0 },
        { "cleanup", "cleanup", 300 },
};

size_t gitlab_exec_args(const Context *c, const GitlabExec *e, const char *default_image,
                        const char *ret[GITLAB_EXEC_ARGS_MAX]) {
        size_t n = 0;

        if (!streq(c->state_dir, DEFAULT_STATE_DIR)) {
                ret[n++] = "--state-dir";
                ret[n++] = c->state_dir;
        }
        ret[n++] = e->command;
        if (default_image && streq(e->key, "prepare")) {
                ret[n++] = "--default-image";
                ret[n++] = default_image;
        }
        return n;
}

static void write_args(FILE *f, const Context *c, const GitlabExec *e, const char *default_image) {
        const char *args[GITLAB_EXEC_ARGS_MAX];
        size_t n = gitlab_exec_args(c, e, default_image, args);

        fputs("[", f);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        fputs(", ", f);
                toml_write_string(f, args[i]);
        }
        fputs("]", f);
}

int gitlab_toml_write(const Context *c, const char *self, const char *default_image, FILE *f) {
        char host[256] = "localhost";

        (void) gethostname(host, sizeof(host) - 1);
        fputs("[[runners]]\n  name = ", f);
        toml_write_string(f, host);
        fputs("\n  url = \"https://gitlab.example.com/\"  # your GitLab\n"
              "  token = \"glrt-REPLACE-ME\"  # the runner's authentication token\n"
              "  executor = \"custom\"\n"
              "  shell = \"" GITLAB_SHELL "\"\n"
              "  builds_dir = \"" BUILDS_DIR "\"\n"
              "  cache_dir = \"" CACHE_DIR "\"\n"
              "  [runners.custom]\n",
              f);
        for (size_t i = 0; i < GITLAB_EXECS; i++) {
                const GitlabExec *e = &gitlab_execs[i];
                fprintf(f, "    %s_exec = ", e->key);
                toml_write_string(f, self);
                fprintf(f, "\n    %s_args = ", e->key);
                write_args(f, c, e, default_image);
                fputs("\n", f);
                if (e->timeout)
                        fprintf(f, "    %s_exec_timeout = %u\n", e->key, e->timeout);
        }
        fprintf(f, "    graceful_kill_timeout = %u\n    force_kill_timeout = %u\n", GITLAB_GRACEFUL_KILL_TIMEOUT,
                GITLAB_FORCE_KILL_TIMEOUT);
        return fflush(f) == 0 ? 0 : -EIO;
}
