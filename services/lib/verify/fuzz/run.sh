#!/usr/bin/env bash
# Fuzzes hookmetry-verify's header parsing under libFuzzer for a bounded time, on stable Rust;
# .ci/fuzz.sh does the work, and runs the other fuzz targets too.
#
#   services/lib/verify/fuzz/run.sh [SECONDS]      # default 30
#   services/lib/verify/fuzz/run.sh --install-only # installs cargo-fuzz when missing, runs nothing
#
# Exits non-zero when the target panics (the input that did it is saved under
# services/lib/verify/fuzz/artifacts/headers/; replay it with
# `cargo fuzz run headers --fuzz-dir services/lib/verify/fuzz --sanitizer none <file>`).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)"
if [ "${1:-}" = "--install-only" ]; then
	exec "$repo_root/.ci/fuzz.sh" --install-only
fi
exec "$repo_root/.ci/fuzz.sh" "${1:-30}" headers
