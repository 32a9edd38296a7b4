/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-run: a throwaway machine on a runner's chroot for a person, through sudo. This file only
 * parses the command line, which takes nothing that widens access: see src/nspawn-run/user-machine.h. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-name.h"
#include "log.h"
#include "user-machine.h"
#include "util.h"

enum {
        ARG_VERSION = 0x100,
};

static void help(void) {
        printf("Usage: nspawn-run -n IMAGE [COMMAND [ARG…]]\n\n"
               "Runs COMMAND (or a login shell) as you in a throwaway machine on the nspawn-runner\n"
               "image IMAGE, with your home directory; nothing else of the machine is kept.\n"
               "Run it through sudo (see nspawn-run(1)).\n\n"
               "Options:\n"
               "  -n, --name IMAGE  The image (see 'nspawn-runner chroot-list')\n"
               "  -h, --help        Show this help\n"
               "      --version     Show the version\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "name", required_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        _cleanup_(user_machine_caller_done) UserMachineCaller u = {};
        /* Only root's own environment may point elsewhere: sudo's caller never chooses the state dir. */
        const char *state_dir = getenv("SUDO_UID") ? NULL : getenv("NSPAWN_RUNNER_STATE_DIR");
        Context c = {
                .state_dir = state_dir ?: DEFAULT_STATE_DIR,
                .config_dir = DEFAULT_CONFIG_DIR,
                .build_failure_exit_code = USER_MACHINE_EXIT_FAILURE,
                .system_failure_exit_code = USER_MACHINE_EXIT_FAILURE,
        };
        const char *image = NULL;
        ImageNameError e;
        int opt, r;

        log_set_prefix("nspawn-run");
        opterr = 0;
        /* "+": the command's own options are the command's. */
        while ((opt = getopt_long(argc, argv, "+:n:h", options, NULL)) >= 0)
                switch (opt) {
                case 'n':
                        image = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("nspawn-run %s\n", VERSION);
                        return 0;
                case ':':
                        log_error("Option '%.40s' needs an image name.", argv[optind - 1]);
                        return USER_MACHINE_EXIT_FAILURE;
                default:
                        /* A short option's letter: in a bundle ("-xn") argv[optind - 1] is not it. */
                        if (optopt > 0 && optopt < 0x100)
                                log_error("Option '-%c' is not accepted: nspawn-run takes only -n IMAGE and a command (see --help).",
                                          optopt);
                        else
                                log_error("Option '%.40s' is not accepted: nspawn-run takes only -n IMAGE and a command (see --help).",
                                          argv[optind - 1]);
                        return USER_MACHINE_EXIT_FAILURE;
                }
        if (!image) {
                log_error("No image given: nspawn-run -n IMAGE [COMMAND…] (see --help).");
                return USER_MACHINE_EXIT_FAILURE;
        }
        e = image_name_check(image, strlen(image));
        if (e != IMAGE_NAME_OK) {
                log_error("Image name '%.80s' %s.", image, image_name_error_to_string(e));
                return USER_MACHINE_EXIT_FAILURE;
        }
        r = user_machine_caller(&u);
        if (r < 0)
                return USER_MACHINE_EXIT_FAILURE;
        r = user_machine_run(&c, image, &u, optind < argc ? argv + optind : NULL);
        return r < 0 ? USER_MACHINE_EXIT_FAILURE : r;
}
