# SPDX-License-Identifier: GPL-2.0-or-later
# The shell side of tests/lib/tap.py, sourced by the package checks (tests/package/): TAP points
# counted as they are reached, and what the checks of the man pages and the completion share.

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# point WHAT COMMAND…: one TAP point, passed when the command succeeds.
point() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
# summary NAME: the plan and "NAME: P passed, F failed" last; fails when a point failed.
summary() { echo "1..$n"; echo "$1: $((n - failed)) passed, $failed failed"; [ "$failed" -eq 0 ]; }

# What man says about a roff page (plain or gzipped), warnings only.
man_warnings() { MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null; }
# complete_words FILE WORD…: what the completion in FILE offers for the command line WORD…, the last
# word the one being completed; one a line, in the completion's order.
complete_words() {
        bash -c 'source "$1"; shift; COMP_WORDS=("$@") COMP_CWORD=$(($# - 1)); _nspawn_runner
                printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
