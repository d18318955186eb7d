#!/usr/bin/env bash
# Find (or install) a headless-capable Chromium and its matching chromedriver.
#
# Prints two lines on stdout, suitable for `eval "$(scripts/ensure_chromium.sh)"`:
#   CHROMIUM=/usr/bin/chromium
#   CHROMEDRIVER=/usr/bin/chromedriver
# Progress and errors go to stderr. Exits non-zero with a clear message when it cannot.
#
# Lookup order: $CHROMIUM_BIN / $CHROMEDRIVER_BIN if set, then the PATH. When either is
# missing it installs Debian's `chromium` and `chromium-driver` packages with apt-get
# (as root, or through sudo when available). Set LEGIS_NO_INSTALL=1 to forbid installing.
set -euo pipefail

log() { echo "ensure_chromium: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# explicit overrides must be right: fail here rather than silently installing something else
if [[ -n "${CHROMIUM_BIN:-}" && ! -x "${CHROMIUM_BIN}" ]]; then
    die "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable file"
fi
if [[ -n "${CHROMEDRIVER_BIN:-}" && ! -x "${CHROMEDRIVER_BIN}" ]]; then
    die "CHROMEDRIVER_BIN=$CHROMEDRIVER_BIN is not an executable file"
fi

find_chromium() {
    if [[ -n "${CHROMIUM_BIN:-}" ]]; then
        echo "$CHROMIUM_BIN"; return 0
    fi
    local c
    for c in chromium chromium-browser; do
        if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
    done
    return 1
}

find_chromedriver() {
    if [[ -n "${CHROMEDRIVER_BIN:-}" ]]; then
        echo "$CHROMEDRIVER_BIN"; return 0
    fi
    if command -v chromedriver >/dev/null 2>&1; then command -v chromedriver; return 0; fi
    # Debian's chromium-driver installs here
    if [[ -x /usr/lib/chromium/chromedriver ]]; then echo /usr/lib/chromium/chromedriver; return 0; fi
    return 1
}

install_chromium() {
    [[ "${LEGIS_NO_INSTALL:-0}" == "1" ]] && die "chromium/chromedriver not found and LEGIS_NO_INSTALL=1"
    command -v apt-get >/dev/null 2>&1 \
        || die "chromium/chromedriver not found and apt-get is unavailable; install Chromium and chromedriver, or set CHROMIUM_BIN and CHROMEDRIVER_BIN"
    local sudo=""
    if [[ "$(id -u)" != "0" ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            die "chromium/chromedriver not found; installing needs root: run 'apt-get install -y chromium chromium-driver' as root"
        fi
    fi
    log "installing Debian packages chromium and chromium-driver (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get -o DPkg::Lock::Timeout=600 update >&2 \
        || die "apt-get update failed (is the Debian mirror reachable?)"
    $sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium chromium-driver >&2 \
        || die "apt-get install chromium chromium-driver failed"
}

chromium="$(find_chromium || true)"
chromedriver="$(find_chromedriver || true)"
if [[ -z "$chromium" || -z "$chromedriver" ]]; then
    install_chromium
    chromium="$(find_chromium || true)"
    chromedriver="$(find_chromedriver || true)"
fi
[[ -n "$chromium" ]] || die "chromium is still missing after installing"
[[ -n "$chromedriver" ]] || die "chromedriver is still missing after installing"

# both must run (a broken install or missing shared library fails here, not in the tests)
"$chromium" --version >/dev/null 2>&1 || die "$chromium does not run ('$chromium --version' failed)"
"$chromedriver" --version >/dev/null 2>&1 || die "$chromedriver does not run ('$chromedriver --version' failed)"

echo "CHROMIUM=$chromium"
echo "CHROMEDRIVER=$chromedriver"
