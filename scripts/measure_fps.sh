#!/usr/bin/env bash
# Frame rate of the desktop app under Xvfb while a preset trains (issue 4: "the UI stays at
# >= 30 fps while the CIFAR-5k preset trains"). The app repaints continuously (EOS_FPS_LOG=1)
# and prints frames/s every 3 s; this script prints those lines and a summary.
#
#   scripts/measure_fps.sh                                   # digits-demo, 45 s
#   PRESET=cohen-fig1 CIFAR_DIR=../shared/data/cifar10 SECONDS_=90 scripts/measure_fps.sh
#   TAB=selfstab ...                                         # another workspace in front
#   BIN=target/release/eos-explorer ...                      # skip the build
#
# Needs: xvfb (installed with apt-get if missing and running as root).
set -euo pipefail

cd "$(dirname "$0")/.."
PRESET=${PRESET:-digits-demo}
SECS=${SECONDS_:-45}
TAB=${TAB:-training}
DISPLAY_NUM=${DISPLAY_NUM:-98}
RENDERER=${RENDERER:-glow}

# shellcheck source=scripts/xvfb-common.sh
. scripts/xvfb-common.sh
need_packages Xvfb:xvfb
release_binary
LOG=$(mktemp)
EXTRA_CLEANUP='rm -f "$LOG"'
start_xvfb "$DISPLAY_NUM"

args=(--renderer "$RENDERER" --preset "$PRESET")
[ -n "${CIFAR_DIR:-}" ] && args+=(--cifar-dir "$CIFAR_DIR")
EOS_START_TAB=$TAB EOS_FPS_LOG=1 EOS_NO_DIALOG=1 DISPLAY=":$DISPLAY_NUM" \
    XDG_CONFIG_HOME="$(mktemp -d)" XDG_DATA_HOME="$(mktemp -d)" \
    "$BIN" "${args[@]}" >"$LOG" 2>&1 &
APP_PID=$!
sleep "$SECS"
kill "$APP_PID" 2>/dev/null || true
wait "$APP_PID" 2>/dev/null || true
APP_PID=

grep "first frame" "$LOG" || true
grep "frames/s" "$LOG" || { cat "$LOG" >&2; echo "no frame-rate lines" >&2; exit 1; }
# Skip the first window (start-up, data loading), summarise the rest.
grep "frames/s" "$LOG" | tail -n +2 | sed -E 's/.*: ([0-9.]+) frames\/s.*/\1/' | sort -n |
    awk -v p="$PRESET" -v t="$TAB" '{v[NR]=$1} END {
        if (NR == 0) { print "too short to summarise"; exit }
        printf "%s (%s workspace): %d windows of 3 s, frames/s min %.1f, median %.1f, max %.1f\n",
            p, t, NR, v[1], v[int((NR+1)/2)], v[NR] }'
