#!/usr/bin/env bash
# Every Debian package the CI steps need, in one apt-get transaction, so that .ci/run can fetch
# them in the background while the workspace compiles (two apt-gets at once would fight over the
# dpkg lock). Installs only what is missing; each step's own script still checks for what it needs
# and installs it itself when run alone.
#
#   chromium, fonts-dejavu-core   the web inspector's browser test (.ci/browser.sh)
#   prometheus, python3-yaml      promtool and the PromQL checks (.ci/promql-check.sh)
#   python3-venv                  the Helm chart checks' tools (.ci/helm-check.sh)
#   g++                           libFuzzer, built by the fuzz step (.ci/fuzz.sh)
#   curl, nodejs, npm             the export and GraphQL client suites
set -euo pipefail

missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed' || missing+=("$1"); }

need_cmd chromium chromium
need_pkg fonts-dejavu-core
need_cmd promtool prometheus
python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || missing+=(g++)
need_cmd curl curl
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages: all present"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "system packages: missing ${missing[*]} and cannot install them here (needs root and apt-get)"
    exit 1
fi
echo "system packages: installing ${missing[*]}"
timeout 600 apt-get update -qq
# The prometheus package's service is not wanted; containers deny starting it (policy-rc.d).
DEBIAN_FRONTEND=noninteractive timeout 1200 apt-get install -y -qq "${missing[@]}" >/dev/null
echo "system packages: installed ${missing[*]}"
