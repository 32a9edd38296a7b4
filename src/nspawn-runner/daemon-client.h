/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The CLI's side of the control socket: print the daemon's status, ask for a refresh. Log one line
 * and return a negative errno when the daemon is not there. */
int daemon_client_status(const char *socket_path);
int daemon_client_refresh(const char *socket_path);
/* Asks the daemon to take no new jobs and power off once the running ones ended. */
int daemon_client_poweroff(const char *socket_path);
