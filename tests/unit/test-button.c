/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "button.h"
#include "macro.h"
#include "tap.h"
#include "time-util.h"

#define D (30 * USEC_PER_MSEC)
#define H (5 * USEC_PER_SEC)
#define T0 (1000 * USEC_PER_SEC)
#define MS(x) ((uint64_t) (x) * USEC_PER_MSEC)
#define EVENTS_MAX 64

typedef struct Edge {
        uint64_t t;
        bool pressed;
} Edge;

typedef struct Run {
        Button b;
        size_t n;
        ButtonEvent type[EVENTS_MAX];
        uint64_t t[EVENTS_MAX];
        bool stuck; /* a tick left its deadline where it was */
} Run;

static void record(Run *r, ButtonEvent e, uint64_t t) {
        if (e == BUTTON_NONE || r->n >= EVENTS_MAX)
                return;
        r->type[r->n] = e;
        r->t[r->n++] = t;
}

/* Ticks as an event loop's timer would, latency late, at every deadline up to until. */
static void tick_until(Run *r, uint64_t until, uint64_t latency) {
        uint64_t d;

        while ((d = button_next_deadline(&r->b)) != USEC_INFINITY && d + latency <= until) {
                record(r, button_tick(&r->b, d + latency), d + latency);
                if (button_next_deadline(&r->b) == d) {
                        r->stuck = true;
                        return;
                }
        }
}

/* Plays edges (times ascending) through a fresh button, with its timer ticking latency late, until
 * nothing is pending. */
static Run play(const Edge *edges, size_t n, uint64_t latency) {
        Run r = {};

        (void) button_init(&r.b, D, H);
        for (size_t i = 0; i < n; i++) {
                tick_until(&r, edges[i].t, latency);
                record(&r, button_feed(&r.b, edges[i].pressed, edges[i].t), edges[i].t);
        }
        tick_until(&r, USEC_INFINITY, latency);
        return r;
}

#define PLAY(...) play((const Edge[]) { __VA_ARGS__ }, ELEMENTSOF(((const Edge[]) { __VA_ARGS__ })), 0)

static bool one(const Run *r, ButtonEvent type, uint64_t t) {
        return !r->stuck && r->n == 1 && r->type[0] == type && r->t[0] == t;
}

static void test_basics(void) {
        Button b;

        CHECK(button_init(&b, D, D) == -EINVAL && button_init(&b, D, D - 1) == -EINVAL,
              "a hold time not longer than the debounce time is refused");
        CHECK(button_init(&b, BUTTON_DEBOUNCE_USEC_DEFAULT, BUTTON_HOLD_USEC_DEFAULT) == 0, "the defaults are fine");
        CHECK(button_next_deadline(&b) == USEC_INFINITY, "nothing pending at first");
        CHECK(button_tick(&b, T0) == BUTTON_NONE, "a tick for nothing is nothing");
        CHECK(button_feed(&b, false, T0) == BUTTON_NONE && button_next_deadline(&b) == USEC_INFINITY,
              "released again is no change");
        CHECK_STREQ(button_event_to_string(BUTTON_SHORT_PRESS), "short-press", "short-press");
        CHECK_STREQ(button_event_to_string(BUTTON_LONG_PRESS), "long-press", "long-press");
        CHECK(!button_event_to_string(_BUTTON_EVENT_MAX) && !button_event_to_string(_BUTTON_EVENT_INVALID),
              "no name out of range");
}

static void test_short(void) {
        Run r;

        r = PLAY({ T0, true }, { T0 + MS(200), false });
        CHECK(one(&r, BUTTON_SHORT_PRESS, T0 + MS(200) + D), "a clean press: one short press, a debounce after release");

        r = PLAY({ T0, true }, { T0 + MS(2), false }, { T0 + MS(3), true }, { T0 + MS(7), false }, { T0 + MS(9), true },
                 { T0 + MS(300), false }, { T0 + MS(301), true }, { T0 + MS(304), false }, { T0 + MS(310), true },
                 { T0 + MS(312), false });
        CHECK(one(&r, BUTTON_SHORT_PRESS, T0 + MS(312) + D), "bounces on press and release: still one short press");

        r = PLAY({ T0, true }, { T0 + D - 1, false });
        CHECK(!r.stuck && r.n == 0, "a press shorter than the debounce time is ignored");
        r = PLAY({ T0, true }, { T0 + D, false });
        CHECK(one(&r, BUTTON_SHORT_PRESS, T0 + 2 * D), "a press of exactly the debounce time counts");

        r = PLAY({ T0, true }, { T0 + MS(10), false }, { T0 + MS(30), true }, { T0 + MS(40), false },
                 { T0 + MS(60), true }, { T0 + MS(65), false });
        CHECK(!r.stuck && r.n == 0, "a train of glitches, each shorter than the debounce time, is ignored");

        r = PLAY({ T0, true }, { T0 + H - 1, false });
        CHECK(one(&r, BUTTON_SHORT_PRESS, T0 + H - 1 + D), "held just under the hold time: a short press");

        /* The release starts just before the hold time and holds: the press was shorter. */
        r = PLAY({ T0, true }, { T0 + H - MS(10), false });
        CHECK(one(&r, BUTTON_SHORT_PRESS, T0 + H - MS(10) + D), "released 10 ms before the hold time: short");
}

static void test_long(void) {
        Run r;

        r = PLAY({ T0, true }, { T0 + H + MS(3000), false });
        CHECK(one(&r, BUTTON_LONG_PRESS, T0 + H), "held past the hold time: one long press, at the threshold");

        r = PLAY({ T0, true }, { T0 + MS(4), false }, { T0 + MS(9), true }, { T0 + H + MS(9), false },
                 { T0 + H + MS(12), true }, { T0 + H + MS(20), false });
        CHECK(one(&r, BUTTON_LONG_PRESS, T0 + MS(9) + H), "the hold time counts from the last bounce, nothing at release");

        r = PLAY({ T0, true }, { T0 + H, false });
        CHECK(one(&r, BUTTON_LONG_PRESS, T0 + H), "held exactly the hold time: long");

        /* A bounce across the threshold turns out to be part of the press only when it ends. */
        r = PLAY({ T0, true }, { T0 + H - MS(10), false }, { T0 + H + MS(5), true }, { T0 + H + MS(900), false });
        CHECK(one(&r, BUTTON_LONG_PRESS, T0 + H + MS(5)), "a release bounce across the hold time: long when it ends");

        r = PLAY({ T0, true }, { T0 + 4 * H, false });
        CHECK(one(&r, BUTTON_LONG_PRESS, T0 + H), "held four times as long: still one long press");
}

static void test_succession(void) {
        Edge e[20];
        Run r;
        bool ok = true;

        for (size_t i = 0; i < 10; i++)
                e[i] = (Edge) { T0 + MS(100) * i, i % 2 == 0 };
        r = play(e, 10, 0);
        for (size_t i = 0; i < 5; i++)
                ok = ok && r.type[i] == BUTTON_SHORT_PRESS && r.t[i] == T0 + MS(200) * i + MS(100) + D;
        CHECK(!r.stuck && r.n == 5 && ok, "five presses 100 ms apart: five short presses");

        r = PLAY({ T0, true }, { T0 + MS(100), false }, { T0 + MS(100) + D + 1, true },
                 { T0 + MS(300), false });
        CHECK(!r.stuck && r.n == 2 && r.t[0] == T0 + MS(100) + D && r.t[1] == T0 + MS(300) + D,
              "released just longer than the debounce time between presses: two presses");

        r = PLAY({ T0, true }, { T0 + MS(100), false }, { T0 + MS(100) + D - 1, true },
                 { T0 + MS(300), false });
        CHECK(one(&r, BUTTON_SHORT_PRESS, T0 + MS(300) + D), "released shorter than that: one press");

        r = PLAY({ T0, true }, { T0 + H + 1, false }, { T0 + H + 1 + MS(50), true },
                 { T0 + H + MS(200), false });
        CHECK(!r.stuck && r.n == 2 && r.type[0] == BUTTON_LONG_PRESS && r.type[1] == BUTTON_SHORT_PRESS,
              "a long press, then a short one right after");
}

static void test_deadlines(void) {
        Button b;

        (void) button_init(&b, D, H);
        (void) button_feed(&b, true, T0);
        CHECK(button_next_deadline(&b) == T0 + D, "pressed: the debounce time ends next");
        (void) button_feed(&b, false, T0 + MS(5));
        CHECK(button_next_deadline(&b) == USEC_INFINITY, "a bounce back to released: nothing pending");
        (void) button_feed(&b, true, T0 + MS(8));
        CHECK(button_next_deadline(&b) == T0 + MS(8) + D, "the debounce time starts over");
        CHECK(button_tick(&b, T0 + MS(8) + D) == BUTTON_NONE && button_next_deadline(&b) == T0 + MS(8) + H,
              "pressed for sure: the hold time is next");
        (void) button_feed(&b, false, T0 + MS(1000));
        CHECK(button_next_deadline(&b) == T0 + MS(1000) + D, "a release: its debounce time ends next");
        (void) button_feed(&b, true, T0 + MS(1010));
        CHECK(button_next_deadline(&b) == T0 + MS(8) + H, "a release bounce: the hold time again");
        CHECK(button_tick(&b, T0 + MS(8) + H) == BUTTON_LONG_PRESS && button_next_deadline(&b) == USEC_INFINITY,
              "long press fired: nothing pending while held");
        (void) button_feed(&b, false, T0 + 2 * H);
        CHECK(button_next_deadline(&b) == T0 + 2 * H + D, "released: the debounce time ends next");
        CHECK(button_tick(&b, T0 + 2 * H + D) == BUTTON_NONE && button_next_deadline(&b) == USEC_INFINITY,
              "nothing at release after a long press, nothing pending");

        /* A release just before the hold time may still be a bounce: nothing is decided while it is
         * pending, whatever wakes the loop (a tick for something else, the same level read again). */
        (void) button_init(&b, D, H);
        (void) button_feed(&b, true, T0);
        (void) button_tick(&b, T0 + D);
        (void) button_feed(&b, false, T0 + H - MS(10));
        CHECK(button_tick(&b, T0 + H + MS(5)) == BUTTON_NONE && button_feed(&b, false, T0 + H + MS(10)) == BUTTON_NONE,
              "a pending release across the hold time: no long press");
        CHECK(button_tick(&b, T0 + H - MS(10) + D) == BUTTON_SHORT_PRESS, "it holds: a short press");

        /* A loop that falls behind sees the press late, but once. */
        (void) button_init(&b, D, H);
        (void) button_feed(&b, true, T0);
        CHECK(button_feed(&b, false, T0 + 2 * H) == BUTTON_LONG_PRESS, "no ticks at all: long press at release");
        CHECK(button_tick(&b, T0 + 2 * H + D) == BUTTON_NONE, "and only then");

        /* An edge read after a tick, stamped before it, counts from the tick. */
        (void) button_init(&b, D, H);
        (void) button_feed(&b, true, T0);
        (void) button_tick(&b, T0 + MS(100));
        (void) button_feed(&b, false, T0 + MS(90));
        CHECK(button_next_deadline(&b) == T0 + MS(100) + D, "an edge from the past counts from the latest time");
}

/* xorshift64*: the same sequence on every machine. */
static uint64_t rnd_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rnd(uint64_t below) {
        rnd_state ^= rnd_state >> 12;
        rnd_state ^= rnd_state << 25;
        rnd_state ^= rnd_state >> 27;
        return (rnd_state * UINT64_C(0x2545f4914f6cdd1d)) % below;
}

/* Bounces: pairs of runs, first at level `first`, each shorter than the debounce time. */
static uint64_t bounce(Edge *e, size_t *n, uint64_t t, bool first) {
        for (uint64_t k = rnd(4); k > 0; k--) {
                e[(*n)++] = (Edge) { t, first };
                t += 1 + rnd(D - 1);
                e[(*n)++] = (Edge) { t, !first };
                t += 1 + rnd(D - 1);
        }
        return t;
}

/* One physical press, its bounces before and after, and what it must give. */
typedef struct Press {
        uint64_t from, to;   /* its events fall in (from, to] */
        ButtonEvent type;    /* BUTTON_NONE for a glitch, which never holds for the debounce time */
        uint64_t t;          /* when */
        uint64_t held;       /* from the start of the stable press to the final release */
} Press;

/* Where the hold time ends in a press that started at start: in a pressed run, right then; in a
 * release bounce, when the bounce ends. */
static void hold_reached(uint64_t start, uint64_t run_start, uint64_t run_end, bool pressed, uint64_t *long_at) {
        if (*long_at == 0 && start + H > run_start && start + H <= run_end)
                *long_at = pressed ? start + H : run_end;
}

/* A random sequence of physical presses: around the hold time often, glitches sometimes. */
static size_t make_presses(Edge *e, size_t *n, Press *presses) {
        uint64_t t = T0;
        size_t n_presses = 1 + rnd(5);

        *n = 0;
        for (size_t k = 0; k < n_presses; k++) {
                bool glitch = rnd(5) == 0;
                uint64_t from = t, start, release, long_at = 0;

                t = bounce(e, n, t, true);
                start = t;
                e[(*n)++] = (Edge) { t, true };
                t += glitch ? 1 + rnd(D - 1) : rnd(2) ? D + rnd(H) : H - MS(50) + rnd(MS(100));
                hold_reached(start, start, t, true, &long_at);
                for (uint64_t j = rnd(4); j > 0; j--) {
                        uint64_t up = 1 + rnd(D - 1), down = 1 + rnd(D - 1);

                        e[(*n)++] = (Edge) { t, false };
                        hold_reached(start, t, t + up, false, &long_at);
                        t += up;
                        e[(*n)++] = (Edge) { t, true };
                        hold_reached(start, t, t + down, true, &long_at);
                        t += down;
                }
                release = t;
                e[(*n)++] = (Edge) { t, false };
                t += D + rnd(MS(1500));

                presses[k] = (Press) {
                        .from = from,
                        .to = t,
                        .type = glitch ? BUTTON_NONE : long_at ? BUTTON_LONG_PRESS : BUTTON_SHORT_PRESS,
                        .t = long_at ?: release + D,
                        .held = release - start,
                };
        }
        return n_presses;
}

static void test_random(void) {
        unsigned exact = 0, same_types = 0, one_per_press = 0, long_only_held = 0, iterations = 3000;

        for (unsigned i = 0; i < iterations; i++) {
                Edge e[200];
                Press presses[8];
                size_t n, n_presses, n_expect = 0;
                Run r, late;
                bool ok_exact, ok_types, ok_one = true, ok_long = true;

                n_presses = make_presses(e, &n, presses);
                r = play(e, n, 0);
                late = play(e, n, rnd(MS(20)));

                ok_exact = !r.stuck;
                for (size_t k = 0; k < n_presses; k++) {
                        unsigned in_window = 0;

                        if (presses[k].type != BUTTON_NONE) {
                                ok_exact = ok_exact && n_expect < r.n && r.type[n_expect] == presses[k].type &&
                                           r.t[n_expect] == presses[k].t;
                                n_expect++;
                        }
                        for (size_t j = 0; j < r.n; j++) {
                                if (r.t[j] <= presses[k].from || r.t[j] > presses[k].to)
                                        continue;
                                in_window++;
                                if (r.type[j] == BUTTON_LONG_PRESS && presses[k].held < H)
                                        ok_long = false;
                        }
                        ok_one = ok_one && in_window <= 1;
                }
                ok_exact = ok_exact && r.n == n_expect;
                ok_types = !late.stuck && late.n == r.n;
                for (size_t k = 0; ok_types && k < r.n; k++)
                        ok_types = late.type[k] == r.type[k];

                if (!ok_exact && exact == i)
                        printf("# first mismatch: sequence %u (%zu edges, %zu presses, %zu events)\n", i, n, n_presses, r.n);
                exact += ok_exact;
                same_types += ok_types;
                one_per_press += ok_one;
                long_only_held += ok_long;
        }
        CHECK(exact == iterations, "random bounces: every press gives the expected event at the expected time (%u/%u)",
              exact, iterations);
        CHECK(one_per_press == iterations, "random bounces: at most one event per physical press (%u/%u)", one_per_press,
              iterations);
        CHECK(long_only_held == iterations, "random bounces: long only when held for the hold time (%u/%u)",
              long_only_held, iterations);
        CHECK(same_types == iterations, "random bounces: a timer up to 20 ms late changes no event (%u/%u)", same_types,
              iterations);
}

int main(void) {
        test_basics();
        test_short();
        test_long();
        test_succession();
        test_deadlines();
        test_random();
        return tap_done();
}
