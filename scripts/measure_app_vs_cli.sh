#!/usr/bin/env bash
# The app's training speed against the CLI's, and the UI thread's CPU share, in the same
# minutes (issue 9): digits-demo in the app with its window shown, then with the window
# unmapped (hidden), then the same preset in the CLI. The app repaints as users get it
# (EOS_FPS_LOG=passive only logs its step every 3 s; it does not force repaints).
#
#   scripts/measure_app_vs_cli.sh                 # 30 s per phase
#   PHASE_S=60 BIN=target/release/eos-explorer scripts/measure_app_vs_cli.sh
#
# The app measures Damian et al.'s quantities beside digits-demo by default, so the CLI runs
# with --theory too (CLI_ARGS overrides). The app's training worker runs at nice 10 so the UI
# keeps its frame rate; EOS_WORKER_NICE=0 turns that off (it matters when other processes
# compete for the cores).
#
# Needs: xvfb and xdotool (installed with apt-get if missing and running as root).
set -euo pipefail

cd "$(dirname "$0")/.."
PRESET=${PRESET:-digits-demo}
PHASE_S=${PHASE_S:-30}
DISPLAY_NUM=${DISPLAY_NUM:-97}

# shellcheck source=scripts/xvfb-common.sh
. scripts/xvfb-common.sh
need_packages Xvfb:xvfb xdotool:xdotool
release_binary
LOG=$(mktemp)
OUT=$(mktemp -d)
EXTRA_CLEANUP='rm -rf "$LOG" "$OUT"'
start_xvfb "$DISPLAY_NUM"
TCK=$(getconf CLK_TCK)

# CPU ticks (user + system) of the app's main (UI) thread and of all its threads.
ticks() {
    local main=0 all=0 t f
    for t in /proc/"$APP_PID"/task/*; do
        f=$(sed -E 's/^[0-9]+ \(.*\) //' "$t/stat" 2>/dev/null) || continue
        # After the command name: field 12 = utime, 13 = stime (stat(5) fields 14, 15).
        set -- $f
        all=$((all + ${12} + ${13}))
        [ "${t##*/}" = "$APP_PID" ] && main=$((${12} + ${13}))
    done
    echo "$main $all"
}
# The newest "training at step N" the app logged, with the time it was logged.
last_step() { grep -E "training at step" "$LOG" | tail -1 | sed -E 's/^([0-9.]+) .*training at step ([0-9]+).*/\1 \2/'; }

EOS_FPS_LOG=passive EOS_NO_DIALOG=1 DISPLAY=":$DISPLAY_NUM" \
    XDG_CONFIG_HOME="$OUT/cfg" XDG_DATA_HOME="$OUT/data" \
    "$BIN" --preset "$PRESET" 2>&1 | while IFS= read -r line; do
        printf '%s %s\n' "$(date +%s.%N)" "$line"; done >"$LOG" &
sleep 3
APP_PID=$(pgrep -n -f "$BIN --preset $PRESET" || true)
[ -n "$APP_PID" ] || { cat "$LOG" >&2; echo "the app did not start" >&2; exit 1; }
sleep 4

RANGES=()
phase() { # phase NAME — one phase of PHASE_S seconds; prints steps/s and CPU shares
    local name=$1 t0 t1 s0 s1 m0 m1 a0 a1 w0 w1
    read -r t0 s0 < <(last_step)
    read -r m0 a0 < <(ticks)
    w0=$(date +%s.%N)
    sleep "$PHASE_S"
    read -r m1 a1 < <(ticks)
    w1=$(date +%s.%N)
    if [ "$name" = hidden ]; then
        { DISPLAY=":$DISPLAY_NUM" xdotool search --name "EoS explorer" || true; } | while read -r w; do DISPLAY=":$DISPLAY_NUM" xdotool windowmap "$w"; done
        sleep 4
    fi
    read -r t1 s1 < <(last_step)
    RANGES+=("$name $s0 $s1")
    awk -v n="$name" -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v m0="$m0" -v m1="$m1" \
        -v a0="$a0" -v a1="$a1" -v w0="$w0" -v w1="$w1" -v tck="$TCK" 'BEGIN {
        wall = w1 - w0
        printf "app, window %-6s: %6.1f steps/s over steps %d-%d; UI thread %4.1f %% of a core, all threads %5.1f %%\n",
            n, (s1 - s0) / (t1 - t0), s0, s1, 100 * (m1 - m0) / tck / wall, 100 * (a1 - a0) / tck / wall }'
}

phase shown
{ DISPLAY=":$DISPLAY_NUM" xdotool search --name "EoS explorer" || true; } | while read -r w; do DISPLAY=":$DISPLAY_NUM" xdotool windowunmap "$w"; done
phase hidden
kill "$APP_PID" 2>/dev/null || true
sleep 1
APP_PID=

# The CLI, same preset, up to the app's last step. Its rows are counted twice a second while it
# runs (metrics.csv's wall_s leaves out the probes' time, so it is not used here), and its rate
# is taken over the same steps as the app's.
last=$(echo "${RANGES[-1]}" | cut -d' ' -f3)
# shellcheck disable=SC2086
"$BIN" run --preset "$PRESET" ${CLI_ARGS---theory} --steps $((last + 1)) --out "$OUT/cli" --quiet >/dev/null 2>&1 &
CLI_PID=$!
while kill -0 "$CLI_PID" 2>/dev/null; do
    f=$(ls "$OUT"/cli/metrics.csv* 2>/dev/null | head -1 || true)
    [ -n "$f" ] && echo "$(date +%s.%N) $(($(wc -l <"$f") - 2))"
    sleep 0.5
done >"$OUT/cli-rows.txt"
wait "$CLI_PID" || true
for r in "${RANGES[@]}"; do
    set -- $r
    awk -v n="$1" -v s0="$2" -v s1="$3" '
        # time at which the row count first reached s: linear between samples
        function at(s,   i) { for (i = 2; i <= N; i++) if (c[i] >= s) return t[i-1] + (t[i] - t[i-1]) * (s - c[i-1]) / ((c[i] - c[i-1]) > 0 ? (c[i] - c[i-1]) : 1); return t[N] }
        { N++; t[N] = $1; c[N] = $2 }
        END { printf "CLI, steps of %-6s: %6.1f steps/s over steps %d-%d\n", n, (s1 - s0) / (at(s1) - at(s0)), s0, s1 }' "$OUT/cli-rows.txt"
done
