#!/bin/bash
# Shows every status LED state on a real board, a few seconds each, saying what to look for.
# Usage: tests/hw/led-cycle.sh [--sysfs DIR] [--gpio CHIP:LINE[:active-low]] [SECONDS]
# Without --sysfs or --gpio it drives the board's ACT LED. See tests/hw/README.md.
set -euo pipefail
HWTEST=${HWTEST:-$(dirname "$0")/../../build/nspawn-runner-hwtest}
leds=()
seconds=6
while [ $# -gt 0 ]; do
        case $1 in
        --sysfs | --gpio) leds+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        *) seconds=$1; shift ;;
        esac
done
[ -x "$HWTEST" ] || { echo "led-cycle: build it first (make)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "led-cycle: run as root" >&2; exit 1; }
if [ ${#leds[@]} -eq 0 ]; then
        # Raspberry Pi OS and mainline kernels call it ACT, older ones led0.
        for d in /sys/class/leds/ACT /sys/class/leds/led0; do
                [ -d "$d" ] && { leds=(--sysfs "$d"); break; }
        done
        [ ${#leds[@]} -gt 0 ] || { echo "led-cycle: no ACT LED here; give --sysfs DIR or --gpio CHIP:LINE" >&2; exit 1; }
fi

for state in booting idle busy refreshing attention; do
        echo
        echo "== now, for $seconds s:"
        "$HWTEST" led "${leds[@]}" "$state" "$seconds"
done
echo
echo "== now, for $seconds s: idle again, and halfway through, the button's ack:"
"$HWTEST" led "${leds[@]}" --ack idle "$seconds"

echo
echo "== done: each LED is back to what it did before (a sysfs LED to its kernel trigger)."
for ((i = 0; i < ${#leds[@]}; i += 2)); do
        if [ "${leds[i]}" = --sysfs ]; then
                echo "   ${leds[i + 1]}: trigger $(grep -o '\[[^]]*\]' "${leds[i + 1]}/trigger")"
        fi
done
