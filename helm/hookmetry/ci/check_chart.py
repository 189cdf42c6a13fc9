#!/usr/bin/env python3
"""Checks of the hookmetry Helm chart, run by .ci/helm-check.sh inside its virtualenv.

Helm itself is Helm 4's Go SDK through the `helm_python` package (helm-python-sdk), which
renders and lints exactly as `helm template` and `helm lint` do; manifests are checked against
the Kubernetes OpenAPI schemas of `kubernetes_validate` in strict mode (unknown fields are errors).

Usage: check_chart.py --repo DIR [--kube-versions 1.29,1.33] [--hookmetry PATH] [--out DIR]
Exit status 0 when every check passed; each check prints PASS, FAIL or SKIP with its reason.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import helm_python as helm
import kubernetes_validate.utils as kv
import yaml

# deploy/checklib.py: the report and binary lookup every deployment check shares.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy"))
from checklib import Report, find_binary  # noqa: E402

RELEASE = "hm"
NAMESPACE = "hookmetry"
ROLES = ["ingest", "processor", "replay", "api"]
# Custom resources of the Prometheus operator: kubernetes-validate ships only the core API
# schemas, so these are checked structurally here instead (check_crds).
SKIP_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
# Keys the chart sets from kafka.*, scylla.*, publicUrl and containerPort rather than `config`.
MANAGED_KEYS = {
    "server.listen", "server.data_dir", "server.public_url", "server.capture_base_url", "log.url", "store.url",
    "log.kafka_partitions", "log.kafka_replication_factor", "log.kafka_create_topics",
    "log.kafka_session_timeout", "log.kafka_properties", "store.scylla_consistency",
    "store.scylla_replication_factor",
}
# HOOKMETRY_* variables the binary reads that are not config keys.
# The migrate Job's admin token from migrate.adminTokenSecret, read by `--admin-token-env`.
NON_CONFIG_ENV = {"HOOKMETRY_CONFIG", "HOOKMETRY_ROLES", "HOOKMETRY_MIGRATE_ADMIN_TOKEN"}


def deep_merge(base: dict, over: dict) -> dict:
    """What `helm -f base -f over` does with two values files: maps merge, everything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_values(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def render(chart: helm.Chart, values: dict, **opts) -> tuple[list[dict], dict[str, str]]:
    files = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True, **opts)
    docs = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc["__source"] = path
                docs.append(doc)
    return docs, files


def strip(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "__source"}


def kn(doc: dict) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --------------------------------------------------------------------------------------------
# config keys: services/lib/config/defaults.toml is the binary's own list


def toml_kind(v) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array"}.get(type(v), type(v).__name__)


def defaults_keys(repo: Path) -> dict[str, object]:
    data = tomllib.loads((repo / "services/lib/config/defaults.toml").read_text())
    return {f"{s}.{k}": v for s, table in data.items() for k, v in table.items()}


def env_key(name: str, known: dict) -> str | None:
    rest = name.removeprefix("HOOKMETRY_").lower()
    for key in known:
        if key.replace(".", "_", 1) == rest:
            return key
    return None


def check_schema_covers_config(schema: dict, known: dict, r: Report) -> None:
    sections = schema["properties"]["config"]["properties"]
    in_schema = {f"{s}.{k}" for s, sec in sections.items() for k in sec["properties"]}
    bogus = sorted(in_schema - set(known))
    r.check(not bogus, "values.schema.json config.* names only keys of defaults.toml",
            f"not in services/lib/config/defaults.toml: {bogus}")
    missing = sorted(set(known) - in_schema - MANAGED_KEYS)
    r.check(not missing, "every defaults.toml key can be set: in config.* or managed by the chart",
            f"run helm/hookmetry/ci/gen_schema.py (or add to MANAGED_KEYS here and in gen_schema.py if the chart sets it): {missing}")
    overlap = sorted(in_schema & MANAGED_KEYS)
    r.check(not overlap, "config.* refuses the keys the chart manages", f"{overlap}")


def check_rendered_config(name: str, text: str, known: dict, r: Report) -> None:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        r.fail(f"{name}: hookmetry.toml is valid TOML", str(e))
        return
    problems = []
    for section, table in data.items():
        if not isinstance(table, dict):
            problems.append(f"{section} is not a table")
            continue
        for k, v in table.items():
            key = f"{section}.{k}"
            if key not in known:
                problems.append(f"unknown key {key}")
            elif toml_kind(v) != toml_kind(known[key]) and not (
                # sizes may be a number of bytes; allow_loopback may be a boolean
                (isinstance(v, int) and key.endswith("_bytes")) or (key == "replay.allow_loopback" and isinstance(v, bool))
            ):
                problems.append(f"{key} is a {toml_kind(v)}, the default is a {toml_kind(known[key])}")
    r.check(not problems, f"{name}: hookmetry.toml has only known keys of the right TOML types", "; ".join(problems))


# --------------------------------------------------------------------------------------------
# Kubernetes schemas


def check_kube_schemas(label: str, docs: list[dict], versions: list[str], r: Report) -> None:
    for version in versions:
        errors, skipped, n = [], set(), 0
        for doc in docs:
            if (doc["apiVersion"], doc["kind"]) in SKIP_KINDS:
                skipped.add(doc["kind"])
                continue
            n += 1
            try:
                kv.validate(strip(doc), version, strict=True)
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                errors.append(f"{kn(doc)} ({doc['__source']}): {path}: {e.message}")
            except kv.SchemaNotFoundError as e:
                # The CLI only warns here; an unknown kind or apiVersion is a real error for us.
                errors.append(f"{kn(doc)}: {e.message}")
            except kv.VersionNotSupportedError:
                errors.append(f"kubernetes-validate {kv.__version__} does not support {version}")
                break
        r.check(not errors, f"{label}: {n} manifests valid for Kubernetes {version} (strict)", "\n".join(errors))
        if skipped:
            print(f"  SKIP {label}: {', '.join(sorted(skipped))} not schema-checked for {version}: "
                  f"CRDs (monitoring.coreos.com/v1) are not in kubernetes-validate; checked structurally below")


def check_crds(label: str, docs: list[dict], r: Report) -> None:
    services = by_kind(docs, "Service")
    for sm in by_kind(docs, "ServiceMonitor"):
        sel = sm["spec"]["selector"]["matchLabels"]
        hit = [s for s in services if matches(sel, s["metadata"]["labels"])]
        ports = {p["name"] for s in hit for p in s["spec"]["ports"]}
        eps = sm["spec"].get("endpoints", [])
        ok = len(hit) == len(services) and hit and eps and all(e.get("port") in ports for e in eps) \
            and all(e.get("path") == "/metrics" for e in eps)
        r.check(bool(ok), f"{label}: {kn(sm)} selects all {len(services)} role Services on a named port at /metrics",
                f"selected {[kn(s) for s in hit]}, ports {ports}, endpoints {eps}")
        # The dashboards and alerts (and compose's Prometheus) expect job="hookmetry", role=<role>.
        labels_ok = all(
            {"targetLabel": "job", "replacement": "hookmetry"} in e.get("relabelings", [])
            and {"sourceLabels": ["__meta_kubernetes_service_label_app_kubernetes_io_component"], "targetLabel": "role"}
            in e.get("relabelings", []) for e in eps)
        r.check(labels_ok, f"{label}: {kn(sm)} labels every series job=\"hookmetry\" and role=<component>", f"{eps}")
    for pr in by_kind(docs, "PrometheusRule"):
        problems = []
        groups = pr["spec"].get("groups") or []
        for g in groups:
            if not g.get("name") or not g.get("rules"):
                problems.append(f"group without name or rules: {g.get('name')}")
            for rule in g.get("rules") or []:
                if not (rule.get("alert") or rule.get("record")) or not rule.get("expr"):
                    problems.append(f"rule without alert/record or expr in {g.get('name')}")
        r.check(bool(groups) and not problems, f"{label}: {kn(pr)} has {len(groups)} groups of well-formed rules",
                "; ".join(problems))


# --------------------------------------------------------------------------------------------
# What the chart promises, beyond what a schema can say


def cluster_mode(values: dict) -> bool:
    return bool(values.get("kafka", {}).get("brokers")) and bool(values.get("scylla", {}).get("nodes"))


def cm_name(workload: dict) -> str:
    return next(v["configMap"]["name"] for v in pod_spec(workload)["volumes"] if "configMap" in v)


def check_invariants(label: str, docs: list[dict], values: dict, known: dict, r: Report) -> None:
    # Cluster mode: a Deployment per role; embedded mode: one StatefulSet running `serve`.
    deployments = by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet")
    services = by_kind(docs, "Service")
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    problems: list[str] = []

    for d in docs:
        n = d["metadata"]["name"]
        limit = 63 if d["kind"] in ("Service", "Deployment", "StatefulSet") else 253
        if len(n) > limit or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", n):
            problems.append(f"{kn(d)}: name is not a valid {limit}-character DNS name")
        for k, v in (d["metadata"].get("labels") or {}).items():
            if len(str(v)) > 63:
                problems.append(f"{kn(d)}: label {k} longer than 63 characters")
        if d["metadata"].get("namespace") not in (NAMESPACE, values.get("grafana", {}).get("dashboards", {}).get("namespace")):
            problems.append(f"{kn(d)}: namespace {d['metadata'].get('namespace')}")
    r.check(not problems, f"{label}: names, labels and namespaces are valid", "\n".join(problems))

    # Pods: hardened, probed, configured, one role each.
    problems = []
    workloads = deployments + by_kind(docs, "Job")
    for w in workloads:
        spec = pod_spec(w)
        psc = spec.get("securityContext", {})
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{kn(w)}: automountServiceAccountToken is not false")
        for k, want in (("runAsNonRoot", True), ("runAsUser", 10001), ("fsGroup", 10001)):
            if psc.get(k) != want:
                problems.append(f"{kn(w)}: pod securityContext.{k} is {psc.get(k)!r}, want {want!r}")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{kn(w)}: pod seccompProfile is not RuntimeDefault")
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c.get("securityContext", {})
            if sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False \
                    or sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{kn(w)}/{c['name']}: container securityContext not hardened: {sc}")
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            if "emptyDir" not in vols.get(mounts.get("/tmp", ""), {}):
                problems.append(f"{kn(w)}/{c['name']}: /tmp is not an emptyDir")
            cfg_vol = vols.get(mounts.get("/etc/hookmetry", ""), {})
            cm = cfg_vol.get("configMap", {}).get("name")
            if ("ConfigMap", cm) not in names:
                problems.append(f"{kn(w)}/{c['name']}: /etc/hookmetry is not a rendered ConfigMap ({cm})")
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            if env.get("HOOKMETRY_CONFIG") != "/etc/hookmetry/hookmetry.toml":
                problems.append(f"{kn(w)}/{c['name']}: HOOKMETRY_CONFIG does not point at the mounted file")
            for e in c.get("env", []):
                if e["name"].startswith("HOOKMETRY_") and e["name"] not in NON_CONFIG_ENV and not env_key(e["name"], known):
                    problems.append(f"{kn(w)}/{c['name']}: {e['name']} names no config key (hookmetry would ignore it)")
            for ef in c.get("envFrom", []):
                sname = ef.get("secretRef", {}).get("name")
                if ("Secret", sname) not in names and sname != values.get("secrets", {}).get("existingSecret"):
                    problems.append(f"{kn(w)}/{c['name']}: envFrom Secret {sname} is neither rendered nor secrets.existingSecret")
            if c.get("command") != ["hookmetry"]:
                problems.append(f"{kn(w)}/{c['name']}: command is {c.get('command')}")
            if w["kind"] == "StatefulSet" and c["name"] == "admin-token":
                if c.get("args") != ["migrate", "--admin-token-env", "HOOKMETRY_MIGRATE_ADMIN_TOKEN"]:
                    problems.append(f"{kn(w)}/{c['name']}: args {c.get('args')}")
            elif w["kind"] in ("Deployment", "StatefulSet"):
                role = w["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
                want = ["serve"] if w["kind"] == "StatefulSet" else ["run", "--roles", role]
                if c.get("args") != want:
                    problems.append(f"{kn(w)}: args {c.get('args')} do not run role {role}")
                if w["kind"] == "StatefulSet":
                    # The data dir (server.data_dir) lies on the claim, in a directory hookmetry
                    # creates (it makes its data dir 0700, which it cannot do to a volume's root).
                    claims = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
                    cfg = next((cm for cm in by_kind(docs, "ConfigMap") if cm["metadata"]["name"] == cm_name(w)), None)
                    data_dir = tomllib.loads(cfg["data"]["hookmetry.toml"])["server"]["data_dir"] if cfg else ""
                    on_claim = [m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in claims]
                    if not any(data_dir.startswith(mp.rstrip("/") + "/") for mp in on_claim):
                        problems.append(f"{kn(w)}: server.data_dir {data_dir!r} is not below a claim's mount {on_claim}")
                    if w["spec"].get("replicas") not in (0, 1):
                        problems.append(f"{kn(w)}: {w['spec'].get('replicas')} replicas of an embedded instance")
                ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                    hg = c.get(probe, {}).get("httpGet", {})
                    if hg.get("path") != path or hg.get("port") not in ports:
                        problems.append(f"{kn(w)}: {probe} is not GET {path} on a named container port")
                if ports.get("http") != values.get("containerPort", 8080):
                    problems.append(f"{kn(w)}: container port http is {ports.get('http')}")
            else:
                given = values.get("migrate", {}).get("adminTokenSecret", {}).get("name")
                want = ["migrate", "--admin-token-env", "HOOKMETRY_MIGRATE_ADMIN_TOKEN"] if given else ["migrate"]
                if c.get("args") != want:
                    problems.append(f"{kn(w)}: args {c.get('args')} are not {want}")
    r.check(not problems, f"{label}: {len(workloads)} pod templates hardened, probed and configured", "\n".join(problems))

    # Selectors: Deployment ↔ pods, Service/PDB/HPA/Ingress → Deployment/Service.
    problems = []
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in deployments}
    for d in deployments:
        if not matches(d["spec"]["selector"]["matchLabels"], pods[d["metadata"]["name"]]):
            problems.append(f"{kn(d)}: selector does not match its pod labels")
    for s in services:
        hit = [n for n, labels in pods.items() if matches(s["spec"]["selector"], labels)]
        if len(hit) != 1:
            problems.append(f"{kn(s)}: selects {hit}, want exactly one Deployment")
    for p in by_kind(docs, "PodDisruptionBudget"):
        hit = [n for n, labels in pods.items() if matches(p["spec"]["selector"]["matchLabels"], labels)]
        if len(hit) != 1:
            problems.append(f"{kn(p)}: selects {hit}")
        if "minAvailable" in p["spec"] and "maxUnavailable" in p["spec"]:
            problems.append(f"{kn(p)}: both minAvailable and maxUnavailable")
    scaled = set()
    for h in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = h["spec"]["scaleTargetRef"]["name"]
        scaled.add(ref)
        if ref not in pods:
            problems.append(f"{kn(h)}: scales {ref}, which is not rendered")
    for d in deployments:
        if d["metadata"]["name"] in scaled and "replicas" in d["spec"]:
            problems.append(f"{kn(d)}: sets replicas although an HPA scales it")
    svc_ports = {s["metadata"]["name"]: {p["name"] for p in s["spec"]["ports"]} for s in services}
    for ing in by_kind(docs, "Ingress"):
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                b = path["backend"]["service"]
                if b["port"].get("name") not in svc_ports.get(b["name"], set()):
                    problems.append(f"{kn(ing)}: backend {b} is not a rendered Service port")
    for w in workloads:
        spec = pod_spec(w)
        for key in ("podAntiAffinity",):
            for term in (spec.get("affinity", {}).get(key, {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []):
                if not matches(term["labelSelector"]["matchLabels"], w["spec"]["template"]["metadata"]["labels"]):
                    problems.append(f"{kn(w)}: anti-affinity selects other pods than its own")
        for tsc in spec.get("topologySpreadConstraints", []):
            if not matches(tsc["labelSelector"]["matchLabels"], w["spec"]["template"]["metadata"]["labels"]):
                problems.append(f"{kn(w)}: topology spread selects other pods than its own")
    r.check(not problems, f"{label}: selectors and references resolve (Services, PDBs, HPAs, Ingresses)", "\n".join(problems))

    # The migration runs as a hook before install and upgrade, with its config present then
    # (cluster mode; `hookmetry serve` prepares its own store).
    problems = []
    jobs = by_kind(docs, "Job")
    cluster = cluster_mode(values)
    kinds = {d["kind"] for d in docs}
    if cluster and "StatefulSet" in kinds:
        problems.append("cluster mode renders the embedded StatefulSet")
    if not cluster and kinds & {"Deployment", "Job", "HorizontalPodAutoscaler", "PodDisruptionBudget"}:
        problems.append(f"embedded mode renders {sorted(kinds & {'Deployment', 'Job', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'})}")
    if not cluster:
        pass
    elif values.get("migrate", {}).get("enabled", True):
        if len(jobs) != 1:
            problems.append(f"{len(jobs)} Jobs, want the migration Job")
        for j in jobs:
            a = j["metadata"].get("annotations", {})
            if set(a.get("helm.sh/hook", "").split(",")) != {"pre-install", "pre-upgrade"}:
                problems.append(f"{kn(j)}: helm.sh/hook is {a.get('helm.sh/hook')!r}")
            if not a.get("helm.sh/hook-delete-policy"):
                problems.append(f"{kn(j)}: no hook-delete-policy")
            spec = pod_spec(j)
            needed = [v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v]
            needed += [ef["secretRef"]["name"] for c in spec["containers"] for ef in c.get("envFrom", [])]
            hooks = {d["metadata"]["name"]: d for d in docs if "helm.sh/hook" in d["metadata"].get("annotations", {})}
            for n in needed:
                h = hooks.get(n)
                if n == values.get("secrets", {}).get("existingSecret"):
                    continue
                if h is None or int(h["metadata"]["annotations"].get("helm.sh/hook-weight", "0")) >= \
                        int(j["metadata"]["annotations"].get("helm.sh/hook-weight", "0")):
                    problems.append(f"{kn(j)}: {n} is not a hook created before the Job (a pre-install Job cannot use release resources)")
            sa = spec.get("serviceAccountName")
            if ("ServiceAccount", sa) in names:
                problems.append(f"{kn(j)}: uses ServiceAccount {sa}, which the release creates only after the hook")
    elif jobs:
        problems.append("migrate.enabled is false but a Job is rendered")
    if not cluster and jobs:
        problems.append("embedded mode renders a Job")
    r.check(not problems, f"{label}: {'cluster' if cluster else 'embedded'} mode's workloads only; migration hook Job "
            "self-contained", "\n".join(problems))

    # Rendered hookmetry.toml files and the Secret's variables speak the binary's language.
    for cm in by_kind(docs, "ConfigMap"):
        if "hookmetry.toml" in cm.get("data", {}):
            check_rendered_config(f"{label}: {kn(cm)}", cm["data"]["hookmetry.toml"], known, r)
    for s in by_kind(docs, "Secret"):
        bad = [k for k in s.get("stringData", {}) if not env_key(k, known)]
        r.check(not bad, f"{label}: {kn(s)} holds only HOOKMETRY_* variables of config keys", f"{bad}")


def check_dashboards_and_rules(label: str, docs: list[dict], chart_dir: Path, values: dict, r: Report) -> None:
    dash = values.get("grafana", {}).get("dashboards", {})
    cms = [d for d in by_kind(docs, "ConfigMap") if dash.get("label", "grafana_dashboard") in d["metadata"]["labels"]]
    if dash.get("enabled"):
        files = sorted(glob.glob(str(chart_dir / "dashboards/*.json")))
        rendered = {k: v for cm in cms for k, v in cm["data"].items()}
        problems = []
        for f in files:
            name = os.path.basename(f)
            if rendered.get(name) is None:
                problems.append(f"{name} not rendered")
                continue
            if json.loads(rendered[name]) != json.loads(Path(f).read_text()):
                problems.append(f"{name} differs from the file")
        for cm in cms:
            if cm["metadata"]["labels"].get(dash.get("label")) != dash.get("labelValue"):
                problems.append(f"{kn(cm)}: sidecar label missing")
            if dash.get("folder") and cm["metadata"].get("annotations", {}).get("grafana_folder") != dash["folder"]:
                problems.append(f"{kn(cm)}: grafana_folder annotation missing")
        r.check(bool(files) and len(cms) == len(files) and not problems,
                f"{label}: {len(cms)} dashboard ConfigMaps, one per dashboards/*.json, labelled for the sidecar",
                "; ".join(problems) or f"{len(cms)} ConfigMaps for {len(files)} files")
    else:
        r.check(not cms, f"{label}: no dashboard ConfigMaps while grafana.dashboards.enabled is false")

    prs = by_kind(docs, "PrometheusRule")
    if values.get("metrics", {}).get("prometheusRule", {}).get("enabled"):
        want = (yaml.safe_load((chart_dir / "files/alerts.yaml").read_text()) or {}).get("groups", []) \
            + values["metrics"]["prometheusRule"].get("extraGroups", [])
        got = prs[0]["spec"]["groups"] if prs else None
        r.check(got == want, f"{label}: PrometheusRule spec.groups = files/alerts.yaml groups + extraGroups, "
                "Prometheus templates ({{ $labels }}) untouched", "rendered groups differ from the rule file")
    else:
        r.check(not prs, f"{label}: no PrometheusRule while metrics.prometheusRule.enabled is false")


# --------------------------------------------------------------------------------------------
# The real binary: does it accept the rendered config, and serve the probes the pods use?


def container_env(c: dict, docs: list[dict], config_path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKMETRY_")}
    for ef in c.get("envFrom", []):
        for s in by_kind(docs, "Secret"):
            if s["metadata"]["name"] == ef.get("secretRef", {}).get("name"):
                env.update({k: str(v) for k, v in s.get("stringData", {}).items()})
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        elif "secretKeyRef" in e.get("valueFrom", {}):
            # A Secret the user made outside the chart: stand in a value of the documented shape.
            env[e["name"]] = GIVEN_TOKEN
    env["HOOKMETRY_CONFIG"] = config_path
    return env


# The admin token a user's migrate.adminTokenSecret holds, in these checks.
GIVEN_TOKEN = "hm_" + "5a" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def check_binary(label: str, binary: Path, docs: list[dict], smoke: bool, r: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="hm-chart-") as tmp:
        tmp = Path(tmp)
        cms = {cm["metadata"]["name"]: cm["data"]["hookmetry.toml"] for cm in by_kind(docs, "ConfigMap")
               if "hookmetry.toml" in cm.get("data", {})}
        for name, text in cms.items():
            (tmp / f"{name}.toml").write_text(text)
        store = f"sqlite://{tmp}/store.db"
        # The migration Job, as rendered, against a local SQLite store instead of ScyllaDB.
        for job in by_kind(docs, "Job"):
            c = pod_spec(job)["containers"][0]
            cm = next(v["configMap"]["name"] for v in pod_spec(job)["volumes"] if "configMap" in v)
            env = container_env(c, docs, str(tmp / f"{cm}.toml"))
            p = subprocess.run([str(binary), *c["args"], "--store", store], env=env, capture_output=True, text=True, timeout=60)
            if "--admin-token-env" in c["args"]:
                r.check(p.returncode == 0 and "admin API token" in p.stdout and GIVEN_TOKEN not in p.stdout + p.stderr,
                        f"{label}: `hookmetry {' '.join(c['args'])}` uses the token from the Secret and never prints it",
                        p.stdout + p.stderr)
            else:
                r.check(p.returncode == 0 and "admin API token" in p.stdout,
                        f"{label}: `hookmetry {' '.join(c['args'])}` accepts the rendered config and prints the admin token",
                        p.stdout + p.stderr)
        if not by_kind(docs, "Job") and by_kind(docs, "Deployment"):
            p = subprocess.run([str(binary), "migrate", "--store", store], capture_output=True, text=True, timeout=60,
                               env={k: v for k, v in os.environ.items() if not k.startswith("HOOKMETRY_")})
            if p.returncode != 0:
                r.fail(f"{label}: preparing a local store", p.stderr)
                return
        for sts in by_kind(docs, "StatefulSet"):
            check_embedded_binary(label, binary, docs, sts, tmp, r)
        # Every role's container: the real loader validates the config with its env (a role
        # stops at start naming the key), then the probe paths must answer 200.
        for d in by_kind(docs, "Deployment"):
            spec = pod_spec(d)
            c = spec["containers"][0]
            cm = next(v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v)
            env = container_env(c, docs, str(tmp / f"{cm}.toml"))
            role = d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
            if not smoke:
                # `migrate` loads and validates the whole config with this pod's environment.
                p = subprocess.run([str(binary), "migrate", "--store", store], env=env, capture_output=True, text=True, timeout=60)
                r.check(p.returncode == 0, f"{label}: {role} pod's config and environment load in hookmetry", p.stdout + p.stderr)
                continue
            port = free_port()
            data = tmp / f"data-{role}"
            args = [str(binary), *c["args"], "--log", f"embedded://{data}/log", "--store", store,
                    "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)]
            log = open(tmp / f"{role}.log", "w+")
            proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            got: dict[str, int | None] = {}
            try:
                deadline = time.monotonic() + 30
                probes = [(c["livenessProbe"]["httpGet"]["path"]), (c["readinessProbe"]["httpGet"]["path"])]
                while time.monotonic() < deadline and proc.poll() is None:
                    got = {p: http_status(f"http://127.0.0.1:{port}{p}") for p in probes}
                    if all(s == 200 for s in got.values()):
                        break
                    time.sleep(0.2)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                log.seek(0)
                output = log.read()
                log.close()
            r.check(bool(got) and all(s == 200 for s in got.values()),
                    f"{label}: {role} container ({' '.join(c['args'])}) starts on the rendered config; "
                    f"probes {', '.join(got)} answer 200",
                    f"status {got}, exit {proc.returncode}\n{output[-2000:]}")


def run_until_probed(args: list[str], env: dict, port: int, paths: list[str], logfile: Path,
                     while_up=None) -> tuple[dict, int | None, str]:
    """Starts args, polls the probe paths until all answer 200 (30 s), calls while_up() then, stops
    it; (statuses, exit, output)."""
    log = open(logfile, "w+")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    got: dict[str, int | None] = {}
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            got = {p: http_status(f"http://127.0.0.1:{port}{p}") for p in paths}
            if all(s == 200 for s in got.values()):
                if while_up:
                    while_up()
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.seek(0)
        output = log.read()
        log.close()
    return got, proc.returncode, output


def check_embedded_binary(label: str, binary: Path, docs: list[dict], sts: dict, tmp: Path, r: Report) -> None:
    """The embedded StatefulSet's pod, as rendered: its init container (if any) and `hookmetry serve`
    on the rendered config, with only the listen address and the data dir moved to this machine."""
    spec = pod_spec(sts)
    data = tmp / "embedded-volume" / "data"
    (tmp / "embedded-volume").mkdir()
    cfg = str(tmp / f"{cm_name(sts)}.toml")
    for c in spec.get("initContainers", []):
        env = container_env(c, docs, cfg)
        p = subprocess.run([str(binary), *c["args"], "--set", f"server.data_dir={data}"], env=env,
                           capture_output=True, text=True, timeout=60)
        r.check(p.returncode == 0 and GIVEN_TOKEN not in p.stdout + p.stderr,
                f"{label}: init container {c['name']} (`hookmetry {' '.join(c['args'])}`) prepares the data dir's "
                "store with the Secret's token and never prints it", p.stdout + p.stderr)
    c = spec["containers"][0]
    env = container_env(c, docs, cfg)
    port = free_port()
    args = [str(binary), *c["args"], "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)]
    paths = [c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"]]
    token_file = data / "admin-token"
    whoami: list[subprocess.CompletedProcess] = []
    rotated: list[subprocess.CompletedProcess] = []
    written: list[bool] = []  # whether the first start wrote <data dir>/admin-token

    def admin_token_works():
        written.append(token_file.exists() and token_file.read_text().startswith("hm_"))
        # The token NOTES.txt points at: the Secret's, or the file the first start wrote.
        token = GIVEN_TOKEN if spec.get("initContainers") else (token_file.read_text().strip() if token_file.exists() else "")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKMETRY_")}
        whoami.append(subprocess.run([str(binary), "whoami", "--json", "--url", f"http://127.0.0.1:{port}", "--token", token],
                                     env=clean | {"HOME": str(tmp)}, capture_output=True, text=True, timeout=30))
        # NOTES.txt's recovery for a lost token: `hookmetry admin-token --rotate` in the running pod.
        rotated.append(subprocess.run([str(binary), "admin-token", "--rotate", "--data-dir", str(data)],
                                      env=env, capture_output=True, text=True, timeout=30))

    got, code, output = run_until_probed(args, env, port, paths, tmp / "serve.log", while_up=admin_token_works)
    r.check(bool(got) and all(s == 200 for s in got.values()),
            f"{label}: embedded pod (`hookmetry {' '.join(c['args'])}`) starts on the rendered config; "
            f"probes {', '.join(got)} answer 200", f"status {got}, exit {code}\n{output[-2000:]}")
    if whoami:
        w = whoami[0]
        r.check(w.returncode == 0 and '"instanceAdmin": true' in w.stdout,
                f"{label}: the running pod accepts the admin token {'from the Secret' if spec.get('initContainers') else 'from <data dir>/admin-token'}",
                w.stdout + w.stderr)
    if rotated:
        p = rotated[0]
        r.check(p.returncode == 0 and token_file.exists() and token_file.read_text().strip() in p.stdout,
                f"{label}: `hookmetry admin-token --rotate` works next to the running server and writes <data dir>/admin-token",
                p.stdout + p.stderr)
    if spec.get("initContainers"):
        r.check(written == [False], f"{label}: with migrate.adminTokenSecret no admin-token file is written")
    else:
        r.check(written == [True],
                f"{label}: the first start wrote the admin token to <data dir>/admin-token (what NOTES.txt reads)",
                f"{token_file}: {token_file.exists()}")


# --------------------------------------------------------------------------------------------
# docs/deploy.md's values table is generated from values.yaml (keys, defaults, `# --` comments)


TABLE_START = "<!-- values-table:start (helm/hookmetry/ci/check_chart.py --values-table) -->"
TABLE_END = "<!-- values-table:end -->"


def values_docs(path: Path) -> dict[str, str]:
    """Comment blocks above keys of values.yaml, by dotted key path (`# -- ` starts a description)."""
    docs, stack, block = {}, [], []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped.startswith("#"):
            block.append((indent, stripped.lstrip("#").strip()))
            continue
        m = re.match(r"^(\s*)([A-Za-z0-9_]+):", line)
        if not m:
            block = []
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        text = [t for i, t in block if i == indent]
        starts = [n for n, t in enumerate(text) if t.startswith("-- ")]
        if starts:
            text = text[starts[-1]:]
            docs[".".join(k for _, k in stack)] = " ".join([text[0][3:]] + text[1:])
        block = []
    return docs


def values_table(chart_dir: Path) -> str:
    values = load_values(chart_dir / "values.yaml")
    docs = values_docs(chart_dir / "values.yaml")
    rows: dict[str, dict] = {}

    def leaves(prefix: str, v):
        if isinstance(v, dict) and v and not prefix.endswith(("annotations", "Labels", "labels", "nodeSelector",
                                                               "urlOptions", "behavior", "affinity", "env",
                                                               "resources", "ecurityContext")):
            for k, sub in v.items():
                yield from leaves(f"{prefix}.{k}" if prefix else k, sub)
        else:
            yield prefix, v

    for key, default in leaves("", values):
        role, _, rest = key.partition(".")
        generic = f"<role>.{rest}" if role in ROLES else key
        row = rows.setdefault(generic, {"defaults": {}, "doc": docs.get(key, "")})
        row["defaults"][role if role in ROLES else ""] = default
        if not row["doc"] and docs.get(key):
            row["doc"] = docs[key]
    out = ["| key | default | description |", "|---|---|---|"]
    for key, row in rows.items():
        ds = row["defaults"]
        fmt = lambda v: "`" + json.dumps(v) + "`"
        if len(set(json.dumps(v) for v in ds.values())) == 1:
            default = fmt(next(iter(ds.values())))
        else:
            default = ", ".join(f"{r}: {fmt(v)}" for r, v in ds.items())
        desc = row["doc"].replace("|", "\\|")
        out.append(f"| `{key}` | {default} | {desc} |")
    return "\n".join(out)


def check_values_table(repo: Path, chart_dir: Path, r: Report) -> None:
    doc = (repo / "docs/deploy.md").read_text() if (repo / "docs/deploy.md").exists() else ""
    m = re.search(re.escape(TABLE_START) + r"\n(.*?)\n" + re.escape(TABLE_END), doc, re.S)
    want = values_table(chart_dir)
    r.check(bool(m) and m.group(1).strip() == want.strip(),
            "docs/deploy.md's values table is the one values.yaml generates",
            "regenerate it: helm/hookmetry/ci/check_chart.py --repo . --values-table, "
            f"and paste it between the {TABLE_START!r} and {TABLE_END!r} lines")


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True, type=Path)
    ap.add_argument("--kube-versions", default="1.29,1.33")
    ap.add_argument("--hookmetry", help="hookmetry binary for the config and probe checks")
    ap.add_argument("--require-binary", action="store_true", help="fail instead of skipping without a binary")
    ap.add_argument("--out", type=Path, help="write rendered manifests here")
    ap.add_argument("--values-table", action="store_true", help="print docs/deploy.md's values table and exit")
    args = ap.parse_args()
    repo = args.repo.resolve()
    chart_dir = repo / "helm/hookmetry"
    if args.values_table:
        print(TABLE_START)
        print(values_table(chart_dir))
        print(TABLE_END)
        return 0
    ci = chart_dir / "ci"
    versions = [v.strip() for v in args.kube_versions.split(",") if v.strip()]
    r = Report()
    known = defaults_keys(repo)
    schema = json.loads((chart_dir / "values.schema.json").read_text())

    print(f"helm SDK {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__}), "
          f"kubernetes-validate {kv.__version__} (schemas {kv.all_versions()[0]}..{kv.all_versions()[-1]})")

    print("\n== chart metadata and schema")
    cargo = tomllib.loads((repo / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    r.check(meta.get("appVersion") == cargo, f"Chart.yaml appVersion {meta.get('appVersion')!r} = Cargo workspace version {cargo!r}")
    r.check(meta.get("apiVersion") == "v2", "Chart.yaml apiVersion v2")
    r.check(schema.get("$schema") == "http://json-schema.org/draft-07/schema#", "values.schema.json is JSON Schema draft-07")
    gen = subprocess.run([sys.executable, str(chart_dir / "ci/gen_schema.py"), "--check"], capture_output=True, text=True)
    r.check(gen.returncode == 0, "values.schema.json is what helm/hookmetry/ci/gen_schema.py generates",
            "edit gen_schema.py, not the JSON, and run it: helm/hookmetry/ci/gen_schema.py\n" + gen.stderr)
    check_schema_covers_config(schema, known, r)
    check_values_table(repo, chart_dir, r)
    defaults = load_values(chart_dir / "values.yaml")
    try:
        helm.Chart.load(chart_dir).validate_schema({})
        r.ok("chart defaults alone pass the schema (embedded mode)")
    except helm.HelmValuesError as e:
        r.fail("chart defaults alone pass the schema (embedded mode)", str(e))

    # None: no values at all (`helm install hookmetry ./helm/hookmetry`), then every ci/*-values.yaml.
    value_files = [None] + sorted(ci.glob("*-values.yaml"))
    chart = helm.Chart.load(chart_dir)
    binary = find_binary(repo, args.hookmetry)
    rendered: dict[str, list[dict]] = {}

    for vf in value_files:
        label = vf.name if vf else "no values"
        values = load_values(vf) if vf else {}
        print(f"\n== {label}")
        for version in versions:
            rep = helm.lint(chart_dir, values, strict=True, namespace=NAMESPACE, kube_version=f"v{version}.0")
            msgs = [m for m in rep.get("messages", []) if m["severity"] >= 2]
            r.check(not msgs and not rep.get("errors"), f"{label}: helm lint --strict (kube {version})",
                    "\n".join(f"{m['path']}: {m['error']}" for m in msgs) + "\n".join(rep.get("errors") or []))
        try:
            docs, files = render(chart, values)
            docs_up, _ = render(chart, values, is_upgrade=True)
        except helm.HelmError as e:
            r.fail(f"{label}: helm template", str(e))
            continue
        r.ok(f"{label}: helm template ({len(docs)} manifests)")
        rendered[label] = docs
        if args.out:
            (args.out / label).mkdir(parents=True, exist_ok=True)
            for path, text in files.items():
                (args.out / label / path.replace("/", "_")).write_text(text)
        r.check([strip(d) for d in docs] == [strip(d) for d in docs_up], f"{label}: install and upgrade render the same manifests")
        merged = deep_merge(defaults, values)
        check_kube_schemas(label, docs, versions, r)
        check_crds(label, docs, r)
        check_invariants(label, docs, merged, known, r)
        check_dashboards_and_rules(label, docs, chart_dir, merged, r)
        notes = files.get("hookmetry/templates/NOTES.txt", "")
        if not cluster_mode(merged):
            secret = merged["migrate"]["adminTokenSecret"]["name"]
            if secret:
                r.check(f"kubectl get secret -n {NAMESPACE} {secret}" in notes and "not printed" in notes,
                        f"{label}: NOTES.txt says the admin token is the one in Secret {secret}, never printed", notes)
            else:
                r.check(f"kubectl exec -n {NAMESPACE} " in notes and "/var/lib/hookmetry/data/admin-token" in notes,
                        f"{label}: NOTES.txt tells how to read the admin token from the pod's data dir", notes)
            r.check("kafka.brokers and scylla.nodes" in notes and "hookmetry export" in notes,
                    f"{label}: NOTES.txt tells how to move to cluster mode", notes)
        elif merged["migrate"]["enabled"] and merged["migrate"]["adminTokenSecret"]["name"]:
            secret = merged["migrate"]["adminTokenSecret"]["name"]
            r.check(f"kubectl get secret -n {NAMESPACE} {secret}" in notes and "not printed" in notes,
                    f"{label}: NOTES.txt says the admin token is the one in Secret {secret}, never printed")
        elif merged["migrate"]["enabled"]:
            r.check(f"kubectl logs -n {NAMESPACE} job/" in notes and "admin API token" in notes,
                    f"{label}: NOTES.txt tells where the admin token is printed")
        public = merged.get("publicUrl") or (merged["ingress"]["capture"]["enabled"] and merged["ingress"]["capture"]["host"])
        if public:
            r.check(f"{public}".rstrip("/").split("://")[-1] + "/h/<endpoint token>" in notes,
                    f"{label}: NOTES.txt shows the capture URL", notes)
        if binary:
            check_binary(label, binary, docs, smoke=(vf is None or vf.name in ("default-values.yaml", "embedded-values.yaml")), r=r)

    print("\n== helm package")
    with tempfile.TemporaryDirectory(prefix="hm-package-") as tmp:
        archive = helm.package(chart_dir, destination=tmp)
        import tarfile
        with tarfile.open(archive) as tf:
            names = [n.split("/", 1)[1] for n in tf.getnames() if "/" in n]
        r.check(not any(n.startswith("ci/") for n in names) and "values.schema.json" in names
                and any(n.startswith("dashboards/") for n in names) and "files/alerts.yaml" in names,
                f"{os.path.basename(archive)}: schema, dashboards and alerts packaged, ci/ left out (.helmignore)",
                f"{sorted(names)}")
        full = deep_merge(load_values(ci / "full-values.yaml"), {})
        packaged = helm.Chart.load(archive)
        try:
            same = [strip(d) for d in render(packaged, full)[0]] == [strip(d) for d in render(chart, full)[0]]
        except helm.HelmError as e:
            same = False
            print(f"       {e}")
        r.check(same, "the packaged chart renders full-values.yaml exactly as the chart directory does")

    print("\n== configuration changes restart the pods (checksum annotations)")
    base = load_values(ci / "secret-values.yaml")

    def annotations(values: dict) -> dict[str, dict]:
        docs, _ = render(chart, values)
        return {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"] for d in by_kind(docs, "Deployment")}

    a0 = annotations(base)
    a1 = annotations(deep_merge(base, {"config": {"ingest": {"max_body_bytes": "20MiB"}}}))
    a2 = annotations(deep_merge(base, {"secrets": {"kafkaProperties": ["sasl.username=hookmetry", "sasl.password=rotated"]}}))
    a3 = annotations(deep_merge(base, {"ingest": {"replicas": 5}}))
    r.check(len(a0) == 4 and all(a0[n]["checksum/config"] != a1[n]["checksum/config"] for n in a0),
            "a config value change changes checksum/config of every Deployment")
    r.check(all(a0[n]["checksum/secret"] != a2[n]["checksum/secret"] and a0[n]["checksum/config"] == a2[n]["checksum/config"] for n in a0),
            "a secret change changes checksum/secret (and not checksum/config)")
    r.check(a0 == a3, "a replica change leaves both checksums alone")

    print("\n== values that break the schema (or the chart's own checks) are refused")
    base = load_values(ci / "default-values.yaml")
    bad_files = sorted((ci / "bad").glob("*.yaml"))
    r.check(len(bad_files) >= 5, f"{len(bad_files)} bad values files")
    for bf in bad_files:
        expects = re.findall(r"^# expect: (.+)$", bf.read_text(), re.M)
        if not expects:
            r.fail(f"bad/{bf.name}: has `# expect: <error text>` lines")
            continue
        values = deep_merge(base, load_values(bf))
        try:
            chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
            r.fail(f"bad/{bf.name}: helm template refuses it", "it rendered")
        except helm.HelmError as e:
            missing = [x for x in expects if x not in str(e)]
            r.check(not missing, f"bad/{bf.name}: helm template refuses it: {expects}", f"error lacks {missing}:\n{e}")
        template_only = re.search(r"^# template-only: (.+)$", bf.read_text(), re.M)
        if template_only:
            print(f"  note bad/{bf.name}: not expected from helm lint: {template_only.group(1)}")
            continue
        rep = helm.lint(chart_dir, values, strict=True, namespace=NAMESPACE)
        text = "\n".join(m["error"] for m in rep.get("messages", []) if m["severity"] >= 3)
        missing = [x for x in expects if x not in text]
        r.check(bool(text) and not missing, f"bad/{bf.name}: helm lint --strict reports it", f"lint said:\n{text}")

    if not binary:
        msg = ("binary checks (rendered config loaded by hookmetry, probes answered): no hookmetry binary "
               "in target/debug or target/release; build it with `cargo build -p hookmetry` or pass --hookmetry")
        (r.fail if args.require_binary else r.skip)(msg)
    else:
        print(f"\n(binary checks used {binary})")

    return r.summary("chart")


if __name__ == "__main__":
    sys.exit(main())
