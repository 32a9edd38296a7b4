/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runnerd: the refresh child (nspawn-runner chroot-maintenance) and its progress. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "log.h"
#include "util.h"

static void on_refresh_line(Daemon *d, const char *line, size_t n _unused_) {
        char name[PROTO_STAGE_MAX + 1];
        unsigned i, total;

        if (sscanf(line, "[%u/%u] %64[^:]:", &i, &total, name) != 3)
                return;
        snprintf(d->refresh_image, sizeof(d->refresh_image), "%s", name);
        d->st.refresh_image = d->refresh_image;
        d->st.refresh_i = i;
        d->st.refresh_n = total;
        log_event("IMAGE", name, "refresh: %s", line);
}

static void refresh_ended(Daemon *d, bool ok) {
        d->last_refresh = ok;
        d->last_refresh_time = time(NULL);
        d->st.refreshing = false;
        d->st.refresh_image = NULL;
        d->st.refresh_failed = !ok;
}

static void on_refresh_exit(Daemon *d, const siginfo_t *si) {
        bool ok = si->si_code == CLD_EXITED && si->si_status == 0;
        char how[64];

        refresh_ended(d, ok);
        if (ok)
                log_notice("Refresh succeeded.");
        else
                log_error("Refresh failed (%s).", child_exit_describe(si, how, sizeof(how)));
        scan_request(d, false);
        update(d);
        outputs_write(d, true);
}

static int refresh_exec(Daemon *d, const void *arg) {
        const char *exe = arg;

        execl(exe, exe, "--state-dir", d->ctx.state_dir, "--config-dir", d->config_dir, "chroot-maintenance", (char *) NULL);
        return 127;
}

static int refresh_exe(char **ret) {
        _cleanup_free_ char *exe = NULL;
        int r;

        r = sibling_binary_path("nspawn-runner", &exe);
        if (r < 0)
                return log_error_errno(r, "Cannot find the nspawn-runner binary: %m");
        if (access(exe, X_OK) < 0)
                return log_error_errno(errno, "Cannot run %s: %m", exe);
        *ret = TAKE_PTR(exe);
        return 0;
}

RefreshResult refresh_start(Daemon *d) {
        _cleanup_free_ char *exe = NULL;

        if (d->st.refreshing)
                return REFRESH_ALREADY_RUNNING;
        if (d->st.draining)
                return REFRESH_REFUSED;
        if (!d->refresh.daemon)
                child_init(&d->refresh, d, "refresh", on_refresh_line, on_refresh_exit);
        if (refresh_exe(&exe) < 0 || child_start(&d->refresh, refresh_exec, exe) < 0) {
                refresh_ended(d, false);
                update(d);
                return REFRESH_FAILED;
        }
        d->st.refreshing = true;
        d->st.refresh_image = NULL;
        log_notice("Refresh started (%s chroot-maintenance, pid %d).", exe, (int) d->refresh.pid);
        update(d);
        return REFRESH_STARTED;
}

void refresh_done(Daemon *d) {
        child_stop(&d->refresh);
}
