/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* nspawn-runnerd: the appliance daemon (status LED, button, scheduled maintenance, metrics, control
 * socket), on sd-event. */

#define DAEMON_CONFIG_FILE_DEFAULT "/etc/nspawn-runner/nspawn-runner.conf"
#define DAEMON_CONTROL_SOCKET_DEFAULT "/run/nspawn-runner/daemon.sock"
/* Beside the control socket: the sysfs LED's own trigger while the daemon has the LED. */
#define DAEMON_LED_SAVE_NAME "led-trigger"
/* What appliance-setup found wrong, one line each; empty or missing: nothing. */
#define DAEMON_PROBLEMS_FILE_DEFAULT "/run/nspawn-runner/setup-problems"

typedef struct DaemonOptions {
        const char *config_file;
        const char *state_dir; /* NULL: from the config */
        const char *control_socket;
        const char *problems_file; /* NULL or "": none */
        const char *status_file;   /* NULL or "": none */
} DaemonOptions;

/* Runs until SIGTERM or SIGINT; returns 0 then, or a negative errno when it cannot start (logged). */
int daemon_run(const DaemonOptions *o);
/* After the daemon was killed (ExecStopPost=): hands the sysfs LED back to the trigger it had,
 * as saved beside the control socket. Nothing saved: 0. */
int daemon_restore_led(const char *control_socket);

/* The CLI's side of the control socket: print the daemon's status, ask for a refresh. Log one line
 * and return a negative errno when the daemon is not there. */
int daemon_client_status(const char *socket_path);
int daemon_client_refresh(const char *socket_path);
/* Asks the daemon to take no new jobs and power off once the running ones ended. */
int daemon_client_poweroff(const char *socket_path);
