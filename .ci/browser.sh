#!/usr/bin/env bash
# Headless Chromium for the web inspector's browser test (tests/suite/ui.rs runs tests/js/ui.e2e.mjs).
#
#   export HOOKMETRY_CHROMIUM="$(.ci/browser.sh)"
#
# Idempotent: uses $HOOKMETRY_CHROMIUM or a `chromium` already installed, and otherwise installs
# Debian's `chromium` package (plus the DejaVu fonts the screenshots are drawn with) with apt-get.
# Prints the browser's path on stdout, progress on stderr; exits non-zero, saying why, when there
# is no working browser at the end.
set -euo pipefail

log() { echo "browser: $*" >&2; }

find_browser() {
    local candidate
    for candidate in "${HOOKMETRY_CHROMIUM:-}" "$(command -v chromium 2>/dev/null || true)" /usr/bin/chromium; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

works() {
    # Debian's wrapper script prints a harmless shell warning on some machines; only the exit
    # status and the version line matter.
    "$1" --headless --no-sandbox --version 2>/dev/null | grep -qi chrom
}

if browser=$(find_browser) && works "$browser"; then
    log "using $browser ($("$browser" --version 2>/dev/null))"
    echo "$browser"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    log "no Chromium found and no apt-get to install one: install Chromium and set HOOKMETRY_CHROMIUM to it"
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        log "no Chromium found, and installing it with apt-get needs root (or sudo)"
        exit 1
    fi
fi

log "installing Debian's chromium package"
if ! $sudo apt-get update -qq >&2 \
    || ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-dejavu-core >&2; then
    log "apt-get could not install chromium (see above)"
    exit 1
fi

if browser=$(find_browser) && works "$browser"; then
    log "installed $browser ($("$browser" --version 2>/dev/null))"
    echo "$browser"
    exit 0
fi
log "chromium was installed but does not start: try \`chromium --headless --no-sandbox --version\`"
exit 1
