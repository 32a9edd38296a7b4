/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "context.h"

/* nspawn-run: a throwaway machine on a chroot for the person who ran it through sudo, as that
 * person. Nothing the caller passes widens what it may reach: the image is named, not a path; the
 * user and home come from the host's user database by $SUDO_UID, which sudo sets. */

#define USER_MACHINE_PREFIX "nspawn-run-"
/* The job id of nspawn-run's machine keys (context.h): GitLab's job ids start at 1. */
#define USER_MACHINE_JOB_ID "0"
/* The exit status of nspawn-run's own failures, apart from the command's (as env(1) and docker do). */
#define USER_MACHINE_EXIT_FAILURE 125
/* /etc/passwd and /etc/group of an image are read up to this size. */
#define USER_DB_SIZE_MAX (4U * 1024U * 1024U)
/* Words of the command. */
#define USER_MACHINE_COMMAND_MAX 256

typedef struct UserMachineCaller {
        char *name;
        uid_t uid;
        char *group;
        gid_t gid;
        char *gecos;
        char *home;
} UserMachineCaller;

void user_machine_caller_done(UserMachineCaller *u);

/* The caller from $SUDO_UID and $SUDO_GID (root when not run through sudo), looked up on the host;
 * refuses ids above 65535 (see userns.h) and a home that could not be bound as it is (relative, "/",
 * not a directory the caller owns). */
int user_machine_caller(UserMachineCaller *ret);

/* The lines of a passwd or group file (text, n bytes) without those for name or id (field 0 or 2),
 * then entry and a newline. *ret is a new string. */
int user_db_replace(const char *text, size_t n, const char *name, unsigned long id, const char *entry, char **ret);

/* Runs command (NULL: a login shell) as the caller in an ephemeral machine on the image and
 * returns its exit status (128+N when a signal N ended it), or a negative errno, logged. */
int user_machine_run(const Context *c, const char *image, const UserMachineCaller *u, char **command);
