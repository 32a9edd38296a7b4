/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

typedef enum CommandFlags {
        COMMAND_PRIVATE_MOUNTS = 1 << 0, /* fail unless it gets a mount namespace of its own */
        COMMAND_QUIET = 1 << 1,          /* its stdout and stderr to /dev/null */
} CommandFlags;

/* Called for each line the command prints on stdout (the line is also passed through). */
typedef void (*command_line_cb_t)(const char *line, void *userdata);

/* Runs argv (searched in PATH) with extra environment assignments env (NULL-terminated, or NULL) and
 * waits for it. It runs in a mount and a PID namespace of its own, whose init dies with the calling
 * process: whatever it starts ends with it, even when the caller is SIGKILLed. SIGTERM/SIGINT/SIGHUP on sigfd stop it (-EINTR). Returns 0 on exit status 0, else
 * logs and returns -ECHILD. */
int command_run(char *const *argv, char *const *env, CommandFlags flags, command_line_cb_t cb, void *userdata,
                int sigfd);
