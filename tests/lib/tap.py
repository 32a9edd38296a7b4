# SPDX-License-Identifier: GPL-2.0-or-later
"""The one TAP harness of the Python test suites (tests/integration, tests/network, tests/faults,
tests/image). Python 3.11 stdlib only.

A suite is a list of tests, each a name and a function. What every suite prints:
    1..N                           the plan (last for scenarios, whose points are counted as they come)
    ok N - name                    a test passed; "ok N - name # SKIP why" when it could not run here
    not ok N - name: reason        a test failed; the reason is one line
    # …                            diagnostics: what a test said, "took 7.3 s" for a slow one
    P passed, F failed             the last line; the exit status is 1 when F > 0, else 0

Two kinds of test:
- a test function raises Fail (through require()) at its first broken assertion: one TAP line;
  it may return a short note, printed after its name in parentheses;
- a scenario is a sequence of points, each its own TAP line counted as it is reached (point()), for
  suites that walk one process through many states (the daemon, appliance-setup). A scenario that
  raises is one more failed point.
`-k PATTERN` runs the tests (or scenarios) whose name matches the regular expression, ignoring case,
in every suite. The suite's teardown runs when the tests are done, when one raises something
unexpected, and on SIGINT, SIGTERM or SIGHUP; the host-is-clean test a suite adds last (final=) runs
whatever -k selected.
"""

from __future__ import annotations

import atexit
import re
import signal
import time
import traceback

SLOW_SECONDS = 5  # a test taking longer gets a "# took N s" line


class Fail(Exception):
    """A test's assertion failed; the message is the short reason."""


class Skip(Exception):
    """A test cannot run here; the message says why (TAP: ok … # SKIP reason)."""


def require(cond, msg):
    """Fails the running test with msg unless cond holds."""
    if not cond:
        raise Fail(msg)


def add_arguments(ap):
    """The options every suite takes."""
    ap.add_argument("-k", dest="pattern", metavar="PATTERN",
                    help="run only the tests whose name matches this regular expression (case ignored)")


def selected(tests, pattern):
    """The (name, …) tuples whose name matches pattern, in order; all of them without one."""
    if not pattern:
        return list(tests)
    rx = re.compile(pattern, re.I)
    return [t for t in tests if rx.search(t[0])]


class Tap:
    def __init__(self):
        self.n = self.passed = self.failed = 0
        self.pending_diag = []
        self.in_test = False

    # -- output --
    def say(self, text):
        print(text, flush=True)

    def diag(self, text):
        """# lines; inside a test they follow its ok/not ok line."""
        lines = [f"# {line}" for line in str(text).rstrip().splitlines()]
        if self.in_test:
            self.pending_diag += lines
        else:
            for line in lines:
                self.say(line)

    def plan(self, n):
        self.say(f"1..{n}")

    def _line(self, ok, name, detail=""):
        self.n += 1
        if ok:
            self.passed += 1
            self.say(f"ok {self.n} - {name}{detail}")
        else:
            self.failed += 1
            self.say(f"not ok {self.n} - {name}{detail}")
        return ok

    def point(self, cond, name):
        """A counted point of a scenario: one TAP line now; returns cond."""
        return self._line(bool(cond), name)

    # -- running tests --
    def test(self, name, fn, *args):
        """Runs one test function; returns whether it passed."""
        t0 = time.monotonic()
        self.in_test = True
        reason = skipped = note = None
        try:
            note = fn(*args)
        except Fail as e:
            reason = str(e)
        except Skip as e:
            skipped = str(e)
        except Exception as e:  # a bug in the test or the product: report it, go on
            reason = f"{type(e).__name__}: {e}"
            self.diag(traceback.format_exc())
        finally:
            self.in_test = False
        if reason is not None:
            self._line(False, name, ": " + reason.replace("\n", " "))
        elif skipped is not None:
            self._line(True, name, f" # SKIP {skipped}")
        else:
            self._line(True, name, f" ({note})" if note not in (None, "") else "")
        dt = time.monotonic() - t0
        if dt >= SLOW_SECONDS:
            self.diag(f"took {dt:.1f} s")
        self.flush_diag()
        return reason is None

    def scenario(self, name, fn, *args):
        """Runs a scenario of points; an exception in it is one failed point."""
        self.diag(name)
        try:
            fn(*args)
        except Exception as e:
            self.point(False, f"{name}: {type(e).__name__}: {e}")
            self.diag(traceback.format_exc())

    def flush_diag(self):
        for line in self.pending_diag:
            self.say(line)
        self.pending_diag.clear()

    def summary(self):
        """The last line; returns the exit status."""
        self.say(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def interrupt_on_signals():
    """SIGTERM and SIGHUP end a suite as ^C does: through KeyboardInterrupt, so teardown runs."""
    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def once(fn):
    """fn, called at most once: later calls return None."""
    done = []

    def call():
        if done:
            return None
        done.append(True)
        return fn()
    return call


def run(tests, pattern=None, teardown=None, final=None, setup=None, scenarios=False, tap=None):
    """Runs the tests matching pattern, in order, then final (name, fn), which always runs; prints the
    plan first, the summary last; returns the exit status. setup() runs once before the
    first test (a failure there is a diagnostic: the tests that need it fail on their own). teardown()
    runs also on an exception or an interruption, which counts as a failure; the notes it returns are
    diagnostics. With scenarios=True the tests are scenarios of points (Tap.scenario)."""
    t_start = time.monotonic()
    tap = tap or Tap()
    todo = selected(tests, pattern) + ([final] if final else [])
    if teardown:
        teardown = once(teardown)
        atexit.register(teardown)  # a safety net: a no-op once the finally below has run it
    interrupt_on_signals()
    if not scenarios:
        tap.plan(len(todo))
    try:
        if setup:
            setup(todo)
        for name, fn in todo:
            if scenarios:
                tap.scenario(name, fn)
            else:
                tap.test(name, fn)
    except KeyboardInterrupt:
        tap.flush_diag()
        tap.diag("interrupted: tearing down")
        tap.failed += 1
    finally:
        if teardown:
            for note in teardown() or ():
                tap.diag(f"teardown: {note}")
    if scenarios:
        tap.plan(tap.n)
    tap.diag(f"total time {time.monotonic() - t_start:.0f} s")
    return tap.summary()
