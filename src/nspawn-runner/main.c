/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runner: GitLab custom executor running jobs in systemd-nspawn machines. This file only
 * parses the command line; the work is in the core library. */
#include <assert.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "appliance.h"
#include "chroot.h"
#include "context.h"
#include "daemon-client.h"
#include "daemon.h"
#include "executor.h"
#include "gc.h"
#include "gitlab.h"
#include "image-name.h"
#include "log.h"
#include "machine.h"
#include "maintenance.h"
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
        ARG_LIST_COMMANDS,
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
        { "list-commands", no_argument, NULL, ARG_LIST_COMMANDS },
        {},
};

static int check_state_dir(const Context *c) {
        if (c->state_dir[0] != '/')
                return log_error_errno(EINVAL, "The state directory must be an absolute path, not '%s'.", c->state_dir);
        return 0;
}

/* The commands. Each returns the exit code; the argument count is checked before. */

static int cmd_gitlab_config(Args *a, int n _unused_, char **pos _unused_) {
        return gitlab_config_write(&a->context, stdout) < 0 ? a->context.system_failure_exit_code : 0;
}

static int cmd_prepare(Args *a, int n, char **pos) {
        return executor_prepare(&a->context, n > 0 ? pos[0] : NULL, a->id, a->default_image, a->storage);
}

static int cmd_run(Args *a, int n, char **pos) {
        return executor_run(&a->context, a->id, pos[0], n > 1 ? pos[1] : "build_script");
}

static int cmd_cleanup(Args *a, int n _unused_, char **pos _unused_) {
        return executor_cleanup(&a->context, a->id);
}

static int cmd_toml(Args *a, int n, char **pos) {
        _cleanup_free_ char *self = NULL;
        const char *image = n > 0 ? pos[0] : a->default_image;
        const int usage = a->context.system_failure_exit_code;
        int r;

        if (n > 0 && a->default_image && !streq(pos[0], a->default_image)) {
                log_error("toml: IMAGE and --default-image name two images: give one.");
                return usage;
        }
        if (image && image_name_check_log(image) < 0)
                return usage;
        r = sibling_binary_path("nspawn-runner", &self);
        if (r < 0) {
                log_error_errno(r, "Cannot find this program's path: %m");
                return usage;
        }
        return gitlab_toml_write(&a->context, self, image, stdout) < 0 ? 1 : 0;
}

static int cmd_chroot_create(Args *a, int n _unused_, char **pos) {
        ChrootCreateOptions o = { .suite = a->suite, .mirror = a->mirror, .include = a->include, .arch = a->arch };
        return chroot_create(&a->context, pos[0], &o) < 0 ? 1 : 0;
}

static int cmd_chroot_login(Args *a, int n _unused_, char **pos) {
        return chroot_login(&a->context, pos[0]) < 0 ? 1 : 0;
}

static int cmd_chroot_list(Args *a, int n _unused_, char **pos _unused_) {
        return chroot_list(&a->context, a->json) < 0 ? 1 : 0;
}

static int cmd_chroot_maintenance(Args *a, int n, char **pos) {
        return maintenance_run(&a->context, n > 0 ? pos[0] : NULL) < 0 ? 1 : 0;
}

static int cmd_gc(Args *a, int n _unused_, char **pos _unused_) {
        const Context *c = &a->context;
        GcStats st;

        if (gc_run(c, a->threshold >= 0 ? (unsigned) a->threshold : gc_threshold_configured(c), GC_FULL, &st) < 0)
                return 1;
        printf("gc: removed %u leftover machine(s), %u unused generation(s), %u cache dir(s); freed %.1f MiB\n",
               st.machines, st.generations, st.caches, (double) st.freed / (1 << 20));
        return 0;
}

static int cmd_status(Args *a, int n _unused_, char **pos _unused_) {
        return daemon_client_status(a->control_socket) < 0 ? 1 : 0;
}

static int cmd_refresh(Args *a, int n _unused_, char **pos _unused_) {
        return daemon_client_refresh(a->control_socket) < 0 ? 1 : 0;
}

static int cmd_poweroff(Args *a, int n _unused_, char **pos _unused_) {
        return daemon_client_poweroff(a->control_socket) < 0 ? 1 : 0;
}

static int cmd_appliance_setup(Args *a, int n _unused_, char **pos _unused_) {
        a->appliance.control_socket = a->control_socket;
        return appliance_setup(&a->context, &a->appliance) == 0 ? 0 : 1;
}

static int cmd_machine_exec(Args *a, int n _unused_, char **pos) {
        if (machine_key_check(pos[0]) < 0)
                return a->context.system_failure_exit_code;
        (void) machine_exec(&a->context, pos[0]);
        return 1;
}

typedef enum CommandGroup {
        GROUP_GITLAB,
        GROUP_ADMIN,
        GROUP_DAEMON,
        GROUP_APPLIANCE,
        GROUP_INTERNAL, /* not in the help or the completion */
        _GROUP_MAX,
        _GROUP_INVALID = -EINVAL,
} CommandGroup;

static const char *const group_title[_GROUP_MAX] = {
        [GROUP_GITLAB] = "Commands for gitlab-runner:",
        [GROUP_ADMIN] = "Commands for the administrator:",
        [GROUP_DAEMON] = "Commands that talk to nspawn-runnerd (the appliance daemon):",
        [GROUP_APPLIANCE] = "The appliance's boot-time setup (nspawn-runner-setup.service):",
};

#define COMMAND_OPTIONS_MAX 6

/* The one description of the command line: the help, the option checks, the dispatch and
 * --list-commands (which tests/package/check-docs.sh holds the man page and completion to) read it. */
typedef struct Command {
        const char *name;
        const char *args; /* the positional arguments, as the help shows them */
        int min_args, max_args;
        int options[COMMAND_OPTIONS_MAX]; /* the command's own options (ARG_…), in the help's order */
        const char *help;
        CommandGroup group;
        int (*run)(Args *a, int n, char **pos);
} Command;

static const Command commands[] = {
        { "gitlab-config", NULL, 0, 0, {}, "Print the executor's configuration as JSON", GROUP_GITLAB, cmd_gitlab_config },
        { "prepare", "[IMAGE]", 0, 1, { ARG_ID, ARG_DEFAULT_IMAGE, ARG_STORAGE }, "Start the job's machine", GROUP_GITLAB,
          cmd_prepare },
        { "run", "SCRIPT [STAGE]", 1, 2, { ARG_ID, ARG_SHELL }, "Run a stage's script in the job's machine (with bash)",
          GROUP_GITLAB, cmd_run },
        { "cleanup", NULL, 0, 0, { ARG_ID }, "Stop the job's machine and remove it", GROUP_GITLAB, cmd_cleanup },
        { "chroot-create", "NAME", 1, 1, { ARG_SUITE, ARG_MIRROR, ARG_INCLUDE, ARG_ARCH },
          "Create an image with debootstrap (and its playbook)", GROUP_ADMIN, cmd_chroot_create },
        { "chroot-login", "NAME", 1, 1, {}, "Edit an image in a root shell (a new generation)", GROUP_ADMIN, cmd_chroot_login },
        { "chroot-list", NULL, 0, 0, { ARG_JSON }, "List the images", GROUP_ADMIN, cmd_chroot_list },
        { "chroot-maintenance", "[NAME]", 0, 1, {}, "Create, refresh or recreate every image (or NAME)", GROUP_ADMIN,
          cmd_chroot_maintenance },
        { "gc", NULL, 0, 0, { ARG_THRESHOLD }, "Remove leftovers, unused generations, old caches", GROUP_ADMIN, cmd_gc },
        { "toml", "[IMAGE]", 0, 1, { ARG_DEFAULT_IMAGE }, "Print a config.toml section for gitlab-runner", GROUP_ADMIN,
          cmd_toml },
        { "status", NULL, 0, 0, { ARG_CONTROL_SOCKET }, "Show what the daemon does", GROUP_DAEMON, cmd_status },
        { "refresh", NULL, 0, 0, { ARG_CONTROL_SOCKET }, "Refresh the images now", GROUP_DAEMON, cmd_refresh },
        { "poweroff", NULL, 0, 0, { ARG_CONTROL_SOCKET }, "Take no new jobs, power off when the running ones ended",
          GROUP_DAEMON, cmd_poweroff },
        { "appliance-setup", NULL, 0, 0, { ARG_BOOT_DIR, ARG_RUN_DIR, ARG_GITLAB_RUNNER_CONFIG, ARG_WAIT_DATA, ARG_CONTROL_SOCKET },
          "Host name, ssh keys, data disk, registration, images, machine id", GROUP_APPLIANCE, cmd_appliance_setup },
        /* What the transient unit of a job's machine runs (machine.c). */
        { "machine-exec", "ID", 1, 1, {}, NULL, GROUP_INTERNAL, cmd_machine_exec },
};

/* What the help shows as the value of a command's option (none: it takes no value). */
static const struct {
        int option;
        const char *value;
} option_values[] = {
        { ARG_ID, "ID" },
        { ARG_DEFAULT_IMAGE, "IMG" },
        { ARG_STORAGE, "auto|overlay|btrfs|tmpfs" },
        { ARG_SHELL, "bash|sh" },
        { ARG_SUITE, "S" },
        { ARG_MIRROR, "URL" },
        { ARG_INCLUDE, "PKG,…" },
        { ARG_ARCH, "A" },
        { ARG_THRESHOLD, "PERCENT" },
        { ARG_CONTROL_SOCKET, "PATH" },
        { ARG_BOOT_DIR, "DIR" },
        { ARG_RUN_DIR, "DIR" },
        { ARG_GITLAB_RUNNER_CONFIG, "FILE" },
        { ARG_WAIT_DATA, "SECONDS" },
};

static const Command *command_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(commands[i].name, name))
                        return &commands[i];
        return NULL;
}

static const char *option_name(int option) {
        for (const struct option *o = options; o->name; o++)
                if (o->val == option)
                        return o->name;
        assert(!"an option of the command table is missing from options[]");
        return NULL;
}

static const char *option_value(int option) {
        for (size_t i = 0; i < ELEMENTSOF(option_values); i++)
                if (option_values[i].option == option)
                        return option_values[i].value;
        return NULL;
}

static bool command_has_option(const Command *cmd, int option) {
        for (size_t i = 0; i < COMMAND_OPTIONS_MAX && cmd->options[i]; i++)
                if (cmd->options[i] == option)
                        return true;
        return false;
}

/* Options no command lists (-v, --state-dir …) go with every command. cmd is NULL for an unknown
 * command, which takes none of the others. */
static bool option_allowed(const Command *cmd, int option) {
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (command_has_option(&commands[i], option))
                        return cmd && command_has_option(cmd, option);
        return true;
}

/* Before the description: on the same line when the synopsis leaves room, else on the next. */
#define HELP_DESCRIPTION_COLUMN 36
/* The synopsis wraps before an option that would pass this column. */
#define HELP_WIDTH 104

static void help_command(const Command *cmd) {
        int column = printf("  %s", cmd->name), indent = column + 1;

        if (cmd->args)
                column += printf(" %s", cmd->args);
        for (size_t i = 0; i < COMMAND_OPTIONS_MAX && cmd->options[i]; i++) {
                const char *name = option_name(cmd->options[i]), *value = option_value(cmd->options[i]);
                int width;

                width = 5 + (int) strlen(name) + (value ? 1 + (int) strlen(value) : 0); /* " [--name value]" */
                if (column + width > HELP_WIDTH) { /* under the first argument */
                        printf("\n%*s", indent - 1, "");
                        column = indent - 1;
                }
                column += printf(" [--%s%s%s]", name, value ? " " : "", strempty(value));
        }
        if (column <= HELP_DESCRIPTION_COLUMN - 2)
                printf("%*s%s\n", HELP_DESCRIPTION_COLUMN - column, "", cmd->help);
        else
                printf("\n%*s%s\n", HELP_DESCRIPTION_COLUMN, "", cmd->help);
}

static void help(void) {
        printf("Usage: nspawn-runner [OPTIONS] COMMAND [ARGS]\n\n"
               "GitLab custom executor that runs each job in a fresh systemd-nspawn machine.\n\n");
        for (CommandGroup g = 0; g < GROUP_INTERNAL; g++) {
                printf("%s\n", group_title[g]);
                for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                        if (commands[i].group == g)
                                help_command(&commands[i]);
        }
        printf("\nOptions:\n"
               "  -v, --verbose        Say more\n"
               "      --debug          Say everything\n"
               "      --state-dir DIR  Images and machines (default " DEFAULT_STATE_DIR ", $NSPAWN_RUNNER_STATE_DIR)\n"
               "      --config-dir DIR Configuration (default " DEFAULT_CONFIG_DIR ", $NSPAWN_RUNNER_CONFIG_DIR)\n"
               "  -h, --help           Show this help\n"
               "      --version        Show the version\n");
}

/* One line a command: NAME MIN MAX OPTIONS (comma-separated, - for none) shown|internal. */
static void list_commands(void) {
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                const Command *cmd = &commands[i];

                printf("%s %d %d ", cmd->name, cmd->min_args, cmd->max_args);
                for (size_t k = 0; k < COMMAND_OPTIONS_MAX && cmd->options[k]; k++)
                        printf("%s--%s", k > 0 ? "," : "", option_name(cmd->options[k]));
                printf("%s %s\n", cmd->options[0] ? "" : "-", cmd->group == GROUP_INTERNAL ? "internal" : "shown");
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
                if (cmd && !option_allowed(command_find(cmd), c))
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
                case ARG_LIST_COMMANDS:
                        list_commands();
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

static int dispatch(Args *a, const char *cmd, int n, char **pos) {
        const Command *command = command_find(cmd);
        const int usage = a->context.system_failure_exit_code;

        if (check_state_dir(&a->context) < 0)
                return usage;
        if (!command) {
                log_error("Unknown command '%.40s' (see --help).", cmd);
                return usage;
        }
        if (n < command->min_args || n > command->max_args) {
                log_error("Command %s takes %d to %d arguments, not %d (see --help).", cmd, command->min_args,
                          command->max_args, n);
                return usage;
        }
        return command->run(a, n, pos);
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
