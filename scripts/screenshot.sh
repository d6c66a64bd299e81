#!/usr/bin/env bash
# Build the app (release), run it under Xvfb, and save one PNG per workspace into
# docs/screenshots/. Also logs the frame rate while the digits demo trains.
#
#   scripts/screenshot.sh            # all three workspaces
#   WAIT=20 scripts/screenshot.sh    # seconds of training before the Training screenshot
#   BIN=target/debug/eos-explorer scripts/screenshot.sh   # use an existing binary
#   SHOTS="runs" SCREEN=1280x720 scripts/screenshot.sh     # only these shots, another screen
#   SUFFIX=-1024x768 SCREEN=1024x768 scripts/screenshot.sh # training-1024x768.png, …
#
# Needs: xvfb x11-apps imagemagick (installed with apt-get if missing and running as root);
# xdotool (optional) parks the mouse pointer.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=docs/screenshots
DISPLAY_NUM=${DISPLAY_NUM:-99}
WAIT=${WAIT:-15}
RENDERER=${RENDERER:-glow}
SHOTS=${SHOTS:-"training selfstab linear selfstab-network runs"}
SCREEN=${SCREEN:-1280x800}
mkdir -p "$OUT"

# shellcheck source=scripts/xvfb-common.sh
. scripts/xvfb-common.sh
need_packages Xvfb:xvfb import:imagemagick xwd:x11-apps
release_binary
start_xvfb "$DISPLAY_NUM" "$SCREEN"

shoot() { # tab file seconds [VAR=value ...]
    local tab=$1 file=$2 secs=$3 log
    shift 3
    log=$(mktemp)
    env "$@" EOS_START_TAB=$tab EOS_FPS_LOG=1 EOS_NO_DIALOG=1 DISPLAY=":$DISPLAY_NUM" \
        XDG_CONFIG_HOME="$(mktemp -d)" XDG_DATA_HOME="$(mktemp -d)" \
        "$BIN" --renderer "$RENDERER" ${APP_ARGS:-} >"$log" 2>&1 &
    APP_PID=$!
    if command -v xdotool >/dev/null; then
        # Park the pointer off the plots so no hover label shows.
        sleep 2
        # Fit the window to the screen (it opens at 1280x800, larger than 1024x768).
        DISPLAY=":$DISPLAY_NUM" xdotool search --name "EoS explorer" windowmove 0 0 \
            windowsize "${SCREEN%x*}" "${SCREEN#*x}" 2>/dev/null || true
        DISPLAY=":$DISPLAY_NUM" xdotool mousemove "$((${SCREEN%x*} - 1))" "$((${SCREEN#*x} - 1))" || true
        sleep "$((secs > 2 ? secs - 2 : 0))"
    else
        sleep "$secs"
    fi
    file="${file%.png}${SUFFIX:-}.png"
    DISPLAY=":$DISPLAY_NUM" import -window root "$OUT/$file"
    kill "$APP_PID" 2>/dev/null || true
    wait "$APP_PID" 2>/dev/null || true
    APP_PID=
    echo "== $file" >&2
    grep "frames/s" "$log" >&2 || true
    rm -f "$log"
}

want() { [[ " $SHOTS " == *" $1 "* ]]; }
want training && shoot training training.png "$WAIT"
want selfstab && shoot selfstab selfstab.png 4
want linear && shoot linear linear.png 8
# The digits demo trains while the Self-stabilization workspace follows its measured map.
want selfstab-network && shoot selfstab selfstab-network.png 25 EOS_FOLLOW_NETWORK=1
if want runs; then
    # Three CLI runs of the digits demo at different η, opened in the Runs workspace.
    RUNS_DIR=$(mktemp -d)
    k=0
    for lr in 0.4 0.2 0.1; do # the first folder (η = 0.4, at the edge) is the main run
        k=$((k + 1))
        "$BIN" run --preset digits-demo --steps 300 --eig-every 2 --lr "$lr" --quiet \
            --out "$RUNS_DIR/run-$k" >/dev/null
    done
    APP_ARGS="--open $RUNS_DIR" shoot runs runs.png 6
    rm -rf "$RUNS_DIR"
fi
ls -l "$OUT"
