#!/usr/bin/env bash
# Copies the canonical Grafana dashboards and Prometheus alerts into the Helm chart, which cannot
# read files outside its own directory:
#
#   deploy/grafana/*.json          → helm/hookmetry/dashboards/*.json  (stale copies removed)
#   deploy/prometheus/alerts.yaml  → helm/hookmetry/files/alerts.yaml
#
# Usage: deploy/sync-chart-files.sh           copy (run after editing a dashboard or an alert)
#        deploy/sync-chart-files.sh --check   change nothing; exit 1 naming every copy that is
#                                             missing, different or left over (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=sync
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

src_dash=deploy/grafana
dst_dash=helm/hookmetry/dashboards
src_alerts=deploy/prometheus/alerts.yaml
dst_alerts=helm/hookmetry/files/alerts.yaml

# source → copy pairs, and copies that no source explains.
pairs=()
shopt -s nullglob
for f in "$src_dash"/*.json; do pairs+=("$f" "$dst_dash/$(basename "$f")"); done
if [ -f "$src_alerts" ]; then pairs+=("$src_alerts" "$dst_alerts"); fi
extra=()
for f in "$dst_dash"/*.json; do
  [ -f "$src_dash/$(basename "$f")" ] || extra+=("$f")
done
if [ ! -f "$src_alerts" ] && [ -f "$dst_alerts" ]; then extra+=("$dst_alerts"); fi

if [ "${#pairs[@]}" -eq 0 ]; then
  echo "sync-chart-files: nothing to copy: no $src_dash/*.json and no $src_alerts" >&2
  [ "$mode" = check ] && [ "${#extra[@]}" -eq 0 ] && exit 0
fi

stale=0
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
  src=${pairs[i]} dst=${pairs[i + 1]}
  if [ -f "$dst" ] && cmp -s "$src" "$dst"; then continue; fi
  if [ "$mode" = check ]; then
    if [ -f "$dst" ]; then echo "stale:   $dst differs from $src"; else echo "missing: $dst (copy of $src)"; fi
    stale=1
  else
    mkdir -p "$(dirname "$dst")"
    cp "$src" "$dst"
    echo "copied   $src → $dst"
  fi
done
for f in "${extra[@]}"; do
  if [ "$mode" = check ]; then
    echo "extra:   $f has no source in deploy/"
    stale=1
  else
    rm -f "$f"
    echo "removed  $f (no source in deploy/)"
  fi
done

if [ "$mode" = check ]; then
  if [ "$stale" -ne 0 ]; then
    echo "FAIL: the chart's copies are out of date; run deploy/sync-chart-files.sh and commit the result" >&2
    exit 1
  fi
  echo "PASS: the chart's dashboards and alerts match deploy/ ($(( ${#pairs[@]} / 2 )) files)"
fi
