/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon-report.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char **lines = NULL;

        if (daemon_problems_parse((const char *) data, size, &lines) < 0)
                return 0;
        /* Every line is shown to a person as it is: one visible, bounded line each. */
        for (char **l = lines; *l; l++) {
                size_t n = strlen(*l);

                if (n == 0 || n > PROBLEM_LINE_MAX || (*l)[0] == ' ' || (*l)[n - 1] == ' ')
                        abort();
                for (const char *p = *l; *p; p++)
                        if ((unsigned char) *p < ' ' || *p == 0x7f)
                                abort();
        }
        strv_freep(&lines);
        return 0;
}
