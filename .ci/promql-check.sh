#!/usr/bin/env bash
# Alert rules and dashboards: promtool check rules, promtool test rules (every alert firing and
# not firing), the dashboards against their generator, and every PromQL expression of dashboards
# and rules against promtool and docs/metrics.md (deploy/check-promql.py, with its self-test).
# Installs promtool (Debian package `prometheus`) and PyYAML (`python3-yaml`) when missing.
# Runs every step, prints PASS or FAIL for each, and exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
status=0
run() {
  local name=$1
  shift
  local t0 out rc
  t0=$(date +%s)
  out=$(timeout 300 "$@" 2>&1)
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "PASS  $name ($(($(date +%s) - t0))s)"
  else
    [ $rc -eq 124 ] && out="$out"$'\n'"(timed out after 300 s)"
    echo "FAIL  $name ($(($(date +%s) - t0))s)"
    printf '%s\n' "$out" | sed 's/^/      /'
    status=1
  fi
}

missing=""
command -v promtool >/dev/null || missing="$missing prometheus"
command -v python3 >/dev/null || missing="$missing python3"
python3 -c 'import yaml' 2>/dev/null || missing="$missing python3-yaml"
if [ -n "$missing" ]; then
  echo "installing:$missing"
  # The package's service is not wanted here; containers deny starting it (policy-rc.d).
  if ! timeout 900 bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null"; then
    echo "FAIL  install$missing"
    exit 1
  fi
fi
promtool --version 2>&1 | head -n 1

run "promtool check rules deploy/prometheus/alerts.yaml" promtool check rules deploy/prometheus/alerts.yaml
run "promtool test rules deploy/prometheus/tests/alerts_test.yaml" \
  promtool test rules deploy/prometheus/tests/alerts_test.yaml
run "dashboards are what deploy/grafana/generate.py writes" python3 deploy/grafana/generate.py --check
run "deploy/check-promql.py --self-test (each kind of mistake is caught)" python3 deploy/check-promql.py --self-test
run "deploy/check-promql.py (every dashboard and rule expression)" python3 deploy/check-promql.py

if [ $status -eq 0 ]; then
  echo "PASS: promql checks ($(($(date +%s) - started))s)"
else
  echo "FAIL: promql checks ($(($(date +%s) - started))s)"
fi
exit $status
