/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

#include "context.h"

/* Each job machine's control directory, where its init listens (PROTO_SOCKET_NAME), is on the
 * host's /run: a tmpfs that no job can mount, where a socket on the state dir's disk could be reached
 * by whoever mounts that disk elsewhere. CONTROL_RUN_DIR/<key>/ (root's, 0700) holds `machine`, a
 * symlink to the machine directory it belongs to (made before anything else, so that gc finds what
 * a crash left), and `control/`, the machine root's, bound into the machine at
 * PROTO_CONTROL_DIR_INNER. Each of these directories is flock()ed by whoever removes it. */
#define CONTROL_RUN_DIR "/run/nspawn-runner/machines"

/* CONTROL_RUN_DIR/<key>/control and the socket in it. */
char *control_dir_path(const char *key);
char *control_socket_path(const char *key);
/* Makes the control directory of machine key of c, owned by owner (the machine's root); replaces
 * one left by an earlier machine directory of that path or by a gone one. */
int control_dir_create(const Context *c, const char *key, uid_t owner);
/* Removes the control directory of machine key of c, unless another machine directory owns it;
 * nothing to do is success. */
int control_dir_remove(const Context *c, const char *key);
/* Removes every control directory whose machine directory is gone (of any state dir). */
void control_dir_gc(const Context *c);
