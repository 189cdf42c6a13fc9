#!/usr/bin/env python3
"""Checks of deploy/compose/ that need no Docker engine (none is on the project's machines).

  - compose.yaml parses (YAML anchors and merge keys resolved as Compose does) and is
    consistent: dependencies name services, `service_healthy` targets have a healthcheck,
    bind-mounted files exist, host ports are unique, named volumes are declared;
  - every HOOKMETRY_* variable names a config key of services/lib/config/defaults.toml
    (hookmetry ignores unknown ones silently), and every `run --roles` names a role;
  - prometheus.yml, the Grafana provisioning files and the collector config parse, and point at
    services and ports that exist in compose.yaml; the alerts file Prometheus loads is a rule file;
  - with a hookmetry binary (target/debug or target/release): each hookmetry service's
    environment and command are loaded by the real binary (`migrate` against a local SQLite
    store validates the whole configuration, `run --help` the flags);
  - with `promtool` on PATH: `promtool check config` on prometheus.yml with the rules beside it.

Usage: check.py --repo DIR [--hookmetry PATH] [--require-binary]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from checklib import Report, find_binary  # noqa: E402

REPORT = Report()
check = REPORT.check
skip = REPORT.skip

ROLES = {"ingest", "processor", "replay", "api", "all"}


def env_dict(env) -> dict[str, str]:
    if isinstance(env, list):
        return dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: "" if v is None else str(v) for k, v in (env or {}).items()}


def host_of(endpoint: str) -> tuple[str, str]:
    endpoint = re.sub(r"^\w+://", "", endpoint).split("/")[0]
    host, _, port = endpoint.rpartition(":")
    return host, port


def role_of(svc: dict) -> str | None:
    cmd = svc.get("command") or []
    return cmd[cmd.index("--roles") + 1] if "--roles" in cmd[:-1] else None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True, type=Path)
    ap.add_argument("--hookmetry")
    ap.add_argument("--require-binary", action="store_true")
    args = ap.parse_args()
    repo = args.repo.resolve()
    here = repo / "deploy/compose"

    print("== compose.yaml")
    try:
        doc = yaml.safe_load((here / "compose.yaml").read_text())
    except yaml.YAMLError as e:
        check(False, "compose.yaml parses", str(e))
        return 1
    check(isinstance(doc, dict) and isinstance(doc.get("services"), dict), "compose.yaml parses, with services")
    services: dict = doc["services"]
    volumes_declared = set((doc.get("volumes") or {}).keys())
    known_keys = {f"{s}.{k}" for s, t in tomllib.loads((repo / "services/lib/config/defaults.toml").read_text()).items() for k in t}
    problems = []
    ports = {}
    for name, svc in services.items():
        if not svc.get("image"):
            problems.append(f"{name}: no image")
        deps = svc.get("depends_on") or {}
        deps = {d: {"condition": "service_started"} for d in deps} if isinstance(deps, list) else deps
        for dep, spec in deps.items():
            if dep not in services:
                problems.append(f"{name}: depends on unknown service {dep}")
                continue
            cond = spec.get("condition", "service_started")
            if cond not in ("service_started", "service_healthy", "service_completed_successfully"):
                problems.append(f"{name}: unknown condition {cond}")
            # hookmetry's image has a HEALTHCHECK of its own (deploy/docker/Dockerfile).
            if cond == "service_healthy" and "healthcheck" not in services[dep] and "build" not in services[dep]:
                problems.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
            if cond == "service_completed_successfully" and services[dep].get("restart", "no") not in ("no", None):
                problems.append(f"{name}: waits for {dep} to complete, but {dep} restarts")
        for v in svc.get("volumes") or []:
            src = v.split(":")[0] if isinstance(v, str) else v.get("source")
            if src.startswith((".", "/")):
                if not (here / src).exists():
                    problems.append(f"{name}: bind mount {src} does not exist")
            elif src not in volumes_declared:
                problems.append(f"{name}: volume {src} is not declared under volumes:")
        for p in svc.get("ports") or []:
            hostport = str(p).split(":")[0]
            if hostport in ports:
                problems.append(f"{name}: host port {hostport} also used by {ports[hostport]}")
            ports[hostport] = name
        build = svc.get("build")
        if build:
            ctx = here / build["context"]
            if not (ctx / build["dockerfile"]).is_file():
                problems.append(f"{name}: build {build} names no Dockerfile")
    check(not problems, f"{len(services)} services: dependencies, healthchecks, mounts, volumes and ports are consistent",
          "\n".join(problems))

    hookmetry = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("hookmetry")}
    problems = []
    for name, svc in hookmetry.items():
        env = env_dict(svc.get("environment"))
        for k in env:
            if k.startswith("HOOKMETRY_") and k not in ("HOOKMETRY_CONFIG", "HOOKMETRY_ROLES"):
                rest = k.removeprefix("HOOKMETRY_").lower()
                if not any(key.replace(".", "_", 1) == rest for key in known_keys):
                    problems.append(f"{name}: {k} names no config key (hookmetry would ignore it)")
        cmd = svc.get("command") or []
        if cmd[:1] == ["run"]:
            roles = cmd[cmd.index("--roles") + 1].split(",") if "--roles" in cmd else []
            if not roles or not set(roles) <= ROLES:
                problems.append(f"{name}: `{' '.join(cmd)}` names no known role")
        elif cmd[:1] != ["migrate"]:
            problems.append(f"{name}: command {cmd} is neither run nor migrate")
    run_roles = {role_of(s) for s in hookmetry.values() if (s.get("command") or [])[:1] == ["run"]}
    check(not problems and {"ingest", "processor", "replay", "api"} <= run_roles and any(
        (s.get("command") or [])[:1] == ["migrate"] for s in hookmetry.values()),
        f"hookmetry services: migrate plus one per role ({', '.join(sorted(run_roles))}); every HOOKMETRY_* variable is a config key",
        "\n".join(problems))
    roles_wait = all(
        (s.get("depends_on") or {}).get("migrate", {}).get("condition") == "service_completed_successfully"
        for s in hookmetry.values() if (s.get("command") or [])[:1] == ["run"])
    check(roles_wait, "every role starts only after migrate completed successfully")

    print("\n== Prometheus")
    prom = yaml.safe_load((here / "prometheus/prometheus.yml").read_text())
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["prometheus"]["volumes"] if v.startswith(".")}
    rule_files = prom.get("rule_files") or []
    problems = []
    for rf in rule_files:
        target = rf if rf.startswith("/") else f"/etc/prometheus/{rf}"
        src = mounts.get(target)
        if not src:
            problems.append(f"rule file {rf} is not mounted at {target}")
            continue
        rules = yaml.safe_load((here / src).read_text()) or {}
        if not rules.get("groups") or not all(g.get("name") and g.get("rules") for g in rules["groups"]):
            problems.append(f"{src} is not a rule file with groups")
    check(bool(rule_files) and not problems, f"rule files {rule_files} are mounted and hold rule groups", "\n".join(problems))
    targets = {}
    for job in prom["scrape_configs"]:
        for sc in job.get("static_configs", []):
            for t in sc["targets"]:
                targets[t] = (job["job_name"], (sc.get("labels") or {}).get("role"))
    problems = []
    for name, svc in hookmetry.items():
        if (svc.get("command") or [])[:1] != ["run"]:
            continue
        role = role_of(svc)
        listen = env_dict(svc.get("environment")).get("HOOKMETRY_SERVER_LISTEN", "")
        want = f"{name}:{listen.rsplit(':', 1)[-1]}"
        if targets.get(want) != ("hookmetry", role):
            problems.append(f"{want} is not scraped as job=hookmetry role={role} (have {targets.get(want)})")
    for t in targets:
        h, _ = host_of(t)
        if h not in services and h != "localhost":
            problems.append(f"target {t} is not a compose service")
    check(not problems, "every role is scraped at its listen port with job=\"hookmetry\" and its role label", "\n".join(problems))
    promtool = shutil.which("promtool")
    if promtool:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(here / "prometheus/prometheus.yml", tmp)
            for rf in rule_files:
                shutil.copy(here / mounts[f"/etc/prometheus/{rf}"], Path(tmp) / rf)
            p = subprocess.run([promtool, "check", "config", f"{tmp}/prometheus.yml"], capture_output=True, text=True)
            check(p.returncode == 0, "promtool check config (with the rule files)", p.stdout + p.stderr)
    else:
        skip("promtool check config: no promtool on PATH (the YAML and its references are checked above)")

    print("\n== Grafana")
    gsvc = services["grafana"]
    gm = {v.split(":")[1]: v.split(":")[0] for v in gsvc["volumes"] if v.startswith(".")}
    prov = here / gm["/etc/grafana/provisioning"]
    ds = yaml.safe_load((prov / "datasources/prometheus.yaml").read_text())
    problems = []
    for d in ds["datasources"]:
        h, port = host_of(d["url"])
        if h not in services:
            problems.append(f"data source {d['name']} points at {d['url']}, not a compose service")
    if not any(d["type"] == "prometheus" and d.get("isDefault") for d in ds["datasources"]):
        problems.append("no default Prometheus data source")
    check(not problems, "data sources parse and point at compose services (Prometheus is the default)", "\n".join(problems))
    dp = yaml.safe_load((prov / "dashboards/hookmetry.yaml").read_text())
    paths = [p["options"]["path"] for p in dp["providers"]]
    srcs = [gm.get(p) for p in paths]
    check(all(srcs) and all((here / s).is_dir() for s in srcs),
          f"dashboard provider paths {paths} are mounted from {srcs}", f"mounts {gm}")
    dash = sorted(p.name for s in srcs if s for p in (here / s).glob("*.json"))
    if dash:
        import json
        bad = []
        for s in srcs:
            for f in (here / s).glob("*.json"):
                try:
                    json.loads(f.read_text())
                except ValueError as e:
                    bad.append(f"{f.name}: {e}")
        check(not bad, f"{len(dash)} dashboards under the provider path are JSON", "\n".join(bad))
    else:
        check(False, "the provider path holds dashboards (deploy/grafana/*.json)")

    print("\n== OpenTelemetry collector")
    osvc = services["otel-collector"]
    om = {v.split(":")[1]: v.split(":")[0] for v in osvc["volumes"] if v.startswith(".")}
    cfg_arg = next(a.split("=", 1)[1] for a in osvc["command"] if a.startswith("--config="))
    otel = yaml.safe_load((here / om[cfg_arg]).read_text())
    problems = []
    for kind in ("receivers", "processors", "exporters"):
        for pname, pipe in otel["service"]["pipelines"].items():
            for comp in pipe.get(kind, []):
                if comp not in (otel.get(kind) or {}):
                    problems.append(f"pipeline {pname} uses undefined {kind[:-1]} {comp}")
    for ext in otel["service"].get("extensions", []):
        if ext not in (otel.get("extensions") or {}):
            problems.append(f"undefined extension {ext}")
    for name, exp in (otel.get("exporters") or {}).items():
        if "endpoint" in (exp or {}):
            h, _ = host_of(exp["endpoint"])
            if h not in services:
                problems.append(f"exporter {name} sends to {exp['endpoint']}, not a compose service")
    grpc = otel["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    for name, svc in hookmetry.items():
        ep = env_dict(svc.get("environment")).get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if ep and host_of(ep) != ("otel-collector", host_of(grpc)[1]):
            problems.append(f"{name}: OTEL_EXPORTER_OTLP_ENDPOINT {ep} is not the collector's OTLP/gRPC receiver ({grpc})")
    if "debug" not in otel.get("exporters", {}):
        problems.append("no debug exporter")
    check(not problems, "collector config: OTLP in, every pipeline component defined, exporters reach compose services",
          "\n".join(problems))

    print("\n== the hookmetry binary on each service's environment")
    binary = find_binary(repo, args.hookmetry)
    if binary is None:
        msg = "no hookmetry binary in target/ (cargo build -p hookmetry): environments not loaded"
        check(False, msg) if args.require_binary else skip(msg)
    else:
        print(f"  (using {binary})")
        with tempfile.TemporaryDirectory(prefix="hm-compose-") as tmp:
            for name, svc in hookmetry.items():
                env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKMETRY_")}
                env.update(env_dict(svc.get("environment")))
                cmd = svc.get("command") or []
                # `migrate` loads and validates the whole configuration (a store URL flag replaces
                # ScyllaDB with a local file; nothing connects to Kafka).
                p = subprocess.run([str(binary), "migrate", "--store", f"sqlite://{tmp}/{name}.db"], env=env,
                                   capture_output=True, text=True, timeout=60)
                ok = p.returncode == 0
                if cmd[:1] == ["run"]:
                    h = subprocess.run([str(binary), *cmd, "--help"], env=env, capture_output=True, text=True, timeout=30)
                    ok = ok and h.returncode == 0
                    p.stderr += h.stderr
                check(ok, f"{name}: hookmetry loads its environment and accepts `{' '.join(cmd)}`", p.stdout + p.stderr)

    return REPORT.summary("compose")


if __name__ == "__main__":
    sys.exit(main())
