/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "context.h"

/* An image is <state-dir>/<name>: normally a symlink to its current generation
 * <state-dir>/.images/<name>/<N>, switched atomically to a new one when a refresh succeeded.
 * A plain directory there is an image too (generation 0), as made by hand or by older versions. */

#define IMAGES_DIR ".images"

typedef enum ImageLock {
        IMAGE_LOCK_MAINTENANCE, /* held while an image is created, refreshed or edited */
        IMAGE_LOCK_GENERATIONS, /* shared while a job picks its generation, exclusive to delete one */
        _IMAGE_LOCK_MAX,
        _IMAGE_LOCK_INVALID = -1,
} ImageLock;

typedef struct ImageInfo {
        char *suite;
        char *arch;       /* dpkg architecture */
        time_t refreshed; /* when the generation was made */
} ImageInfo;

void image_info_done(ImageInfo *i);

typedef struct ImageLockHandle {
        int fd;
        char *path;
        bool exclusive;
} ImageLockHandle;

#define IMAGE_LOCK_HANDLE_INIT { .fd = -EBADF }

/* flock()s one of the image's locks with op (LOCK_SH or LOCK_EX, plus LOCK_NB to fail with
 * -EBUSY instead of waiting). */
int image_lock(const Context *c, const char *name, ImageLock which, int op, ImageLockHandle *ret);
/* Releases a lock; the holder of an exclusive one removes its file, so locks leave nothing behind. */
void image_unlock(ImageLockHandle *h);

/* The real path of the image's current generation; logs when there is no such image. */
int image_resolve(const Context *c, const char *name, char **ret_path);
/* image_resolve() of a generation that stays: *ret_lock holds the image's generations lock shared
 * (gc does not collect a generation while anyone holds it), and the path is resolved again once it
 * is held, since the generation may have changed while we waited. */
int image_resolve_pinned(const Context *c, const char *name, ImageLockHandle *ret_lock, char **ret_path);
/* The current generation number: 0 for a plain directory, -ENOENT when there is no image. */
int image_current_generation(const Context *c, const char *name, unsigned *ret);
/* One more than the highest generation present (finished or not). */
int image_next_generation(const Context *c, const char *name, unsigned *ret);
char *image_generation_path(const Context *c, const char *name, unsigned gen);
/* Makes gen the image's current generation in one rename(). */
int image_switch(const Context *c, const char *name, unsigned gen);

int image_info_load(const Context *c, const char *name, unsigned gen, ImageInfo *ret);
int image_info_save(const Context *c, const char *name, unsigned gen, const ImageInfo *info);

/* The Debian codename of the chroot at root (VERSION_CODENAME of its os-release). */
int chroot_codename(const char *root, char **ret);

/* The images in the state dir, sorted; *ret_names is NULL-terminated. */
int image_list_names(const Context *c, char ***ret_names);

/* How many machines in the state dir run on the directory at path. */
int image_count_users(const Context *c, const char *path);
typedef struct CollectStats {
        unsigned generations; /* generations removed */
        uint64_t freed;       /* bytes */
} CollectStats;

/* Deletes the image's generations that are neither current nor used by a machine, adding to *st.
 * Skips the image while it is being maintained. */
int image_collect_generations(const Context *c, const char *name, CollectStats *st);
/* The same, for a caller that holds the image's maintenance lock. */
int image_collect_generations_locked(const Context *c, const char *name, CollectStats *st);
