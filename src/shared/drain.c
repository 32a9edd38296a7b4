/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "drain.h"
#include "macro.h"
#include "util.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
#define BOOT_ID_MAX 64

static int boot_id(char **ret) {
        _cleanup_free_ char *id = NULL;
        int r = read_one_line_file(BOOT_ID_PATH, &id);

        if (r < 0)
                return r;
        if (isempty(id))
                return -EBADMSG;
        *ret = TAKE_PTR(id);
        return 0;
}

int drain_flag_set(const char *state_dir) {
        _cleanup_free_ char *flag = path_join(state_dir, DRAINING_FLAG), *id = NULL, *text = NULL;
        int r;

        if (!flag)
                return -ENOMEM;
        r = boot_id(&id);
        if (r < 0)
                return r;
        text = strprintf("%s\n", id);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(flag, text, 0644);
}

int drain_flag_active(const char *state_dir) {
        _cleanup_free_ char *flag = path_join(state_dir, DRAINING_FLAG), *id = NULL, *text = NULL;
        int r;

        if (!flag)
                return -ENOMEM;
        r = read_full_file(flag, BOOT_ID_MAX, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = boot_id(&id);
        if (r < 0)
                return r;
        text[strcspn(text, "\n")] = 0;
        return streq(text, id);
}
