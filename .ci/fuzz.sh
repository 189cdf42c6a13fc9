#!/usr/bin/env bash
# Runs the libFuzzer targets for a bounded time each, on stable Rust.
#
#   .ci/fuzz.sh [SECONDS] [TARGET...]   # default 30 s for each target named (all when none are)
#   .ci/fuzz.sh --install-only          # installs cargo-fuzz when missing, runs nothing
#
# Targets, and the fuzz crate each lives in:
#
#   headers          services/lib/verify/fuzz  signature header parsing and verification
#   header_tap       services/ingest/fuzz      ingest's header tap against hyper on pipelined requests
#   response_reader  services/lib/egress/fuzz  the replay client's HTTP/1.1 response reader
#
# Each target starts from its committed inputs (DIR/seeds/TARGET, regression inputs among them)
# and whatever earlier local runs left in DIR/corpus/TARGET, with DIR/TARGET.dict when there is
# one. A target fails on a panic or on one input running over 10 s; the input is saved under
# DIR/artifacts/TARGET/, and `cargo fuzz run TARGET --fuzz-dir DIR --target-dir target/fuzz
# --sanitizer none FILE` replays it. Every target named runs even when an earlier one failed; the
# exit status says whether any did.
#
# Stable Rust is enough: with `--sanitizer none`, cargo-fuzz passes only stable flags
# (`-Cpasses=sancov-module` and `-Cllvm-args=…` for coverage); it is AddressSanitizer
# (`-Zsanitizer`) that would need nightly, and safe Rust does not need it. libfuzzer-sys compiles
# libFuzzer itself, so a C++ compiler is needed (installed with apt-get when running as root).
set -euo pipefail

declare -A fuzz_dirs=(
	[headers]=services/lib/verify/fuzz
	[header_tap]=services/ingest/fuzz
	[response_reader]=services/lib/egress/fuzz
)
all_targets=(headers header_tap response_reader)

seconds="${1:-30}"
install_only=false
if [ "$seconds" = "--install-only" ]; then
	install_only=true
	seconds=0
fi
case "$seconds" in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS] [TARGET...] | --install-only" >&2
	exit 2
	;;
esac
shift $(($# > 0 ? 1 : 0))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=("${all_targets[@]}")
fi
for target in "${targets[@]}"; do
	if [ -z "${fuzz_dirs[$target]:-}" ]; then
		echo "unknown fuzz target $target (known: ${all_targets[*]})" >&2
		exit 2
	fi
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
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
failed=()
for target in "${targets[@]}"; do
	dir="${fuzz_dirs[$target]}"
	# One target directory for the fuzz crates, apart from the workspace's (their builds are
	# coverage-instrumented): libFuzzer's C++ and the crates they have in common build once, which
	# saves about 80 s of CPU on a clean clone.
	common=(--fuzz-dir "$dir" --target-dir target/fuzz --sanitizer none)
	started=$(date +%s)
	echo "== fuzz $target: build"
	if ! cargo fuzz build "$target" "${common[@]}"; then
		failed+=("$target (build)")
		continue
	fi
	built=$(date +%s)
	corpora=("$dir/corpus/$target")
	mkdir -p "${corpora[0]}"
	if [ -d "$dir/seeds/$target" ]; then
		corpora+=("$dir/seeds/$target")
	fi
	options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
	if [ -f "$dir/$target.dict" ]; then
		options+=(-dict="$dir/$target.dict")
	fi
	echo "== fuzz $target: ${seconds}s of libFuzzer"
	rc=0
	cargo fuzz run "$target" "${common[@]}" "${corpora[@]}" -- "${options[@]}" || rc=$?
	echo "== fuzz $target: exit $rc, build $((built - started))s, run $(($(date +%s) - built))s"
	if [ "$rc" -ne 0 ]; then
		failed+=("$target")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "FAIL: fuzz targets: ${failed[*]}" >&2
	exit 1
fi
