/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "led.h"
#include "time-util.h"
#include "util.h"

#define MS(x) ((x) * USEC_PER_MSEC)

/* Told apart without a manual by rhythm and by how much of the time the LED is lit: idle is
 * mostly dark, busy mostly lit, booting and refreshing even blinks at clearly different speeds,
 * attention the only one in groups. */
static const struct {
        const char *name;
        const char *meaning;
        LedPattern pattern;
} state_table[_LED_STATE_MAX] = {
        [LED_BOOTING] = { "booting", "starting up",
                          { "fast blink, twice a second", 2, { MS(250), MS(250) } } },
        [LED_IDLE] = { "idle", "ready, no job running",
                       { "short blip every 3 s", 2, { MS(100), MS(2900) } } },
        [LED_BUSY] = { "busy", "jobs running",
                       { "mostly on, briefly off every second", 2, { MS(900), MS(100) } } },
        [LED_REFRESHING] = { "refreshing", "refreshing images",
                             { "slow even blink, once a second", 2, { MS(500), MS(500) } } },
        [LED_ATTENTION] = { "attention", "needs a look: no data disk, a refresh failed, or the disk is almost full",
                            { "three quick flashes, then a pause, every 2 s",
                              6, { MS(150), MS(150), MS(150), MS(150), MS(150), MS(1250) } } },
};

/* Shorter flashes than attention's, and a dark tail so that the state's pattern, which starts
 * lit, is seen to begin again. */
static const LedPattern ack_pattern = {
        "three very fast flashes, once", 6, { MS(70), MS(70), MS(70), MS(70), MS(70), MS(400) },
};

const char *led_state_to_string(LedState s) {
        return s >= 0 && s < _LED_STATE_MAX ? state_table[s].name : NULL;
}

LedState led_state_from_string(const char *s) {
        for (int i = 0; i < _LED_STATE_MAX; i++)
                if (streq_ptr(s, state_table[i].name))
                        return (LedState) i;
        return _LED_STATE_INVALID;
}

const char *led_state_meaning(LedState s) {
        return s >= 0 && s < _LED_STATE_MAX ? state_table[s].meaning : NULL;
}

const LedPattern *led_state_pattern(LedState s) {
        return s >= 0 && s < _LED_STATE_MAX ? &state_table[s].pattern : NULL;
}

const char *led_pattern_describe(LedState s) {
        const LedPattern *p = led_state_pattern(s);
        return p ? p->description : NULL;
}

const LedPattern *led_ack_pattern(void) {
        return &ack_pattern;
}

uint64_t led_pattern_period(const LedPattern *p) {
        uint64_t sum = 0;

        for (size_t i = 0; i < p->n_steps; i++)
                sum += p->steps[i];
        return sum;
}

/* The level at offset t (less than the period) into the pattern, and the offset of the next change. */
static void pattern_at(const LedPattern *p, uint64_t t, bool *ret_on, uint64_t *ret_step_end) {
        uint64_t start = 0;
        size_t i;

        for (i = 0; i + 1 < p->n_steps && t >= start + p->steps[i]; i++)
                start += p->steps[i];
        *ret_on = i % 2 == 0;
        *ret_step_end = start + p->steps[i];
}

int led_animator_init(LedAnimator *a, LedState state, uint64_t now) {
        if (state < 0 || state >= _LED_STATE_MAX)
                return -EINVAL;
        *a = (LedAnimator) { .state = state, .origin = now, .ack_start = now };
        return 0;
}

int led_animator_set_state(LedAnimator *a, LedState state, uint64_t now) {
        if (state < 0 || state >= _LED_STATE_MAX)
                return -EINVAL;
        if (state == a->state)
                return 0;
        a->state = state;
        /* origin lies ahead only while an ack plays, and the new pattern starts after it. */
        if (a->origin < now)
                a->origin = now;
        return 1;
}

void led_animator_ack(LedAnimator *a, uint64_t now) {
        a->ack_start = now;
        a->origin = now + led_pattern_period(&ack_pattern);
}

void led_animator_level(const LedAnimator *a, uint64_t now, bool *ret_on, uint64_t *ret_next_change) {
        const LedPattern *p = &state_table[a->state].pattern;
        uint64_t start, end;

        if (now < a->origin) {
                /* Times never go backwards, so now ≥ ack_start; clamp anyway rather than wrap. */
                start = a->ack_start;
                pattern_at(&ack_pattern, now > start ? now - start : 0, ret_on, &end);
        } else {
                uint64_t t = (now - a->origin) % led_pattern_period(p);

                start = now - t;
                pattern_at(p, t, ret_on, &end);
        }
        *ret_next_change = start + end;
}
