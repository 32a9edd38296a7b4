/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "led.h"
#include "tap.h"
#include "time-util.h"

#define T0 (1000 * USEC_PER_SEC)
#define SAMPLE (5 * USEC_PER_MSEC)

static bool level_at(const LedAnimator *a, uint64_t t) {
        uint64_t next;
        bool on;

        led_animator_level(a, t, &on, &next);
        return on;
}

/* Follows next_change from t, a start of p, for n plays of p: every step must have p's level and
 * length, hold until just before its next_change, and the level must change right there. */
static bool plays(const LedAnimator *a, uint64_t t, const LedPattern *p, unsigned n) {
        for (unsigned k = 0; k < n * p->n_steps; k++) {
                size_t i = k % p->n_steps;
                uint64_t next;
                bool on;

                led_animator_level(a, t, &on, &next);
                if (on != (i % 2 == 0) || next != t + p->steps[i])
                        return false;
                for (uint64_t s = t; s < next; s += SAMPLE)
                        if (level_at(a, s) != on)
                                return false;
                if (level_at(a, next - 1) != on || level_at(a, next) == on)
                        return false;
                t = next;
        }
        return true;
}

static void test_names(void) {
        for (LedState s = 0; s < _LED_STATE_MAX; s++) {
                const LedPattern *p = led_state_pattern(s);

                CHECK(led_state_from_string(led_state_to_string(s)) == s, "%s round-trips", led_state_to_string(s));
                CHECK(p && p->description && led_pattern_describe(s) == p->description && led_state_meaning(s),
                      "%s: %s (%s)", led_state_to_string(s), led_pattern_describe(s), led_state_meaning(s));
        }
        CHECK(led_state_from_string("ack") == _LED_STATE_INVALID, "ack is no state");
        CHECK(led_state_from_string(NULL) == _LED_STATE_INVALID, "NULL is no state");
        CHECK(!led_state_to_string(_LED_STATE_MAX) && !led_state_pattern(_LED_STATE_INVALID) &&
                      !led_pattern_describe(_LED_STATE_MAX),
              "out-of-range states have no name or pattern");
}

static bool pattern_well_formed(const LedPattern *p) {
        if (p->n_steps < 2 || p->n_steps % 2 != 0 || p->n_steps > LED_PATTERN_STEPS_MAX)
                return false;
        for (size_t i = 0; i < p->n_steps; i++)
                if (p->steps[i] == 0)
                        return false;
        return true;
}

static uint64_t shortest_step(const LedPattern *p, bool only_on) {
        uint64_t m = UINT64_MAX;

        for (size_t i = 0; i < p->n_steps; i += only_on ? 2 : 1)
                if (p->steps[i] < m)
                        m = p->steps[i];
        return m;
}

static uint64_t shortest_steps_of_states(void) {
        uint64_t m = UINT64_MAX;

        for (LedState s = 0; s < _LED_STATE_MAX; s++) {
                uint64_t k = shortest_step(led_state_pattern(s), false);
                if (k < m)
                        m = k;
        }
        return m;
}

static void test_patterns(void) {
        const uint64_t window = 6 * USEC_PER_SEC;

        for (LedState s = 0; s < _LED_STATE_MAX; s++) {
                const LedPattern *p = led_state_pattern(s);
                uint64_t period = led_pattern_period(p);
                LedAnimator a;
                bool periodic = true;

                CHECK(pattern_well_formed(p), "%s: steps alternate, start on and end off", led_state_to_string(s));
                CHECK(period >= 400 * USEC_PER_MSEC && period <= 3 * USEC_PER_SEC,
                      "%s: period %llu ms", led_state_to_string(s), (unsigned long long) (period / USEC_PER_MSEC));

                CHECK(led_animator_init(&a, s, T0) == 0, "%s: animator starts", led_state_to_string(s));
                CHECK(plays(&a, T0, p, 3), "%s: plays its steps with exact next changes", led_state_to_string(s));
                for (uint64_t t = T0; t < T0 + 2 * period; t += 1 * USEC_PER_MSEC)
                        if (level_at(&a, t) != level_at(&a, t + period) || level_at(&a, t) != level_at(&a, t + 7 * period))
                                periodic = false;
                CHECK(periodic, "%s: repeats every period", led_state_to_string(s));

                for (LedState o = s + 1; o < _LED_STATE_MAX; o++) {
                        LedAnimator b;
                        unsigned differ = 0;

                        (void) led_animator_init(&b, o, T0);
                        for (uint64_t t = T0; t < T0 + window; t += SAMPLE)
                                differ += level_at(&a, t) != level_at(&b, t);
                        /* A tenth of the time at least: a person sees it, not just a sampler. */
                        CHECK(differ * SAMPLE >= window / 10, "%s and %s look different", led_state_to_string(s),
                              led_state_to_string(o));
                }
        }
        CHECK(pattern_well_formed(led_ack_pattern()), "ack: steps alternate, start on and end off");
        CHECK(led_pattern_period(led_ack_pattern()) < USEC_PER_SEC, "ack: over within a second");
        CHECK(shortest_step(led_ack_pattern(), true) < shortest_steps_of_states(),
              "ack: its flashes are quicker than any step of a state");
        CHECK(led_animator_init(&(LedAnimator) {}, _LED_STATE_INVALID, T0) == -EINVAL, "no animator without a state");
}

static void test_ack(void) {
        const LedPattern *ack = led_ack_pattern(), *idle = led_state_pattern(LED_IDLE),
                         *busy = led_state_pattern(LED_BUSY);
        uint64_t t = T0 + 1500 * USEC_PER_MSEC, end = t + led_pattern_period(ack);
        LedAnimator a;

        (void) led_animator_init(&a, LED_IDLE, T0);
        led_animator_ack(&a, t);
        CHECK(plays(&a, t, ack, 1), "the ack plays from the press, over idle's dark phase");
        CHECK(plays(&a, end, idle, 3), "then idle starts again from its beginning, and the ack does not repeat");

        (void) led_animator_init(&a, LED_BUSY, T0);
        t = T0 + 300 * USEC_PER_MSEC;
        led_animator_ack(&a, t);
        CHECK(plays(&a, t, ack, 1) && plays(&a, t + led_pattern_period(ack), busy, 2), "the same over busy");

        /* A second press while the ack plays starts it over. */
        led_animator_ack(&a, t + 100 * USEC_PER_MSEC);
        t += 100 * USEC_PER_MSEC;
        CHECK(plays(&a, t, ack, 1) && plays(&a, t + led_pattern_period(ack), busy, 1), "a second ack starts over");

        /* The press that starts a refresh: the ack is seen whole, then the new state. */
        (void) led_animator_init(&a, LED_IDLE, T0);
        t = T0 + 5 * USEC_PER_SEC;
        led_animator_ack(&a, t);
        CHECK(led_animator_set_state(&a, LED_REFRESHING, t + 10) == 1, "a state change during the ack");
        CHECK(plays(&a, t, ack, 1) && plays(&a, t + led_pattern_period(ack), led_state_pattern(LED_REFRESHING), 2),
              "waits for the ack, then starts from its beginning");
}

static void test_state_changes(void) {
        const LedPattern *busy = led_state_pattern(LED_BUSY), *attention = led_state_pattern(LED_ATTENTION);
        uint64_t t = T0 + 2 * USEC_PER_SEC + 50 * USEC_PER_MSEC, next;
        LedAnimator a;
        bool on;

        (void) led_animator_init(&a, LED_IDLE, T0);
        CHECK(!level_at(&a, t), "idle is dark 2.05 s in");
        CHECK(led_animator_set_state(&a, LED_BUSY, t) == 1, "idle → busy is a change");
        led_animator_level(&a, t, &on, &next);
        CHECK(on && next == t + busy->steps[0], "busy starts lit at once, next change after its first step");
        CHECK(plays(&a, t, busy, 2), "and plays from there");

        CHECK(led_animator_set_state(&a, LED_BUSY, t + 950 * USEC_PER_MSEC) == 0, "busy again is no change");
        CHECK(plays(&a, t, busy, 3), "and keeps the rhythm");

        t += 10 * USEC_PER_SEC + 123;
        CHECK(led_animator_set_state(&a, LED_ATTENTION, t) == 1 && plays(&a, t, attention, 2),
              "attention starts at once, mid-step of busy");
        CHECK(led_animator_set_state(&a, _LED_STATE_INVALID, t) == -EINVAL && a.state == LED_ATTENTION,
              "an invalid state is refused and changes nothing");
        CHECK(led_animator_set_state(&a, _LED_STATE_MAX, t) == -EINVAL, "so is one out of range");
}

int main(void) {
        test_names();
        test_patterns();
        test_ack();
        test_state_changes();
        return tap_done();
}
