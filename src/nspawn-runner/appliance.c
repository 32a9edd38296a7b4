/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runner appliance-setup: the steps in their order, the problems they find, and the few
 * things the steps share (running a helper program, scrubbing the token). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "appliance.h"
#include "daemon.h"
#include "image-name.h"
#include "image.h"
#include "kv.h"
#include "log.h"
#include "util.h"

#define IDENTITY_FILE "identity.env"
#define MACHINE_ID_FILE "/etc/machine-id"
#define SPAWN_LINE_MAX 1024

extern char **environ;

static bool token_char(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
               ch == '-';
}

char *secret_scrub(const char *s, const char *secret) {
        size_t n = strlen(s), ls = secret ? strlen(secret) : 0, out = 0;
        char *r = malloc(n * 2 + 8); /* "[token]" replaces at least 6 characters */

        if (!r)
                return NULL;
        for (size_t i = 0; i < n;) {
                size_t j = i;
                while (j < n && token_char(s[j]))
                        j++;
                if (j - i >= 6 && ls > 0 &&
                    (memmem(secret, ls, s + i, j - i) || memmem(s + i, j - i, secret, ls))) {
                        memcpy(r + out, "[token]", 7);
                        out += 7;
                } else {
                        memcpy(r + out, s + i, j - i);
                        out += j - i;
                }
                if (j == i)
                        r[out++] = s[j++];
                i = j;
        }
        r[out] = 0;
        return r;
}

void problem_add(Problems *p, const char *format, ...) {
        char buf[PROBLEM_LINE_MAX];
        char *line;
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        for (char *q = buf; *q; q++)
                if ((unsigned char) *q < ' ')
                        *q = ' ';
        line = secret_scrub(buf, p->secret);
        log_error("Problem: %s", line ?: buf);
        if (!line || p->n >= PROBLEMS_MAX) {
                free(line);
                return;
        }
        p->lines[p->n++] = line;
}

void problems_done(Problems *p) {
        for (size_t i = 0; i < p->n; i++)
                free(p->lines[i]);
        p->n = 0;
}

/* Our environment, with the assignments of extra replacing those of the same name. */
static char **env_merge(char *const *extra) {
        size_t n = 0, k = 0, ne = 0;
        char **env;

        while (environ[n])
                n++;
        while (extra && extra[ne])
                ne++;
        env = calloc(n + ne + 1, sizeof(char *));
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                bool replaced = false;
                for (size_t e = 0; e < ne && !replaced; e++) {
                        size_t l = strcspn(extra[e], "=");
                        replaced = strncmp(environ[i], extra[e], l + 1) == 0;
                }
                if (!replaced)
                        env[k++] = environ[i];
        }
        for (size_t e = 0; e < ne; e++)
                env[k++] = extra[e];
        return env;
}

/* Passes one line of the program's stderr on to ours, without the secret, and keeps it as the last. */
static void stderr_line(char *line, const char *secret, char *last) {
        _cleanup_free_ char *clean = NULL;

        line[strcspn(line, "\r")] = 0;
        if (!line[strspn(line, " \t")])
                return;
        clean = secret_scrub(line, secret);
        if (!clean)
                return;
        (void) loop_write(STDERR_FILENO, clean, strlen(clean));
        (void) loop_write(STDERR_FILENO, "\n", 1);
        snprintf(last, SPAWN_LINE_MAX + 1, "%s", clean);
}

int appliance_spawn(char *const *argv, char *const *extra_env, const char *secret, char **ret_last_line) {
        _cleanup_free_ char **env = NULL, *exe = NULL;
        _cleanup_close_ int rd = -EBADF, wr = -EBADF;
        posix_spawn_file_actions_t fa;
        char line[SPAWN_LINE_MAX + 1], last[SPAWN_LINE_MAX + 1] = "";
        size_t len = 0;
        pid_t pid;
        int p[2], r, status;

        r = find_in_path(argv[0], &exe);
        if (r < 0)
                return r;
        env = env_merge(extra_env);
        if (!env || pipe2(p, O_CLOEXEC) < 0)
                return -ENOMEM;
        rd = p[0];
        wr = p[1];
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, wr, STDERR_FILENO);
        (void) fflush(stdout);
        r = posix_spawn(&pid, exe, &fa, NULL, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        closep(&wr);

        for (;;) {
                char buf[4096];
                ssize_t n = read(rd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] != '\n') {
                                if (len < SPAWN_LINE_MAX) /* the rest of a too long line is dropped */
                                        line[len++] = buf[i];
                                continue;
                        }
                        line[len] = 0;
                        stderr_line(line, secret, last);
                        len = 0;
                }
        }
        line[len] = 0;
        stderr_line(line, secret, last);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (ret_last_line) {
                *ret_last_line = strdup(last);
                if (!*ret_last_line)
                        return -ENOMEM;
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void set_hostname(const Config *cfg, Problems *p) {
        if (!cfg->hostname) {
                log_notice("hostname: not configured, left as it is.");
                return;
        }
        if (sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
                problem_add(p, "Cannot set the host name to %s: %s", cfg->hostname, strerror(errno));
        else
                log_notice("hostname: set to %s.", cfg->hostname);
}

static bool machine_id_valid(const char *s) {
        if (strlen(s) != 32)
                return false;
        for (const char *q = s; *q; q++)
                if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')))
                        return false;
        return true;
}

static int identity_assignment(const char *key, const char *value, unsigned line, void *userdata) {
        char **id = userdata;
        (void) line;
        if (streq(key, "machine_id") && machine_id_valid(value))
                return free_and_strdup(id, value);
        return 0;
}

/* BOOT/identity.env (boot.scr passes it on as systemd.machine_id=) and its copy on the SSD: a new
 * SD card gets the box's identity back from the SSD; a first boot keeps the id systemd made up. */
static void machine_id(const char *boot_dir, const char *appliance_dir, Problems *p) {
        _cleanup_free_ char *identity = path_join(boot_dir, IDENTITY_FILE), *copy = NULL, *id = NULL, *saved = NULL,
                            *contents = NULL;
        const char *from;
        int r;

        if (!identity || (appliance_dir && !(copy = path_join(appliance_dir, "machine-id"))))
                return (void) log_oom();
        r = kv_parse_file(identity, 4096, identity_assignment, &id, NULL);
        if (r < 0 && r != -ENOENT) {
                problem_add(p, "%s cannot be read: %s", identity, strerror(-r));
                return;
        }
        if (r >= 0 && !id) {
                problem_add(p, "%s has no valid machine_id= line (32 hex digits)", identity);
                return;
        }
        if (copy && read_one_line_file(copy, &saved) >= 0 && !machine_id_valid(saved)) {
                free(saved);
                saved = NULL;
        }

        if (id)
                from = "kept";
        else if (saved) {
                id = strdup(saved);
                if (!id)
                        return (void) log_oom();
                from = "restored from the data disk";
        } else {
                if (read_one_line_file(MACHINE_ID_FILE, &id) < 0 || !machine_id_valid(id)) {
                        problem_add(p, "%s holds no machine id: %s not written", MACHINE_ID_FILE, identity);
                        return;
                }
                from = "written from " MACHINE_ID_FILE;
        }
        if (!streq(from, "kept")) {
                contents = strprintf("machine_id=%s\n", id);
                if (!contents)
                        return (void) log_oom();
                r = write_file_atomic(identity, contents, 0644);
                if (r < 0) {
                        problem_add(p, "Cannot write %s: %s", identity, strerror(-r));
                        return;
                }
        }
        if (copy && !streq_ptr(saved, id)) {
                _cleanup_free_ char *line = strprintf("%s\n", id);
                r = line ? mkdir_p(appliance_dir, 0755) : -ENOMEM;
                if (r >= 0)
                        r = write_file_atomic(copy, line, 0644);
                if (r < 0) {
                        problem_add(p, "Cannot write %s: %s", copy, strerror(-r));
                        return;
                }
        }
        log_notice("machine id: %s %s (%s)%s.", id, from, identity, copy ? ", copy on the data disk" : "");
}

/* Configured images missing from the state dir: the daemon's refresh (chroot-maintenance) makes them. */
static void images(const Context *c, const Config *cfg, const char *control_socket, Problems *p) {
        char missing[CONFIG_IMAGES_MAX * (IMAGE_NAME_MAX + 2) + 1] = "";
        unsigned gen;

        for (size_t i = 0; i < cfg->n_images; i++)
                if (image_current_generation(c, cfg->images[i].name, &gen) < 0)
                        snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s", missing[0] ? ", " : "",
                                 cfg->images[i].name);
        if (!missing[0]) {
                log_notice("images: %zu configured, none missing.", cfg->n_images);
                return;
        }
        if (daemon_client_refresh(control_socket) < 0) {
                problem_add(p, "Configured images missing: %s; nspawn-runnerd could not be asked to create them", missing);
                return;
        }
        log_notice("images: %s missing, nspawn-runnerd is creating them.", missing);
}

static int write_problems(const char *run_dir, const Problems *p) {
        _cleanup_free_ char *path = path_join(run_dir, APPLIANCE_PROBLEMS_FILE), *text = lines_join(p->lines, p->n);
        int r;

        if (!path || !text)
                return log_oom();
        r = write_file_atomic(path, text, 0644);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", path);
        return 0;
}

static void load_config(const Context *c, Config *cfg, Problems *p) {
        _cleanup_free_ char *path = path_join(c->config_dir, CONFIG_FILE_NAME), *error = NULL;
        int r;

        if (!path)
                return (void) log_oom();
        if (access(path, F_OK) < 0) {
                problem_add(p, "No configuration file %s: nothing to set up", path);
                return;
        }
        r = config_load_full(path, cfg, &error);
        if (r < 0) {
                problem_add(p, "%s", error ?: "The configuration file cannot be read");
                /* Nothing of a half-read file is used: never format or register on a guess. */
                config_done(cfg);
                config_init(cfg);
                return;
        }
        log_notice("config: %s is valid (GitLab URL %s, token %s, concurrent %u, %zu image(s), %zu ssh key(s), data disk %s).",
                   path, cfg->gitlab_url ? "set" : "not set", cfg->runner_token ? "set" : "not set", cfg->concurrent,
                   cfg->n_images, cfg->n_ssh_keys, cfg->data_disk ?: "none");
}

int appliance_setup(const Context *c, const ApplianceOptions *o) {
        _cleanup_(config_done) Config cfg;
        _cleanup_free_ char *appliance_dir = path_join(c->state_dir, APPLIANCE_DIR), *key_dir = NULL, *toml = NULL;
        Problems p = {};
        bool on_disk;
        int r;

        config_init(&cfg);
        if (!appliance_dir)
                return log_oom();
        r = mkdir_p(o->run_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", o->run_dir);

        load_config(c, &cfg, &p);
        p.secret = cfg.runner_token;
        set_hostname(&cfg, &p);
        on_disk = appliance_data_disk(c, &cfg, o->wait_data_sec, &p);

        key_dir = on_disk ? path_join(appliance_dir, "ssh") : path_join(o->run_dir, "ssh");
        if (!key_dir)
                return log_oom();
        appliance_ssh(&cfg, o->run_dir, key_dir, &p);

        if (o->gitlab_runner_config)
                toml = strdup(o->gitlab_runner_config);
        else
                toml = path_join(appliance_dir, "gitlab-runner/config.toml");
        if (!toml)
                return log_oom();
        if (on_disk || o->gitlab_runner_config)
                appliance_register(c, &cfg, toml, &p);
        else
                log_notice("registration: skipped, %s would not outlive a reboot without the data disk.", toml);

        if (on_disk)
                images(c, &cfg, o->control_socket, &p);
        else if (cfg.n_images > 0)
                log_notice("images: not created without the data disk.");
        machine_id(o->boot_dir, on_disk ? appliance_dir : NULL, &p);

        r = write_problems(o->run_dir, &p);
        if (r >= 0)
                log_notice("appliance-setup: %s (%s/%s).", p.n == 0 ? "done, no problem" : "done with problems", o->run_dir,
                           APPLIANCE_PROBLEMS_FILE);
        r = r < 0 ? r : p.n > 0 ? 1 : 0;
        problems_done(&p);
        return r;
}
