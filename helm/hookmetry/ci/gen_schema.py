#!/usr/bin/env python3
"""Writes helm/hookmetry/values.schema.json (JSON Schema draft-07), which is generated: edit this
file, then run `helm/hookmetry/ci/gen_schema.py` (check_chart.py fails while the two differ).

The `config` section lists every key of services/lib/config/defaults.toml that the chart does not
own, with its type; the names of HOOKMETRY_* variables (extraEnv, secrets.env) are checked against
the same file, because hookmetry ignores unknown ones silently.
"""

import json
import sys
import tomllib
from pathlib import Path

CHART = Path(__file__).resolve().parent.parent
REPO = CHART.parent.parent
KNOWN = [f"{s}.{k}" for s, t in tomllib.loads((REPO / "services/lib/config/defaults.toml").read_text()).items() for k in t]
# Set by the chart itself (the rendered hookmetry.toml, the container args).
NOT_FOR_USERS = {"server.listen", "server.data_dir"}
ENV_NAMES = sorted("HOOKMETRY_" + k.replace(".", "_", 1).upper() for k in KNOWN if k not in NOT_FOR_USERS)
DUR = {"type": "string", "pattern": r"^\s*[0-9]+\s*(ms|s|m|h)\s*$", "description": "a duration: 250ms, 30s, 5m, 1h"}
SIZE = {"oneOf": [{"type": "integer", "minimum": 0},
                  {"type": "string", "pattern": r"^\s*[0-9]+\s*(B|KiB|MiB|GiB|KB|kB|MB|GB)?\s*$"}],
        "description": "a size: 10MiB, 64KiB, 1GB or a number of bytes"}
def I(lo, hi=None):
    d = {"type": "integer", "minimum": lo}
    if hi is not None: d["maximum"] = hi
    return d
STRLIST = {"type": "array", "items": {"type": "string", "minLength": 1}}
BOOL = {"type": "boolean"}
def obj(props, required=None, extra=False, desc=None):
    d = {"type": "object", "additionalProperties": extra, "properties": props}
    if required: d["required"] = required
    if desc: d["description"] = desc
    return d

config = obj({
  "server": obj({"shutdown_grace": DUR, "max_connections": I(1, 1000000), "idle_timeout": DUR}, desc="server.listen, server.data_dir, server.public_url and server.capture_base_url are set by the chart"),
  "ingest": obj({"max_body_bytes": SIZE, "max_headers": I(1, 10000), "max_header_bytes": SIZE,
                 "inflight_bytes": SIZE, "trusted_proxies": STRLIST, "append_timeout": DUR,
                 "body_timeout": DUR, "endpoint_cache_ttl": DUR, "team_inflight_bytes": SIZE,
                 "max_hops": I(0, 100)}),
  "log": obj({"segment_bytes": SIZE, "max_unconsumed_bytes": SIZE},
             desc="log.url and log.kafka_* are set from `kafka`"),
  "store": obj({"retention_interval": DUR}, desc="store.url and store.scylla_* are set from `scylla`"),
  "processor": obj({"batch_size": I(1, 10000), "poll_wait": DUR, "batch_linger": DUR, "commit_interval": DUR,
                    "schema_drift": BOOL}),
  "replay": obj({"connect_timeout": DUR, "total_timeout": DUR, "max_response_body_bytes": SIZE,
                 "retry_initial": DUR, "retry_max_delay": DUR, "max_attempts": I(1, 100),
                 "per_target_concurrency": I(1, 256), "scan_interval": DUR,
                 "allow_loopback": {"oneOf": [BOOL, {"type": "string", "enum": ["auto", "true", "false"]}]},
                 "allow_private": BOOL, "allow_link_local": BOOL,
                 "allowed_networks": STRLIST, "denied_networks": STRLIST}),
  "api": obj({"default_page_size": I(1, 1000), "max_page_size": I(1, 1000),
              "subscriber_buffer": I(1, 100000), "max_subscribers": I(1, 1000000),
              "max_subscribers_per_team": I(1, 1000000), "ws_init_timeout": DUR, "ws_max_message_bytes": SIZE,
              "ws_idle_timeout": DUR, "session_recheck": DUR, "max_listeners_per_endpoint": I(1, 10000)}),
  "telemetry": obj({"log_format": {"type": "string", "enum": ["text", "json"]},
                    "log_filter": {"type": "string", "minLength": 1}}),
}, desc="hookmetry.toml keys by section (services/lib/config/defaults.toml), except the ones the chart owns")

# Keys the chart writes from kafka.*, scylla.*, publicUrl and containerPort.
MANAGED = {
    "server.listen", "server.data_dir", "server.public_url", "server.capture_base_url", "log.url", "store.url",
    "log.kafka_partitions", "log.kafka_replication_factor", "log.kafka_create_topics",
    "log.kafka_session_timeout", "log.kafka_properties", "store.scylla_consistency",
    "store.scylla_replication_factor",
}
# A key added to defaults.toml but not typed above gets the type of its default, so that it can
# be set at once (a rerun of this script is all it takes); type it above to check its values.
DEFAULTS = tomllib.loads((REPO / "services/lib/config/defaults.toml").read_text())
for section, table in DEFAULTS.items():
    sec = config["properties"].setdefault(section, obj({}))
    for key, default in table.items():
        if f"{section}.{key}" in MANAGED or key in sec["properties"]:
            continue
        kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}[type(default)]
        sec["properties"][key] = {"type": kind, "description": "type taken from its default in defaults.toml"}

INT_OR_PCT = {"oneOf": [I(0), {"type": "string", "pattern": r"^[0-9]{1,3}%$"}]}
resources = {"$ref": "#/definitions/resources"}
role = obj({
  "enabled": BOOL,
  "replicas": I(0),
  "resources": resources,
  "autoscaling": obj({
      "enabled": BOOL, "minReplicas": I(1), "maxReplicas": I(1),
      "targetCPUUtilizationPercentage": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
      "targetMemoryUtilizationPercentage": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
      "metrics": {"type": "array", "items": {"type": "object", "required": ["type"]}},
      "behavior": {"type": "object"}},
      required=["enabled", "minReplicas", "maxReplicas"]),
  "pdb": obj({"enabled": BOOL, "minAvailable": INT_OR_PCT, "maxUnavailable": INT_OR_PCT}, required=["enabled"]),
  "service": obj({"type": {"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                  "port": I(1, 65535), "annotations": {"$ref": "#/definitions/stringMap"}},
                 required=["type", "port"]),
  "podAnnotations": {"$ref": "#/definitions/stringMap"},
  "podLabels": {"$ref": "#/definitions/stringMap"},
  "nodeSelector": {"$ref": "#/definitions/stringMap"},
  "tolerations": {"type": "array", "items": {"type": "object"}},
  "affinity": {"type": "object"},
  "priorityClassName": {"type": "string"},
  "extraEnv": {"$ref": "#/definitions/envList"},
}, required=["enabled", "replicas", "autoscaling", "pdb", "service"])
# Utilization is measured against the request: an HPA on CPU (or memory) without it never scales.
for res, target in (("cpu", "targetCPUUtilizationPercentage"), ("memory", "targetMemoryUtilizationPercentage")):
    role.setdefault("allOf", []).append({
        "if": {"required": ["autoscaling"], "properties": {"autoscaling": {
            "required": ["enabled", target],
            "properties": {"enabled": {"const": True}, target: {"type": "integer"}, "metrics": {"maxItems": 0}}}}},
        "then": {"required": ["resources"], "properties": {"resources": {
            "required": ["requests"], "properties": {"requests": {"required": [res]}}}}},
    })

# Embedded mode: one StatefulSet pod running `hookmetry serve`.
embedded = obj({
  "replicas": {"type": "integer", "minimum": 0, "maximum": 1,
               "description": "embedded mode runs one pod: its log and SQLite store are files one process owns; scale in cluster mode"},
  "resources": resources,
  "persistence": obj({
      "size": {"$ref": "#/definitions/quantity"},
      "storageClass": {"type": "string"},
      "accessModes": {"type": "array", "minItems": 1, "uniqueItems": True,
                      "items": {"type": "string", "enum": ["ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany"]}},
      "annotations": {"$ref": "#/definitions/stringMap"}},
      required=["size", "accessModes"]),
  "service": obj({"type": {"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                  "port": I(1, 65535), "annotations": {"$ref": "#/definitions/stringMap"}},
                 required=["type", "port"]),
  "podAnnotations": {"$ref": "#/definitions/stringMap"},
  "podLabels": {"$ref": "#/definitions/stringMap"},
  "nodeSelector": {"$ref": "#/definitions/stringMap"},
  "tolerations": {"type": "array", "items": {"type": "object"}},
  "affinity": {"type": "object"},
  "priorityClassName": {"type": "string"},
  "extraEnv": {"$ref": "#/definitions/envList"},
}, required=["replicas", "persistence", "service"])
# Helm prints JSON Schema errors without descriptions, so the reason travels as the name of a
# property that is "missing" only when replicas is above 1: the error line carries the sentence.
EMBEDDED_ONE_POD = ("embedded mode runs one pod: its log and SQLite store are files one process owns on one volume; "
                    "to scale, set kafka.brokers and scylla.nodes (cluster mode, docs/deploy.md)")
embedded["allOf"] = [{"if": {"required": ["replicas"], "properties": {"replicas": {"type": "integer", "minimum": 2}}},
                      "then": {"required": [EMBEDDED_ONE_POD]}}]

HOSTPORT = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?):[0-9]{1,5}$"
HOST_OPTPORT = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)(:[0-9]{1,5})?$"
DNS = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

ingress_host = lambda extra: obj(dict({
    "enabled": BOOL,
    "host": {"type": "string", "pattern": r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
    "annotations": {"$ref": "#/definitions/stringMap"},
    "tlsSecretName": {"type": "string"}}, **extra), required=["enabled", "host"])

schema = {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Values of the hookmetry chart",
  "type": "object",
  "additionalProperties": False,
  "required": ["image", "kafka", "scylla", "migrate", "embedded", "ingest", "processor", "replay", "api"],
  "definitions": {
    "stringMap": {"type": "object", "additionalProperties": {"type": "string"}},
    "envList": {"type": "array", "items": {"type": "object", "required": ["name"],
                "properties": {"name": {"$ref": "#/definitions/envName"}}}},
    "envName": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
                "description": "HOOKMETRY_* names must name a config key: hookmetry ignores unknown ones",
                "if": {"pattern": "^HOOKMETRY_"}, "then": {"enum": ENV_NAMES}},
    "quantity": {"oneOf": [{"type": "number", "minimum": 0},
                           {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"}]},
    "resources": obj({
        "requests": {"type": "object", "additionalProperties": {"$ref": "#/definitions/quantity"}},
        "limits": {"type": "object", "additionalProperties": {"$ref": "#/definitions/quantity"}}}),
  },
  "allOf": [
    # Cluster mode needs both backends: one without the other is refused at the missing one.
    {"if": {"required": ["kafka"], "properties": {"kafka": {"required": ["brokers"], "properties": {"brokers": {"minItems": 1}}}}},
     "then": {"required": ["scylla"], "properties": {"scylla": {"required": ["nodes"], "properties": {"nodes": {"minItems": 1}}}}}},
    {"if": {"required": ["scylla"], "properties": {"scylla": {"required": ["nodes"], "properties": {"nodes": {"minItems": 1}}}}},
     "then": {"required": ["kafka"], "properties": {"kafka": {"required": ["brokers"], "properties": {"brokers": {"minItems": 1}}}}}},
    {"if": {"required": ["ingress"], "properties": {"ingress": {"required": ["capture"], "properties": {"capture": {"required": ["enabled"], "properties": {"enabled": {"const": True}}}}}}},
     "then": {"properties": {"ingest": {"properties": {"enabled": {"const": True, "description": "ingress.capture.enabled routes /h/ to the ingest role"}}}}}},
    {"if": {"required": ["ingress"], "properties": {"ingress": {"required": ["api"], "properties": {"api": {"required": ["enabled"], "properties": {"enabled": {"const": True}}}}}}},
     "then": {"properties": {"api": {"properties": {"enabled": {"const": True, "description": "ingress.api.enabled routes to the api role"}}}}}},
  ],
  "properties": {
    "nameOverride": {"type": "string", "maxLength": 40},
    "fullnameOverride": {"type": "string", "maxLength": 44},
    "image": obj({
        "repository": {"type": "string", "minLength": 1},
        "tag": {"type": "string"},
        "digest": {"type": "string", "pattern": r"^(sha256:[0-9a-f]{64})?$"},
        "pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]}},
        required=["repository", "pullPolicy"]),
    "imagePullSecrets": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "kafka": obj({
        "brokers": {"type": "array", "uniqueItems": True,
                    "items": {"type": "string", "pattern": HOSTPORT},
                    "description": "bootstrap brokers, host:port; with scylla.nodes for cluster mode, neither for embedded"},
        "partitions": I(1, 10000),
        "replicationFactor": I(1, 15),
        "createTopics": BOOL,
        "sessionTimeout": DUR,
        "properties": {"type": "array", "items": {"type": "string", "pattern": r"^[a-z][a-z0-9._-]*=[^,]*$"}}},
        required=["brokers", "partitions", "replicationFactor"]),
    "scylla": obj({
        "nodes": {"type": "array", "uniqueItems": True,
                  "items": {"type": "string", "pattern": HOST_OPTPORT},
                  "description": "contact points, host or host:port; with kafka.brokers for cluster mode, neither for embedded"},
        "keyspace": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_]{0,47}$"},
        "consistency": {"type": "string", "enum": ["one", "two", "three", "quorum", "all", "local_quorum", "local_one"]},
        "replicationFactor": I(1, 15),
        "urlOptions": obj({
            "replication": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+:[0-9]+(,[A-Za-z0-9_.-]+:[0-9]+)*$"},
            "simple_replication_factor": I(1, 15),
            "tablets": BOOL,
            "request_timeout_ms": I(1),
            "max_rows_examined": I(1)},
            desc="scylla:// URL options; consistency and replication_factor come from the keys above")},
        required=["nodes", "keyspace", "consistency", "replicationFactor"]),
    "publicUrl": {"type": "string", "pattern": r"^(https?://[^\s/]+(/[^\s]*)?)?$"},
    "apiUrl": {"type": "string", "pattern": r"^(https?://[^\s/]+(/[^\s]*)?)?$"},
    "config": config,
    "secrets": obj({
        "existingSecret": {"type": "string", "pattern": r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$", "maxLength": 253},
        "kafkaProperties": {"type": "array", "items": {"type": "string", "pattern": r"^[a-z][a-z0-9._-]*=[^,]*$"}},
        "env": {"type": "object", "additionalProperties": False,
                "description": "HOOKMETRY_* variables of config keys (hookmetry ignores unknown ones)",
                "properties": {n: {"type": ["string", "number", "boolean"]} for n in ENV_NAMES}}}),
    "migrate": obj({
        "enabled": BOOL,
        "hookDeletePolicy": {"type": "string",
            "pattern": r"^(before-hook-creation|hook-succeeded|hook-failed)(,(before-hook-creation|hook-succeeded|hook-failed))*$"},
        "backoffLimit": I(0, 100),
        "activeDeadlineSeconds": I(1),
        "ttlSecondsAfterFinished": {"type": ["integer", "null"], "minimum": 0},
        "adminTokenSecret": obj({
            "name": {"type": "string", "pattern": r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$", "maxLength": 253},
            "key": {"type": "string", "pattern": r"^[-._a-zA-Z0-9]+$"}}, required=["name", "key"]),
        "resources": resources}, required=["enabled", "hookDeletePolicy"]),
    "embedded": embedded,
    "ingest": role, "processor": role, "replay": role, "api": role,
    "containerPort": I(1024, 65535),
    "podSecurityContext": {"type": "object"},
    "securityContext": {"type": "object"},
    "tmpSizeLimit": {"$ref": "#/definitions/quantity"},
    "terminationGracePeriodSeconds": I(0),
    "probes": obj({
        "startup": obj({"enabled": BOOL, "periodSeconds": I(1), "failureThreshold": I(1)}, required=["enabled", "periodSeconds", "failureThreshold"]),
        "liveness": obj({"periodSeconds": I(1), "timeoutSeconds": I(1), "failureThreshold": I(1)}, required=["periodSeconds", "timeoutSeconds", "failureThreshold"]),
        "readiness": obj({"periodSeconds": I(1), "timeoutSeconds": I(1), "failureThreshold": I(1)}, required=["periodSeconds", "timeoutSeconds", "failureThreshold"])},
        required=["startup", "liveness", "readiness"]),
    "podAntiAffinity": {"type": "string", "enum": ["", "soft", "hard"]},
    "podAntiAffinityTopologyKey": {"type": "string", "minLength": 1},
    "topologySpread": obj({
        "enabled": BOOL, "maxSkew": I(1),
        "topologyKey": {"type": "string", "minLength": 1},
        "whenUnsatisfiable": {"type": "string", "enum": ["DoNotSchedule", "ScheduleAnyway"]}},
        required=["enabled"]),
    "nodeSelector": {"$ref": "#/definitions/stringMap"},
    "tolerations": {"type": "array", "items": {"type": "object"}},
    "podAnnotations": {"$ref": "#/definitions/stringMap"},
    "podLabels": {"$ref": "#/definitions/stringMap"},
    "extraEnv": {"$ref": "#/definitions/envList"},
    "commonLabels": {"$ref": "#/definitions/stringMap"},
    "serviceAccount": obj({"create": BOOL, "name": {"type": "string"}, "annotations": {"$ref": "#/definitions/stringMap"}}, required=["create"]),
    "ingress": obj({
        "className": {"type": "string"},
        "capture": ingress_host({}),
        "api": ingress_host({"paths": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": r"^/"}}})},
        required=["capture", "api"]),
    "metrics": obj({
        "serviceMonitor": obj({"enabled": BOOL, "interval": {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"},
                               "scrapeTimeout": {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"},
                               "labels": {"$ref": "#/definitions/stringMap"}}, required=["enabled"]),
        "prometheusRule": obj({"enabled": BOOL, "labels": {"$ref": "#/definitions/stringMap"},
                               "extraGroups": {"type": "array", "items": {"type": "object", "required": ["name", "rules"]}}},
                              required=["enabled"])}),
    "grafana": obj({
        "dashboards": obj({"enabled": BOOL, "label": {"type": "string", "minLength": 1},
                           "labelValue": {"type": "string"}, "namespace": {"type": "string"},
                           "folder": {"type": "string"}, "annotations": {"$ref": "#/definitions/stringMap"}},
                          required=["enabled", "label", "labelValue"])}),
  },
}
TEXT = json.dumps(schema, indent=2) + "\n"

if __name__ == "__main__":
    target = CHART / "values.schema.json"
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if target.read_text() == TEXT else 1)
    target.write_text(TEXT)
    print(f"wrote {target}")
