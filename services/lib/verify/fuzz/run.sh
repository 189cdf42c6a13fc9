#!/usr/bin/env bash
# Fuzzes hookmetry-verify's header parsing under libFuzzer for a bounded time, on stable Rust.
#
#   services/lib/verify/fuzz/run.sh [SECONDS]      # default 30
#   services/lib/verify/fuzz/run.sh --install-only # installs cargo-fuzz when missing, runs nothing
#
# Exits non-zero when the target panics (the input that did it is saved under
# services/lib/verify/fuzz/artifacts/headers/; replay it with
# `cargo fuzz run headers --fuzz-dir services/lib/verify/fuzz --sanitizer none <file>`).
#
# Stable Rust is enough: with `--sanitizer none`, cargo-fuzz passes only stable flags
# (`-Cpasses=sancov-module` and `-Cllvm-args=…` for coverage); it is AddressSanitizer
# (`-Zsanitizer`) that would need nightly, and safe Rust does not need it. libfuzzer-sys compiles
# libFuzzer itself, so a C++ compiler is needed (installed with apt-get when running as root).
set -euo pipefail

seconds="${1:-30}"
install_only=false
if [ "$seconds" = "--install-only" ]; then
	install_only=true
	seconds=0
fi
case "$seconds" in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$fuzz_dir/../../../.." && pwd)"
cargo_fuzz_version="${CARGO_FUZZ_VERSION:-0.13.2}"

if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "installing cargo-fuzz $cargo_fuzz_version" >&2
	cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi
if $install_only; then
	cargo fuzz --version
	exit 0
fi

if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing g++ (libfuzzer-sys builds libFuzzer from C++ source)" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
	else
		echo "a C++ compiler is needed to build libFuzzer: install g++ (apt-get install g++)" >&2
		exit 2
	fi
fi

cd "$repo_root"
# Its own target directory: the coverage-instrumented build must not share the workspace's.
# -timeout: one input taking over 10 s is a hang, reported as a failure.
exec cargo fuzz run headers \
	--fuzz-dir services/lib/verify/fuzz \
	--target-dir services/lib/verify/fuzz/target \
	--sanitizer none \
	-- \
	-max_total_time="$seconds" \
	-timeout=10 \
	-rss_limit_mb=2048 \
	-print_final_stats=1
