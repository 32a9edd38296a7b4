/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runner: GitLab custom executor running jobs in systemd-nspawn machines. This file only
 * parses the command line; the work is in the core library. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "appliance.h"
#include "chroot.h"
#include "context.h"
#include "daemon.h"
#include "executor.h"
#include "gc.h"
#include "gitlab.h"
#include "image-name.h"
#include "log.h"
#include "machine.h"
#include "util.h"

enum {
        ARG_DEBUG = 0x100,
        ARG_STATE_DIR,
        ARG_CONFIG_DIR,
        ARG_VERSION,
        ARG_ID,
        ARG_DEFAULT_IMAGE,
        ARG_STORAGE,
        ARG_SUITE,
        ARG_MIRROR,
        ARG_INCLUDE,
        ARG_ARCH,
        ARG_JSON,
        ARG_THRESHOLD,
        ARG_CONTROL_SOCKET,
        ARG_BOOT_DIR,
        ARG_RUN_DIR,
        ARG_GITLAB_RUNNER_CONFIG,
        ARG_WAIT_DATA,
        ARG_SHELL,
};

typedef struct Args {
        Context context;
        const char *id, *default_image, *suite, *mirror, *include, *arch;
        StorageBackend storage;
        bool json;
        int threshold; /* -1: from the configuration file */
        const char *control_socket;
        ApplianceOptions appliance;
} Args;

static void help(void) {
        printf("Usage: nspawn-runner [OPTIONS] COMMAND [ARGS]\n\n"
               "GitLab custom executor that runs each job in a fresh systemd-nspawn machine.\n\n"
               "Commands for gitlab-runner:\n"
               "  gitlab-config                     Print the executor's configuration as JSON\n"
               "  prepare [IMAGE] [--id ID] [--default-image IMG] [--storage auto|overlay|btrfs|tmpfs]\n"
               "                                    Start the job's machine\n"
               "  run [--id ID] [--shell bash|sh] SCRIPT [STAGE]\n"
               "                                    Run a stage's script in the job's machine (with bash)\n"
               "  cleanup [--id ID]                 Stop the job's machine and remove it\n"
               "Commands for the administrator:\n"
               "  chroot-create NAME [--suite S] [--mirror URL] [--include PKG,…] [--arch A]\n"
               "                                    Create an image with debootstrap (and its playbook)\n"
               "  chroot-login NAME                 Edit an image in a root shell (a new generation)\n"
               "  chroot-list [--json]              List the images\n"
               "  chroot-maintenance [NAME]         Create, refresh or recreate every image (or NAME)\n"
               "  gc [--threshold PERCENT]          Remove leftovers, unused generations, old caches\n"
               "  toml [IMAGE] [--default-image IMG]\n"
               "                                    Print a config.toml section for gitlab-runner\n"
               "Commands that talk to nspawn-runnerd (the appliance daemon):\n"
               "  status [--control-socket PATH]    Show what the daemon does\n"
               "  refresh [--control-socket PATH]   Refresh the images now\n"
               "  poweroff [--control-socket PATH]  Take no new jobs, power off when the running ones ended\n"
               "The appliance's boot-time setup (nspawn-runner-setup.service):\n"
               "  appliance-setup [--boot-dir DIR] [--run-dir DIR] [--gitlab-runner-config FILE] [--wait-data SECONDS]\n"
               "                  [--control-socket PATH]\n"
               "                                    Host name, ssh keys, data disk, registration, images, machine id\n\n"
               "Options:\n"
               "  -v, --verbose        Say more\n"
               "      --debug          Say everything\n"
               "      --state-dir DIR  Images and machines (default " DEFAULT_STATE_DIR ", $NSPAWN_RUNNER_STATE_DIR)\n"
               "      --config-dir DIR Configuration (default " DEFAULT_CONFIG_DIR ", $NSPAWN_RUNNER_CONFIG_DIR)\n"
               "  -h, --help           Show this help\n"
               "      --version        Show the version\n");
}

static const struct option options[] = {
        { "verbose", no_argument, NULL, 'v' },
        { "debug", no_argument, NULL, ARG_DEBUG },
        { "state-dir", required_argument, NULL, ARG_STATE_DIR },
        { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, ARG_VERSION },
        { "id", required_argument, NULL, ARG_ID },
        { "default-image", required_argument, NULL, ARG_DEFAULT_IMAGE },
        { "storage", required_argument, NULL, ARG_STORAGE },
        { "suite", required_argument, NULL, ARG_SUITE },
        { "mirror", required_argument, NULL, ARG_MIRROR },
        { "include", required_argument, NULL, ARG_INCLUDE },
        { "arch", required_argument, NULL, ARG_ARCH },
        { "json", no_argument, NULL, ARG_JSON },
        { "threshold", required_argument, NULL, ARG_THRESHOLD },
        { "control-socket", required_argument, NULL, ARG_CONTROL_SOCKET },
        { "boot-dir", required_argument, NULL, ARG_BOOT_DIR },
        { "run-dir", required_argument, NULL, ARG_RUN_DIR },
        { "gitlab-runner-config", required_argument, NULL, ARG_GITLAB_RUNNER_CONFIG },
        { "wait-data", required_argument, NULL, ARG_WAIT_DATA },
        { "shell", required_argument, NULL, ARG_SHELL },
        {},
};

/* Which command-specific options each command takes. */
static bool option_allowed(const char *cmd, int opt) {
        switch (opt) {
        case ARG_ID:
                return streq(cmd, "prepare") || streq(cmd, "run") || streq(cmd, "cleanup");
        case ARG_DEFAULT_IMAGE:
                return streq(cmd, "prepare") || streq(cmd, "toml");
        case ARG_STORAGE:
                return streq(cmd, "prepare");
        case ARG_SHELL:
                return streq(cmd, "run");
        case ARG_SUITE:
        case ARG_MIRROR:
        case ARG_INCLUDE:
        case ARG_ARCH:
                return streq(cmd, "chroot-create");
        case ARG_JSON:
                return streq(cmd, "chroot-list");
        case ARG_THRESHOLD:
                return streq(cmd, "gc");
        case ARG_CONTROL_SOCKET:
                return streq(cmd, "status") || streq(cmd, "refresh") || streq(cmd, "poweroff") || streq(cmd, "appliance-setup");
        case ARG_BOOT_DIR:
        case ARG_RUN_DIR:
        case ARG_GITLAB_RUNNER_CONFIG:
        case ARG_WAIT_DATA:
                return streq(cmd, "appliance-setup");
        default:
                return true;
        }
}

/* run --shell, for command lines written for the Python tool. */
static bool shell_accepted(const char *shell) {
        static const char *const shells[] = { "bash", "sh", "/bin/bash", "/usr/bin/bash", "/bin/sh", "/usr/bin/sh" };

        for (size_t i = 0; i < sizeof(shells) / sizeof(shells[0]); i++)
                if (streq(shell, shells[i]))
                        return true;
        return false;
}

/* Parses options wherever they stand; leaves the positional arguments in argv[optind…]. Returns 1
 * when the program should exit 0 (help, version), 0 to go on, <0 on a usage error. */
static int parse_options(int argc, char **argv, const char *cmd, Args *a) {
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, cmd ? "vh" : "+vh", options, NULL)) >= 0) {
                if (cmd && !option_allowed(cmd, c))
                        return log_error_errno(EINVAL, "Command %s takes no option %s.", cmd, argv[optind - 1]);
                switch (c) {
                case 'v':
                        log_raise_max_level(LOG_LEVEL_INFO);
                        break;
                case ARG_DEBUG:
                        log_set_max_level(LOG_LEVEL_DEBUG);
                        break;
                case ARG_STATE_DIR:
                        a->context.state_dir = optarg;
                        break;
                case ARG_CONFIG_DIR:
                        a->context.config_dir = optarg;
                        break;
                case 'h':
                        help();
                        return 1;
                case ARG_VERSION:
                        printf("nspawn-runner " VERSION "\n");
                        return 1;
                case ARG_ID:
                        a->id = optarg;
                        break;
                case ARG_DEFAULT_IMAGE:
                        a->default_image = optarg;
                        break;
                case ARG_SHELL:
                        /* The Python tool's option: gitlab-runner's scripts are bash, which also runs sh's. */
                        if (!shell_accepted(optarg))
                                return log_error_errno(EINVAL, "--shell takes bash or sh (scripts run with bash either way), not '%.40s'.",
                                                       optarg);
                        break;
                case ARG_STORAGE:
                        if (streq(optarg, "auto"))
                                a->storage = _STORAGE_BACKEND_INVALID;
                        else if ((a->storage = storage_backend_from_string(optarg)) < 0)
                                return log_error_errno(EINVAL, "Unknown storage '%s': use auto, overlay, btrfs or tmpfs.", optarg);
                        break;
                case ARG_SUITE:
                        a->suite = optarg;
                        break;
                case ARG_MIRROR:
                        a->mirror = optarg;
                        break;
                case ARG_INCLUDE:
                        a->include = optarg;
                        break;
                case ARG_ARCH:
                        a->arch = optarg;
                        break;
                case ARG_JSON:
                        a->json = true;
                        break;
                case ARG_THRESHOLD: {
                        int v;
                        if (safe_atoi(optarg, &v) < 0 || v < 0 || v > 100)
                                return log_error_errno(EINVAL, "--threshold takes a percentage from 0 to 100, not '%s'.", optarg);
                        a->threshold = v;
                        break;
                }
                case ARG_CONTROL_SOCKET:
                        a->control_socket = optarg;
                        break;
                case ARG_BOOT_DIR:
                case ARG_RUN_DIR:
                case ARG_GITLAB_RUNNER_CONFIG:
                        if (optarg[0] != '/')
                                return log_error_errno(EINVAL, "%s takes an absolute path, not '%s'.", argv[optind - 1], optarg);
                        if (c == ARG_BOOT_DIR)
                                a->appliance.boot_dir = optarg;
                        else if (c == ARG_RUN_DIR)
                                a->appliance.run_dir = optarg;
                        else
                                a->appliance.gitlab_runner_config = optarg;
                        break;
                case ARG_WAIT_DATA: {
                        int v;
                        if (safe_atoi(optarg, &v) < 0 || v < 0 || v > 3600)
                                return log_error_errno(EINVAL, "--wait-data takes a number of seconds from 0 to 3600, not '%s'.", optarg);
                        a->appliance.wait_data_sec = (unsigned) v;
                        break;
                }
                case '?':
                        return log_error_errno(EINVAL, "Unknown option %s (see --help).", argv[optind - 1]);
                default:
                        return log_error_errno(EINVAL, "Option %s needs a value.", argv[optind - 1]);
                }
        }
        return 0;
}

static int check_state_dir(const Context *c) {
        if (c->state_dir[0] != '/')
                return log_error_errno(EINVAL, "The state directory must be an absolute path, not '%s'.", c->state_dir);
        return 0;
}

static int dispatch(Args *a, const char *cmd, int n, char **pos) {
        Context *c = &a->context;
        const int usage = c->system_failure_exit_code;

#define WANT(min, max)                                                                             \
        do {                                                                                       \
                if (n < (min) || n > (max)) {                                                      \
                        log_error("Command %s takes %d to %d arguments, not %d (see --help).", cmd, \
                                  min, max, n);                                                    \
                        return usage;                                                              \
                }                                                                                  \
        } while (0)

        if (check_state_dir(c) < 0)
                return usage;
        if (streq(cmd, "gitlab-config")) {
                WANT(0, 0);
                return gitlab_config_write(c, stdout) < 0 ? c->system_failure_exit_code : 0;
        }
        if (streq(cmd, "prepare")) {
                WANT(0, 1);
                return executor_prepare(c, n > 0 ? pos[0] : NULL, a->id, a->default_image, a->storage);
        }
        if (streq(cmd, "run")) {
                WANT(1, 2);
                return executor_run(c, a->id, pos[0], n > 1 ? pos[1] : "build_script");
        }
        if (streq(cmd, "cleanup")) {
                WANT(0, 0);
                return executor_cleanup(c, a->id);
        }
        if (streq(cmd, "toml")) {
                _cleanup_free_ char *self = NULL;
                const char *image = n > 0 ? pos[0] : a->default_image;
                int r;
                WANT(0, 1);
                if (n > 0 && a->default_image && !streq(pos[0], a->default_image)) {
                        log_error("toml: IMAGE and --default-image name two images: give one.");
                        return usage;
                }
                if (image && image_name_check(image, strlen(image)) != IMAGE_NAME_OK) {
                        log_error("Invalid image name '%.80s': it %s.", image,
                                  image_name_error_to_string(image_name_check(image, strlen(image))));
                        return usage;
                }
                r = sibling_binary_path("nspawn-runner", &self);
                if (r < 0) {
                        log_error_errno(r, "Cannot find this program's path: %m");
                        return usage;
                }
                return gitlab_toml_write(c, self, image, stdout) < 0 ? 1 : 0;
        }
        if (streq(cmd, "chroot-create")) {
                ChrootCreateOptions o = { .suite = a->suite, .mirror = a->mirror, .include = a->include, .arch = a->arch };
                WANT(1, 1);
                return chroot_create(c, pos[0], &o) < 0 ? 1 : 0;
        }
        if (streq(cmd, "chroot-login")) {
                WANT(1, 1);
                return chroot_login(c, pos[0]) < 0 ? 1 : 0;
        }
        if (streq(cmd, "chroot-list")) {
                WANT(0, 0);
                return chroot_list(c, a->json) < 0 ? 1 : 0;
        }
        if (streq(cmd, "chroot-maintenance")) {
                WANT(0, 1);
                return chroot_maintenance(c, n > 0 ? pos[0] : NULL) < 0 ? 1 : 0;
        }
        if (streq(cmd, "gc")) {
                GcStats st;
                WANT(0, 0);
                if (gc_run(c, a->threshold >= 0 ? (unsigned) a->threshold : gc_threshold_configured(c), &st) < 0)
                        return 1;
                printf("gc: removed %u leftover machine(s), %u unused generation(s), %u cache dir(s); freed %.1f MiB\n",
                       st.machines, st.generations, st.caches, (double) st.freed / (1 << 20));
                return 0;
        }
        if (streq(cmd, "status")) {
                WANT(0, 0);
                return daemon_client_status(a->control_socket) < 0 ? 1 : 0;
        }
        if (streq(cmd, "poweroff")) {
                WANT(0, 0);
                return daemon_client_poweroff(a->control_socket) < 0 ? 1 : 0;
        }
        if (streq(cmd, "refresh")) {
                WANT(0, 0);
                return daemon_client_refresh(a->control_socket) < 0 ? 1 : 0;
        }
        if (streq(cmd, "appliance-setup")) {
                int r;
                WANT(0, 0);
                a->appliance.control_socket = a->control_socket;
                r = appliance_setup(c, &a->appliance);
                return r == 0 ? 0 : 1;
        }
        if (streq(cmd, "machine-exec")) {
                WANT(1, 1);
                if (machine_key_check(pos[0]) < 0)
                        return usage;
                (void) machine_exec(c, pos[0]);
                return 1;
        }
        log_error("Unknown command '%.40s' (see --help).", cmd);
        return usage;
#undef WANT
}

int main(int argc, char **argv) {
        Args a = {
                .context = {
                        .state_dir = getenv("NSPAWN_RUNNER_STATE_DIR") ?: DEFAULT_STATE_DIR,
                        .config_dir = getenv("NSPAWN_RUNNER_CONFIG_DIR") ?: DEFAULT_CONFIG_DIR,
                        .build_failure_exit_code = exit_code_from_env("BUILD_FAILURE_EXIT_CODE", 1),
                        .system_failure_exit_code = exit_code_from_env("SYSTEM_FAILURE_EXIT_CODE", 2),
                },
                .storage = _STORAGE_BACKEND_INVALID,
                .threshold = -1,
                .control_socket = DAEMON_CONTROL_SOCKET_DEFAULT,
                .appliance = {
                        .boot_dir = APPLIANCE_BOOT_DIR_DEFAULT,
                        .run_dir = APPLIANCE_RUN_DIR_DEFAULT,
                        .wait_data_sec = APPLIANCE_WAIT_DATA_DEFAULT,
                },
        };
        const char *cmd;
        int r;

        r = parse_options(argc, argv, NULL, &a);
        if (r != 0)
                return r > 0 ? 0 : a.context.system_failure_exit_code;
        if (optind >= argc) {
                log_error("No command given (see --help).");
                return a.context.system_failure_exit_code;
        }
        cmd = argv[optind];
        /* Options may also follow the command, as with the Python nspawn-runner. */
        argc -= optind;
        argv += optind;
        optind = 0; /* glibc: start over */
        r = parse_options(argc, argv, cmd, &a);
        if (r != 0)
                return r > 0 ? 0 : a.context.system_failure_exit_code;
        return dispatch(&a, cmd, argc - optind, argv + optind);
}
