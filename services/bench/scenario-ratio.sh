#!/usr/bin/env bash
# What a response scenario costs ingest, measured in one run on one `hookmetry serve`: wrk with one
# thread sending 1 KiB POSTs to four endpoints in turn, each point `SECS` long, interleaved so a
# noisy neighbour hits all alike:
#   plain     the default answer (the baseline)
#   fixed     a fixed-answer rule with a header condition (matching, no store access)
#   sequence  a counting rule: one counter bump in the store per request (SQLite here)
#   capped    maxCaptures: the same bump, for the cap
# Prints each one's req/s and p99 and its ratio to `plain`. 127.0.0.1 only, bounded, stops what it
# started. Usage (from the project root, after `cargo build --release -p hookmetry`):
#   services/bench/scenario-ratio.sh [path/to/hookmetry] [connections]
set -eu
bin=${1:-target/release/hookmetry}
conns=${2:-32}
secs=${SECS:-5}
rounds=${ROUNDS:-2}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x "$bin" ] || { echo "no hookmetry binary at $bin (cargo build --release first)"; exit 1; }
data=$(mktemp -d); port=$((20000 + RANDOM % 20000))
lua=$(mktemp)
"$bin" serve --listen 127.0.0.1:$port --data-dir "$data" > "$data.log" 2>&1 & hp=$!
trap 'kill $hp 2>/dev/null; wait 2>/dev/null; rm -rf "$data" "$data.log" "$lua"' EXIT
for _ in $(seq 100); do curl -sf 127.0.0.1:$port/readyz >/dev/null && break; sleep 0.2; done
token=$(cat "$data/admin-token")
gql() {
  curl -s 127.0.0.1:$port/graphql -H "Authorization: Bearer $token" -H 'content-type: application/json' -d "$1"
}
create() {
  gql "{\"query\":\"mutation{createEndpoint(input:{name:\\\"$1\\\"}){id token}}\"}"
}
declare -A tok
for name in plain fixed sequence capped; do
  out=$(create "$name")
  tok[$name]=$(echo "$out" | sed 's/.*"token":"\([0-9a-f]*\)".*/\1/')
  id=$(echo "$out" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  case $name in
    fixed) gql "{\"query\":\"mutation{updateEndpoint(input:{id:\\\"$id\\\",scenario:[{header:{name:\\\"x-never\\\"},answer:{fixed:{status:500}}},{answer:{fixed:{status:202}}}]}){id}}\"}" >/dev/null ;;
    sequence) gql "{\"query\":\"mutation{updateEndpoint(input:{id:\\\"$id\\\",scenario:[{answer:{sequence:{steps:[{status:202},{status:200}]}}}]}){id}}\"}" >/dev/null ;;
    capped) gql "{\"query\":\"mutation{updateEndpoint(input:{id:\\\"$id\\\",maxCaptures:1000000000}){id}}\"}" >/dev/null ;;
  esac
done
sleep 2.5  # the endpoint cache
printf 'wrk.method="POST"\nwrk.body=string.rep("x",1024)\nwrk.headers["Content-Type"]="application/json"\n' > "$lua"
declare -A rps p99
for r in $(seq "$rounds"); do
  for name in plain fixed sequence capped; do
    out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$lua" "http://127.0.0.1:$port/h/${tok[$name]}/bench")
    rps[$name]="${rps[$name]:-} $(echo "$out" | awk '/Requests\/sec/{print $2}')"
    p99[$name]="${p99[$name]:-} $(echo "$out" | awk '$1=="99%"{print $2}')"
  done
done
best() { echo "$1" | tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
base=$(best "${rps[plain]}")
for name in plain fixed sequence capped; do
  b=$(best "${rps[$name]}")
  echo "$name: best $b req/s (rounds:${rps[$name]}), p99${p99[$name]}, ratio to plain $(awk "BEGIN{printf \"%.2f\", $b/$base}")"
done
