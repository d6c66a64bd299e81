# Shared by screenshot.sh and measure_fps.sh (sourced, not run): Debian packages, the
# release binary and an Xvfb display that is stopped (with the app) when the script exits.

# need_packages CMD:PACKAGE ... — install the packages whose command is missing (as root).
need_packages() {
    local need=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
    done
    ((${#need[@]})) || return 0
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "missing packages: ${need[*]} (install them with apt-get)" >&2
        exit 1
    fi
}

# release_binary — sets BIN (builds unless BIN is already set).
release_binary() {
    if [ -z "${BIN:-}" ]; then
        cargo build --release
        BIN="${CARGO_TARGET_DIR:-target}/release/eos-explorer"
    fi
}

# start_xvfb DISPLAY_NUM [WxH] — a 1280x800 screen (or WxH); APP_PID (if set) and Xvfb die on
# exit, and EXTRA_CLEANUP (a command string) runs too.
start_xvfb() {
    Xvfb ":$1" -screen 0 "${2:-1280x800}x24" -nolisten tcp >/dev/null 2>&1 &
    XVFB_PID=$!
    APP_PID=
    trap 'xvfb_cleanup' EXIT
    sleep 1.5
}

xvfb_cleanup() {
    [ -n "${APP_PID:-}" ] && kill "$APP_PID" 2>/dev/null || true
    kill "$XVFB_PID" 2>/dev/null || true
    wait "$XVFB_PID" 2>/dev/null || true
    [ -n "${EXTRA_CLEANUP:-}" ] && eval "$EXTRA_CLEANUP" || true
}
