#!/bin/bash
# Prints the button's presses as the daemon sees them, and every raw edge, while you press it.
# Usage: tests/hw/button.sh [CHIP:LINE[:active-high]] [--hold SECONDS] [--debounce MS]
# The default line is GPIO27 of a Raspberry Pi 4 (header pin 13). See tests/hw/README.md.
set -euo pipefail
HWTEST=${HWTEST:-$(dirname "$0")/../../build/nspawn-runner-hwtest}
line=pinctrl-bcm2711:GPIO27
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
        line=$1
        shift
fi
[ -x "$HWTEST" ] || { echo "button: build it first (make)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "button: run as root" >&2; exit 1; }

cat <<'TEXT'
Try, one after the other (the times assume the default --hold 5):
  a tap                        → "short-press" right after you let go
  hold it for 7 s              → "long-press" 5 s in, while you still hold it; nothing when you let go
  hold it for 4 s              → "short-press" when you let go
  five quick taps              → five "short-press", however the contacts bounce
  touch it as lightly as you can → maybe "raw" lines only: bounces under 30 ms are no press
"raw" lines are the edges the kernel saw; a press shows many of them on a bouncy button.
Ctrl-C ends.

TEXT
exec "$HWTEST" button --gpio "$line" --raw "$@"
