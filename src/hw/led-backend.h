/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Where the status LED's level goes: a kernel LED class device, a GPIO line, or nowhere. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct LedBackend {
        int (*set)(void *data, bool on);
        void (*close)(void *data);
        void *data;
        bool failing; /* the last set() failed and said so: stay quiet until one works again */
} LedBackend;

/* Each constructor logs its failure once (a missing LED is -ENOENT or -ENODEV, "… not found").
 * The daemon then takes the null backend and runs on without saying more. */
void led_backend_null(LedBackend *ret);
/* A directory like /sys/class/leds/ACT: takes it over from its kernel trigger until closed. */
int led_backend_sysfs(const char *dir, LedBackend *ret);
/* The same, and first writes what it found (directory, trigger, brightness) to save_path, so that
 * led_sysfs_restore() can hand the LED back after the daemon was killed. A clean close removes
 * save_path. A save that fails is logged; the LED is taken all the same. */
int led_backend_sysfs_saving(const char *dir, const char *save_path, LedBackend *ret);
/* Hands back the LED named in save_path and removes it. Nothing saved (no file): 0. A file that is
 * not root's own or does not parse: logged, -EBADMSG or -EPERM, and left for a person to look at. */
int led_sysfs_restore(const char *save_path);

/* What a save file says. Pure; for led_sysfs_restore() and its fuzzer. */
#define LED_SAVED_SIZE_MAX 4096U
#define LED_TRIGGER_NAME_MAX 64U
typedef struct LedSaved {
        char *dir;
        char *trigger;
        uint64_t brightness;
} LedSaved;
void led_saved_done(LedSaved *s);
char *led_saved_format(const LedSaved *s);
/* -EBADMSG unless all three keys come once each: an absolute dir, a trigger name of
 * [A-Za-z0-9_.:+-] of at most LED_TRIGGER_NAME_MAX characters, a decimal brightness. */
int led_saved_parse(const char *text, size_t size, LedSaved *ret);
/* A line given by offset or name on a chip given by label, name, number or path. */
int led_backend_gpio(const char *chip, const char *line, bool active_low, LedBackend *ret);

/* Logs the first failure of a run of them; returns what set() returned. */
int led_backend_set(LedBackend *b, bool on);
/* Hands the LED back (a sysfs LED to its kernel trigger) and leaves the null backend behind. */
void led_backend_close(LedBackend *b);
