/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Registers the runner with GitLab once (gitlab-runner register --non-interactive, the executor's own
 * values, the token through the environment), and keeps config.toml's `concurrent` as configured. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appliance.h"
#include "argv.h"
#include "gitlab.h"
#include "log.h"
#include "util.h"

/* gitlab-runner reads --token from here: the token never shows in ps or /proc/PID/cmdline. */
#define TOKEN_ENV "CI_SERVER_TOKEN"

static const char *skip_blanks(const char *s, const char *end) {
        while (s < end && (*s == ' ' || *s == '\t'))
                s++;
        return s;
}

/* Whether [s, end) starts with word, then blanks, then what (a TOML key and '=', or a table header). */
static bool word_then(const char *s, const char *end, const char *word, const char *what) {
        size_t l = strlen(word), lw = strlen(what);

        if ((size_t) (end - s) < l || memcmp(s, word, l) != 0)
                return false;
        s = skip_blanks(s + l, end);
        return (size_t) (end - s) >= lw && memcmp(s, what, lw) == 0;
}

int gitlab_runner_config_edit(const char *text, size_t size, unsigned concurrent, char **ret, bool *ret_has_runners) {
        const char *p = text, *end = text + size;
        _cleanup_free_ char *body = NULL;
        bool top = true, found = false, has_runners = false;
        MemStream ms;
        FILE *f;

        if (size > GITLAB_RUNNER_CONFIG_MAX)
                return -EFBIG;
        if (memchr(text, 0, size))
                return -EINVAL;
        f = memstream_open(&ms);
        if (!f)
                return -ENOMEM;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)), *eol = nl ?: end, *s = skip_blanks(p, eol);

                if (s < eol && *s == '[') {
                        top = false;
                        if (eol - s >= 2 && s[1] == '[' && word_then(skip_blanks(s + 2, eol), eol, "runners", "]]"))
                                has_runners = true;
                }
                if (top && word_then(s, eol, "concurrent", "=")) {
                        if (!found) /* a second one would make the file invalid TOML: dropped */
                                fprintf(f, "concurrent = %u\n", concurrent);
                        found = true;
                } else {
                        fwrite(p, 1, (size_t) (eol - p), f);
                        fputc('\n', f);
                }
                p = nl ? nl + 1 : end;
        }
        body = memstream_finish(&ms);
        if (!body)
                return -ENOMEM;
        *ret = found ? TAKE_PTR(body) : strprintf("concurrent = %u\n%s", concurrent, body ?: "");
        if (!*ret)
                return -ENOMEM;
        *ret_has_runners = has_runners;
        return 0;
}

/* The flags that make the same [[runners]] section as `nspawn-runner toml`. */
static int register_argv(const Context *c, const Config *cfg, const char *config_toml, Argv *a) {
        _cleanup_free_ char *self = NULL;
        int r;

        r = sibling_binary_path("nspawn-runner", &self);
        if (r < 0)
                return log_error_errno(r, "Cannot find this program's path: %m");
        /* "--flag value", as gitlab-runner's documentation writes them (it takes "--flag=value" too). */
        argv_add(a, "gitlab-runner");
        argv_add(a, "register");
        argv_add(a, "--non-interactive");
        argv_add(a, "--config");
        argv_add(a, config_toml);
        argv_add(a, "--url");
        argv_add(a, cfg->gitlab_url);
        if (cfg->hostname) {
                argv_add(a, "--name");
                argv_add(a, cfg->hostname);
        }
        argv_add(a, "--executor");
        argv_add(a, "custom");
        argv_add(a, "--builds-dir");
        argv_add(a, BUILDS_DIR);
        argv_add(a, "--cache-dir");
        argv_add(a, CACHE_DIR);
        for (size_t i = 0; i < GITLAB_EXECS; i++) {
                const GitlabExec *e = &gitlab_execs[i];
                const char *args[GITLAB_EXEC_ARGS_MAX];
                size_t n = gitlab_exec_args(c, e, NULL, args);

                argv_addf(a, "--custom-%s-exec", e->key);
                argv_add(a, self);
                for (size_t k = 0; k < n; k++) {
                        argv_addf(a, "--custom-%s-args", e->key);
                        argv_add(a, args[k]);
                }
                if (e->timeout) {
                        argv_addf(a, "--custom-%s-exec-timeout", e->key);
                        argv_addf(a, "%u", e->timeout);
                }
        }
        argv_add(a, "--custom-graceful-kill-timeout");
        argv_addf(a, "%u", GITLAB_GRACEFUL_KILL_TIMEOUT);
        argv_add(a, "--custom-force-kill-timeout");
        argv_addf(a, "%u", GITLAB_FORCE_KILL_TIMEOUT);
        return a->error < 0 ? log_error_errno(a->error, "Cannot build gitlab-runner's command line: %m") : 0;
}

static int run_register(const Context *c, const Config *cfg, const char *config_toml, Problems *p) {
        _cleanup_(argv_done) Argv a = ARGV_INIT;
        _cleanup_free_ char *exe = NULL, *env0 = NULL, *last = NULL, *dir = strdup(config_toml);
        char *slash;
        int r;

        if (find_in_path("gitlab-runner", &exe) < 0) {
                problem_add(p, "gitlab-runner is not installed: this image was built without GITLAB_RUNNER_DEB");
                return -ENOENT;
        }
        if (!dir || !(env0 = strprintf(TOKEN_ENV "=%s", cfg->runner_token)))
                return log_oom();
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                r = mkdir_p(dir, 0700);
                if (r < 0) {
                        problem_add(p, "Cannot create %s: %s", dir, strerror(-r));
                        return r;
                }
        }
        r = register_argv(c, cfg, config_toml, &a);
        if (r < 0)
                return r;
        log_notice("registration: registering the runner with %s …", cfg->gitlab_url);
        r = appliance_spawn(a.v, (char *const[]) { env0, NULL }, cfg->runner_token, &last);
        explicit_bzero(env0, strlen(env0));
        if (r != 0) {
                problem_add(p, "Registering the runner with %s failed: %s", cfg->gitlab_url,
                            r < 0 ? strerror(-r) : last && *last ? last : "gitlab-runner register failed");
                return -EIO;
        }
        return 0;
}

/* config.toml as it is (empty when missing) and as it should be, replacing what *ret_* held. */
static int load_edited(const char *path, unsigned concurrent, char **ret_text, char **ret_edited, bool *ret_has_runners) {
        _cleanup_free_ char *text = NULL, *edited = NULL;
        size_t size = 0;
        int r;

        r = read_full_file(path, GITLAB_RUNNER_CONFIG_MAX, &text, &size);
        if (r == -ENOENT)
                r = (text = strdup("")) ? 0 : -ENOMEM;
        if (r >= 0)
                r = gitlab_runner_config_edit(text, size, concurrent, &edited, ret_has_runners);
        if (r < 0)
                return r;
        free(*ret_text);
        free(*ret_edited);
        *ret_text = TAKE_PTR(text);
        *ret_edited = TAKE_PTR(edited);
        return 0;
}

void appliance_register(const Context *c, const Config *cfg, const char *config_toml, Problems *p) {
        _cleanup_free_ char *text = NULL, *edited = NULL;
        bool has_runners;
        int r;

        r = load_edited(config_toml, cfg->concurrent, &text, &edited, &has_runners);
        if (r < 0) {
                problem_add(p, "Cannot read %s: %s", config_toml, strerror(-r));
                return;
        }
        if (!has_runners) {
                if (!cfg->gitlab_url || !cfg->runner_token) {
                        problem_add(p, "The runner is not registered: set %s in nspawn-runner.conf",
                                           !cfg->gitlab_url && !cfg->runner_token ? "gitlab_url and runner_token"
                                           : !cfg->gitlab_url                      ? "gitlab_url"
                                                                                   : "runner_token");
                        return;
                }
                if (run_register(c, cfg, config_toml, p) < 0)
                        return;
                r = load_edited(config_toml, cfg->concurrent, &text, &edited, &has_runners);
                if (r < 0 || !has_runners) {
                        problem_add(p, "gitlab-runner register succeeded, but %s has no [[runners]] section", config_toml);
                        return;
                }
                log_notice("registration: registered with %s (%s).", cfg->gitlab_url, config_toml);
        } else
                log_notice("registration: already registered (%s has a [[runners]] section).", config_toml);

        if (streq(text, edited))
                return;
        r = write_file_atomic(config_toml, edited, 0600);
        if (r < 0) {
                problem_add(p, "Cannot write %s: %s", config_toml, strerror(-r));
                return;
        }
        log_notice("registration: concurrent = %u in %s.", cfg->concurrent, config_toml);
}
