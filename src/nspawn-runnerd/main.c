/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runnerd: the appliance daemon. This file only parses the command line. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "daemon-internal.h"
#include "daemon.h"
#include "log.h"

enum {
        ARG_CONFIG = 0x100,
        ARG_STATE_DIR,
        ARG_CONTROL_SOCKET,
        ARG_PROBLEMS_FILE,
        ARG_STATUS_FILE,
        ARG_RESTORE_LED,
        ARG_DEBUG,
        ARG_VERSION,
};

static void help(void) {
        printf("Usage: nspawn-runnerd [OPTIONS]\n\n"
               "The nspawn-runner appliance daemon: status LED, button, scheduled image maintenance,\n"
               "metrics, and the control socket for 'nspawn-runner status' and 'nspawn-runner refresh'.\n\n"
               "Options:\n"
               "      --config FILE           Configuration (default " DAEMON_CONFIG_FILE_DEFAULT ")\n"
               "      --state-dir DIR         Images and machines (overrides the configuration)\n"
               "      --control-socket PATH   Control socket (default " DAEMON_CONTROL_SOCKET_DEFAULT ")\n"
               "      --problems-file PATH    Setup problems, one a line: the LED asks for attention while\n"
               "                              there is one (default " DAEMON_PROBLEMS_FILE_DEFAULT ", '' for none)\n"
               "      --status-file PATH      Keep a plain-text status report there (default: none)\n"
               "      --restore-led           Hand the LED back to its kernel trigger after the daemon\n"
               "                              was killed (ExecStopPost=), then exit\n"
               "  -v, --verbose               Say more\n"
               "      --debug                 Say everything\n"
               "  -h, --help                  Show this help\n"
               "      --version               Show the version\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, ARG_CONFIG },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "control-socket", required_argument, NULL, ARG_CONTROL_SOCKET },
                { "problems-file", required_argument, NULL, ARG_PROBLEMS_FILE },
                { "status-file", required_argument, NULL, ARG_STATUS_FILE },
                { "restore-led", no_argument, NULL, ARG_RESTORE_LED },
                { "verbose", no_argument, NULL, 'v' },
                { "debug", no_argument, NULL, ARG_DEBUG },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        DaemonOptions o = {
                .config_file = DAEMON_CONFIG_FILE_DEFAULT,
                .control_socket = DAEMON_CONTROL_SOCKET_DEFAULT,
                .problems_file = DAEMON_PROBLEMS_FILE_DEFAULT,
        };
        bool restore_led = false;
        int c;

        log_set_prefix("nspawn-runnerd");
        opterr = 0;
        while ((c = getopt_long(argc, argv, "vh", options, NULL)) >= 0)
                switch (c) {
                case ARG_CONFIG:
                        o.config_file = optarg;
                        break;
                case ARG_STATE_DIR:
                        o.state_dir = optarg;
                        break;
                case ARG_CONTROL_SOCKET:
                        o.control_socket = optarg;
                        break;
                case ARG_PROBLEMS_FILE:
                        o.problems_file = optarg;
                        break;
                case ARG_STATUS_FILE:
                        o.status_file = optarg;
                        break;
                case ARG_RESTORE_LED:
                        restore_led = true;
                        break;
                case 'v':
                        log_raise_max_level(LOG_LEVEL_INFO);
                        break;
                case ARG_DEBUG:
                        log_set_max_level(LOG_LEVEL_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("nspawn-runnerd " VERSION "\n");
                        return 0;
                case '?':
                        log_error("Unknown option %s (see --help).", argv[optind - 1]);
                        return 2;
                default:
                        log_error("Option %s needs a value.", argv[optind - 1]);
                        return 2;
                }
        if (optind < argc) {
                log_error("nspawn-runnerd takes no arguments (see --help).");
                return 2;
        }
        if (restore_led)
                return daemon_hw_restore_led(o.control_socket) < 0 ? 1 : 0;
        return daemon_run(&o) < 0 ? 1 : 0;
}
