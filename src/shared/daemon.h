/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Where nspawn-runnerd, the appliance daemon, keeps its socket and files: for the daemon and for the
 * CLI's client of it alike. */

#define DAEMON_CONFIG_FILE_DEFAULT "/etc/nspawn-runner/nspawn-runner.conf"
#define DAEMON_CONTROL_SOCKET_DEFAULT "/run/nspawn-runner/daemon.sock"
/* Beside the control socket: the sysfs LED's own trigger while the daemon has the LED. */
#define DAEMON_LED_SAVE_NAME "led-trigger"
/* What appliance-setup found wrong, one line each; empty or missing: nothing. */
#define DAEMON_PROBLEMS_FILE_DEFAULT "/run/nspawn-runner/setup-problems"
