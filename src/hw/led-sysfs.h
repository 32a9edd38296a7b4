/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The status LED as a kernel LED class device. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "led-backend.h"

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
