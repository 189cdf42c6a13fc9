#!/usr/bin/env python3
"""Writes the Grafana dashboards of deploy/grafana/ (JSON model, schema version 39).

    python3 deploy/grafana/generate.py          # (re)write the JSON files next to this script
    python3 deploy/grafana/generate.py --check  # fail if a committed file differs from its source

The dashboards are defined here, once, so every panel gets the same datasource, selectors,
units and layout; edit this file, run it, and commit the JSON it writes. Metric names and
labels are the ones of docs/metrics.md; deploy/check-promql.py checks every expression.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${datasource}"}

# Every selector carries the dashboard's template variables. "All" is `.*`, which also matches
# series without the label (a plain embedded-mode scrape has no `namespace`).
SEL = 'namespace=~"$namespace", job=~"$job", instance=~"$instance"'
ERRORS_503 = "overloaded|log_full|log_unavailable|store_unavailable"
RI = "$__rate_interval"


def eq(label, value):
    return f'{label}="{value}"'


def ne(label, value):
    return f'{label}!="{value}"'


def rx(label, value):
    return f'{label}=~"{value}"'


def nrx(label, value):
    return f'{label}!~"{value}"'


def sel(*extra):
    return "{" + ", ".join((SEL,) + extra) + "}"


def rate(metric, *extra, by=None, window=RI):
    agg = f"sum by ({by})" if by else "sum"
    return f"{agg} (rate({metric}{sel(*extra)}[{window}]))"


def share(part, whole):
    """`part / whole`, 0 (not "no data") while `part` has no series yet (nothing counted)."""
    return f"({part} or vector(0)) / {whole}"


def quantile(q, histogram, *extra, by=None):
    keys = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({keys}) (rate({histogram}_bucket{sel(*extra)}[{RI}])))"


INGEST_503_SHARE = share(
    rate("hookmetry_ingest_requests_total", rx("outcome", ERRORS_503)), rate("hookmetry_ingest_requests_total")
)


class Board:
    """One dashboard: panels are laid out left to right, 24 columns wide, rows on their own."""

    def __init__(self, uid, title, description, variable_metric):
        self.uid, self.title, self.description = uid, title, description
        self.variable_metric = variable_metric
        self.panels = []
        self.x = self.y = self.row_h = 0

    def _place(self, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def _next_id(self):
        return len(self.panels) + 1

    def row(self, title):
        self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "id": self._next_id(),
                "panels": [],
                "title": title,
                "type": "row",
            }
        )
        self.y += 1

    @staticmethod
    def _targets(queries):
        return [
            {"datasource": DS, "expr": expr, "legendFormat": legend, "range": True, "refId": chr(ord("A") + i)}
            for i, (expr, legend) in enumerate(queries)
        ]

    def timeseries(self, title, description, unit, queries, w=12, h=8, stack=False, bars=False, min0=True):
        custom = {
            "drawStyle": "bars" if bars else "line",
            "fillOpacity": 80 if bars else (25 if stack else 10),
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        }
        defaults = {"custom": custom, "unit": unit}
        if min0:
            defaults["min"] = 0
        self.panels.append(
            {
                "datasource": DS,
                "description": description,
                "fieldConfig": {"defaults": defaults, "overrides": []},
                "gridPos": self._place(w, h),
                "id": self._next_id(),
                "options": {
                    "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"},
                },
                "targets": self._targets(queries),
                "title": title,
                "type": "timeseries",
            }
        )

    def stat(self, title, description, unit, expr, w=3, h=4, thresholds=None, decimals=None):
        steps = [{"color": "green", "value": None}]
        for value, color in thresholds or []:
            steps.append({"color": color, "value": value})
        defaults = {"thresholds": {"mode": "absolute", "steps": steps}, "unit": unit}
        if decimals is not None:
            defaults["decimals"] = decimals
        self.panels.append(
            {
                "datasource": DS,
                "description": description,
                "fieldConfig": {"defaults": defaults, "overrides": []},
                "gridPos": self._place(w, h),
                "id": self._next_id(),
                "options": {
                    "colorMode": "value",
                    "graphMode": "area",
                    "justifyMode": "auto",
                    "orientation": "auto",
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "textMode": "auto",
                },
                "targets": self._targets([(expr, "")]),
                "title": title,
                "type": "stat",
            }
        )

    def heatmap(self, title, description, histogram, *extra, w=12, h=8, unit="s"):
        expr = f"sum by (le) (increase({histogram}_bucket{sel(*extra)}[{RI}]))"
        target = {
            "datasource": DS,
            "expr": expr,
            "format": "heatmap",
            "legendFormat": "{{le}}",
            "range": True,
            "refId": "A",
        }
        self.panels.append(
            {
                "datasource": DS,
                "description": description,
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "gridPos": self._place(w, h),
                "id": self._next_id(),
                "options": {
                    "calculate": False,
                    "cellGap": 1,
                    "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
                    "tooltip": {"show": True, "yHistogram": True},
                    "yAxis": {"axisPlacement": "left", "unit": unit},
                },
                "targets": [target],
                "title": title,
                "type": "heatmap",
            }
        )

    def _variable(self, name, label, query):
        return {
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "datasource": DS,
            "definition": query,
            "hide": 0,
            "includeAll": True,
            "label": label,
            "multi": True,
            "name": name,
            "options": [],
            "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
        }

    def model(self):
        m = self.variable_metric
        variables = [
            {
                "current": {},
                "hide": 0,
                "includeAll": False,
                "label": "Data source",
                "multi": False,
                "name": "datasource",
                "options": [],
                "query": "prometheus",
                "refresh": 1,
                "regex": "",
                "skipUrlSync": False,
                "type": "datasource",
            },
            self._variable("namespace", "Namespace", f"label_values({m}, namespace)"),
            self._variable("job", "Job", f'label_values({m}{{namespace=~"$namespace"}}, job)'),
            self._variable(
                "instance", "Instance", f'label_values({m}{{namespace=~"$namespace", job=~"$job"}}, instance)'
            ),
        ]
        return {
            "annotations": {
                "list": [
                    {
                        "builtIn": 1,
                        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                        "enable": True,
                        "hide": True,
                        "iconColor": "rgba(0, 211, 255, 1)",
                        "name": "Annotations & Alerts",
                        "type": "dashboard",
                    }
                ]
            },
            "description": self.description,
            "editable": True,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "id": None,
            "links": [
                {
                    "asDropdown": True,
                    "icon": "external link",
                    "includeVars": True,
                    "keepTime": True,
                    "tags": ["hookmetry"],
                    "targetBlank": False,
                    "title": "Hookmetry",
                    "type": "dashboards",
                }
            ],
            "panels": self.panels,
            "refresh": "30s",
            "schemaVersion": SCHEMA_VERSION,
            "tags": ["hookmetry"],
            "templating": {"list": variables},
            "time": {"from": "now-6h", "to": "now"},
            "timepicker": {},
            "timezone": "browser",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": "",
        }


def overview():
    b = Board(
        "hookmetry-overview",
        "Hookmetry / Overview",
        "Captures in, through the pipeline, and out again: ingest, processors, replay workers and API nodes.",
        "hookmetry_backend_up",
    )
    b.row("Now")
    b.stat(
        "Captures accepted",
        "Capture requests answered 2xx per second (durably appended to the captures log).",
        "reqps",
        rate("hookmetry_ingest_requests_total", eq("outcome", "accepted")),
    )
    b.stat(
        "Ingest p99 (accepted)",
        "99th percentile of the time to answer an accepted capture, the durable append included.",
        "s",
        quantile(0.99, "hookmetry_ingest_request_duration_seconds", eq("outcome", "accepted")),
        thresholds=[(0.25, "orange"), (1, "red")],
    )
    b.stat(
        "Ingest 503 share",
        "Share of capture requests refused with 503 (overloaded, log_full, log_unavailable, store_unavailable).",
        "percentunit",
        INGEST_503_SHARE,
        thresholds=[(0.01, "orange"), (0.05, "red")],
    )
    b.stat(
        "Pipeline lag",
        "Captures in the log not yet committed by the processors (every processor reports the whole topic: max).",
        "short",
        f"max(hookmetry_processor_lag_records{sel()})",
        thresholds=[(100, "orange"), (1000, "red")],
    )
    b.stat(
        "Retry backlog",
        "Pending deliveries due at the replay workers' last scan (at most 256; max over workers).",
        "short",
        f"max(hookmetry_replay_due_deliveries{sel()})",
        thresholds=[(10, "orange"), (50, "red")],
    )
    b.stat(
        "Dead letters",
        "Deliveries dead-lettered in the dashboard's time range.",
        "short",
        f'sum(increase(hookmetry_replay_deliveries_finished_total{sel(eq("state", "dead_lettered"))}[$__range]))',
        thresholds=[(1, "orange")],
        decimals=0,
    )
    b.stat(
        "Live subscribers",
        "captureReceived subscriptions served by all API nodes.",
        "short",
        f"sum(hookmetry_api_live_subscribers{sel()})",
    )
    b.stat(
        "Active listeners",
        "Subscriptions opened by `hookmetry listen`, over all API nodes.",
        "short",
        f"sum(hookmetry_api_active_listeners{sel()})",
    )

    b.row("Ingest")
    b.timeseries(
        "Capture requests by outcome",
        "Per second, by outcome: accepted, the sender's errors (4xx) and ours (503).",
        "reqps",
        [(rate("hookmetry_ingest_requests_total", by="outcome"), "{{outcome}}")],
        w=8,
        stack=True,
    )
    b.timeseries(
        "Ingest latency (accepted)",
        "Request start to answer for accepted captures, including the durable append.",
        "s",
        [
            (quantile(0.5, "hookmetry_ingest_request_duration_seconds", eq("outcome", "accepted")), "p50"),
            (quantile(0.99, "hookmetry_ingest_request_duration_seconds", eq("outcome", "accepted")), "p99"),
        ],
        w=8,
    )
    b.timeseries(
        "Ingest errors by outcome",
        "Refused capture requests per second; the 503 outcomes are ours, the others the sender's.",
        "reqps",
        [(rate("hookmetry_ingest_requests_total", ne("outcome", "accepted"), by="outcome"), "{{outcome}}")],
        w=8,
        stack=True,
    )

    b.row("Pipeline")
    b.timeseries(
        "Processor lag",
        "Captures waiting in the log for the processors (max over processors: each reports the whole topic).",
        "short",
        [(f"max(hookmetry_processor_lag_records{sel()})", "lag")],
        w=8,
    )
    b.timeseries(
        "Processor records by outcome",
        "Captures-log records handled per second: stored, duplicate (redelivered after a crash), undecodable.",
        "ops",
        [(rate("hookmetry_processor_records_total", by="outcome"), "{{outcome}}")],
        w=8,
        stack=True,
    )
    b.timeseries(
        "Verification verdicts by provider",
        "Signature checks per second by provider and verdict.",
        "ops",
        [(rate("hookmetry_verifications_total", by="provider, verdict"), "{{provider}} {{verdict}}")],
        w=8,
        stack=True,
    )

    b.row("Replay")
    b.timeseries(
        "Delivery attempts by outcome",
        "Attempts per second: success, or the error class (status, connect, timeout, reset, tls, refused, other).",
        "ops",
        [(rate("hookmetry_replay_attempts_total", by="outcome"), "{{outcome}}")],
        w=6,
        stack=True,
    )
    b.timeseries(
        "Deliveries finished by state",
        "Deliveries finished per second: succeeded or dead-lettered.",
        "ops",
        [(rate("hookmetry_replay_deliveries_finished_total", by="state"), "{{state}}")],
        w=6,
        stack=True,
    )
    b.timeseries(
        "Dead letters per interval",
        "Deliveries dead-lettered per interval.",
        "short",
        [
            (
                f'sum(increase(hookmetry_replay_deliveries_finished_total{sel(eq("state", "dead_lettered"))}[{RI}]))',
                "dead-lettered",
            )
        ],
        w=6,
        bars=True,
    )
    b.timeseries(
        "Retry backlog and in flight",
        "Deliveries due at the last scan (max over workers) and attempts in flight (sum over workers).",
        "short",
        [
            (f"max(hookmetry_replay_due_deliveries{sel()})", "due"),
            (f"sum(hookmetry_replay_in_flight{sel()})", "in flight"),
        ],
        w=6,
    )

    b.row("Live and health")
    b.timeseries(
        "Live subscribers and listeners",
        "captureReceived subscriptions and `hookmetry listen` sessions over all API nodes.",
        "short",
        [
            (f"sum(hookmetry_api_live_subscribers{sel()})", "subscribers"),
            (f"sum(hookmetry_api_active_listeners{sel()})", "listeners"),
        ],
        w=6,
    )
    b.timeseries(
        "Lagged subscriptions",
        "Subscriptions dropped per interval because the client fell api.subscriber_buffer captures behind.",
        "short",
        [(f"sum(increase(hookmetry_api_live_lagged_total{sel()}[{RI}]))", "lagged")],
        w=6,
        bars=True,
    )
    b.timeseries(
        "Backends up",
        "1 when every node's log (or store) answered its last readiness check, 0 when one did not.",
        "bool_yes_no",
        [(f"min by (backend) (hookmetry_backend_up{sel()})", "{{backend}}")],
        w=6,
    )
    b.timeseries(
        "Data dir free (embedded)",
        "Free share of the filesystem holding server.data_dir, per node with embedded backends.",
        "percentunit",
        [
            (
                f"hookmetry_data_dir_free_bytes{sel()} / hookmetry_data_dir_capacity_bytes{sel()}",
                "{{instance}}",
            )
        ],
        w=6,
    )
    return b


def ingest():
    b = Board(
        "hookmetry-ingest",
        "Hookmetry / Ingest",
        "Ingest nodes: capture requests by outcome, latency, the durable log append and body sizes.",
        "hookmetry_log_append_duration_seconds_count",
    )
    b.row("Requests")
    b.timeseries(
        "Capture requests by outcome",
        "Per second, by outcome.",
        "reqps",
        [(rate("hookmetry_ingest_requests_total", by="outcome"), "{{outcome}}")],
        stack=True,
    )
    b.timeseries(
        "503 share",
        "Share of capture requests refused with 503; HookmetryIngestErrors fires above 5% for 5 minutes.",
        "percentunit",
        [
            (
                INGEST_503_SHARE,
                "503 share",
            )
        ],
    )
    b.timeseries(
        "Accepted captures per instance",
        "Accepted capture requests per second on each ingest node.",
        "reqps",
        [(rate("hookmetry_ingest_requests_total", eq("outcome", "accepted"), by="instance"), "{{instance}}")],
    )
    b.timeseries(
        "Refused requests by outcome",
        "Refused capture requests per second: 404, 408, 413, 431 and 400 are the sender's, 503 ours.",
        "reqps",
        [(rate("hookmetry_ingest_requests_total", ne("outcome", "accepted"), by="outcome"), "{{outcome}}")],
        stack=True,
    )
    b.row("Latency")
    b.timeseries(
        "Accepted latency",
        "Request start to answer for accepted captures, including the durable append.",
        "s",
        [
            (quantile(q, "hookmetry_ingest_request_duration_seconds", eq("outcome", "accepted")), f"p{int(q * 100)}")
            for q in (0.5, 0.9, 0.99)
        ],
    )
    b.heatmap(
        "Accepted latency distribution",
        "Accepted captures per latency bucket and interval.",
        "hookmetry_ingest_request_duration_seconds",
        eq("outcome", "accepted"),
    )
    b.timeseries(
        "p99 latency by outcome",
        "99th percentile of the answer time for each outcome.",
        "s",
        [(quantile(0.99, "hookmetry_ingest_request_duration_seconds", by="outcome"), "{{outcome}}")],
    )
    b.timeseries(
        "Log append latency",
        "Time for the captures log to confirm a durable append (the shared fsync or the broker's ack).",
        "s",
        [(quantile(q, "hookmetry_log_append_duration_seconds"), f"p{int(q * 100)}") for q in (0.5, 0.99)],
    )
    b.row("Bodies")
    b.timeseries(
        "Body size of accepted captures",
        "Quantiles of the body size of accepted captures.",
        "bytes",
        [(quantile(q, "hookmetry_ingest_request_body_bytes"), f"p{int(q * 100)}") for q in (0.5, 0.99)],
    )
    b.timeseries(
        "Body bytes accepted",
        "Body bytes of accepted captures per second.",
        "Bps",
        [(f"sum(rate(hookmetry_ingest_request_body_bytes_sum{sel()}[{RI}]))", "bytes/s")],
    )
    return b


def processor():
    b = Board(
        "hookmetry-processor",
        "Hookmetry / Processor",
        "Processors: captures-log records, lag, batches, signature verification, forwarding and retention.",
        "hookmetry_processor_lag_records",
    )
    b.row("Records")
    b.timeseries(
        "Records by outcome",
        "Captures-log records handled per second: stored, duplicate (redelivered after a crash), undecodable.",
        "ops",
        [(rate("hookmetry_processor_records_total", by="outcome"), "{{outcome}}")],
        stack=True,
    )
    b.timeseries(
        "Records per instance",
        "Records handled per second by each processor (partitions are spread over the group).",
        "ops",
        [(rate("hookmetry_processor_records_total", by="instance"), "{{instance}}")],
    )
    b.timeseries(
        "Lag",
        "Captures waiting in the log (max over processors: each reports the whole topic).",
        "short",
        [(f"max(hookmetry_processor_lag_records{sel()})", "lag")],
    )
    b.timeseries(
        "Lag trend",
        "Change of the lag per second over 10 minutes; above 0 the processors fall behind.",
        "short",
        [(f"max(deriv(hookmetry_processor_lag_records{sel()}[10m]))", "records/s")],
        min0=False,
    )
    b.timeseries(
        "Batch duration",
        "Time to store, publish events for and commit one batch.",
        "s",
        [(quantile(q, "hookmetry_processor_batch_duration_seconds"), f"p{int(q * 100)}") for q in (0.5, 0.99)],
    )
    b.timeseries(
        "Batches",
        "Batches committed per second.",
        "ops",
        [(f"sum(rate(hookmetry_processor_batch_duration_seconds_count{sel()}[{RI}]))", "batches/s")],
    )
    b.row("Verification")
    b.timeseries(
        "Verdicts by provider",
        "Signature checks per second by provider and verdict.",
        "ops",
        [(rate("hookmetry_verifications_total", by="provider, verdict"), "{{provider}} {{verdict}}")],
        stack=True,
    )
    b.timeseries(
        "Failed verification share",
        "Share of checks of configured endpoints that did not come out VALID.",
        "percentunit",
        [
            (
                share(
                    rate("hookmetry_verifications_total", nrx("verdict", "VALID|NOT_CONFIGURED")),
                    rate("hookmetry_verifications_total", ne("verdict", "NOT_CONFIGURED")),
                ),
                "failed",
            )
        ],
    )
    b.row("Forwarding and retention")
    b.timeseries(
        "Forwarded deliveries",
        "Deliveries made by endpoints' forwarding rules per second.",
        "ops",
        [(f"sum(rate(hookmetry_processor_forwarded_deliveries_total{sel()}[{RI}]))", "forwarded")],
    )
    b.timeseries(
        "Captures expired by retention",
        "Captures deleted per interval for being older than their team's retention.",
        "short",
        [(f"sum(increase(hookmetry_retention_expired_captures_total{sel()}[{RI}]))", "expired")],
        bars=True,
    )
    return b


def replay():
    b = Board(
        "hookmetry-replay",
        "Hookmetry / Replay",
        "Replay workers: attempts, deliveries, dead letters, the retry backlog and deliveries-log wake-ups.",
        "hookmetry_replay_in_flight",
    )
    b.row("Attempts")
    b.timeseries(
        "Attempts by outcome",
        "Delivery attempts per second: success, or the error class. A retried delivery counts once per attempt.",
        "ops",
        [(rate("hookmetry_replay_attempts_total", by="outcome"), "{{outcome}}")],
        stack=True,
    )
    b.timeseries(
        "Attempt success share",
        "Share of attempts that got a 2xx answer.",
        "percentunit",
        [
            (
                share(
                    rate("hookmetry_replay_attempts_total", eq("outcome", "success")),
                    rate("hookmetry_replay_attempts_total"),
                ),
                "success",
            )
        ],
    )
    b.timeseries(
        "Attempt duration",
        "One attempt, from sending until the answer was read or the attempt failed.",
        "s",
        [(quantile(q, "hookmetry_replay_attempt_duration_seconds"), f"p{int(q * 100)}") for q in (0.5, 0.99)],
    )
    b.timeseries(
        "In flight per instance",
        "Attempts each worker has in flight (at most 256, and replay.per_target_concurrency per target).",
        "short",
        [(f"sum by (instance) (hookmetry_replay_in_flight{sel()})", "{{instance}}")],
    )
    b.row("Deliveries")
    b.timeseries(
        "Deliveries finished by state",
        "Deliveries finished per second: succeeded or dead-lettered.",
        "ops",
        [(rate("hookmetry_replay_deliveries_finished_total", by="state"), "{{state}}")],
        stack=True,
    )
    b.timeseries(
        "Dead letters",
        "Deliveries dead-lettered per interval; HookmetryDeadLetters fires on any in 15 minutes.",
        "short",
        [
            (
                f'sum(increase(hookmetry_replay_deliveries_finished_total{sel(eq("state", "dead_lettered"))}[{RI}]))',
                "dead-lettered",
            )
        ],
        bars=True,
    )
    b.timeseries(
        "Delivery duration",
        "A delivery's creation until it succeeded or was dead-lettered, retries included.",
        "s",
        [(quantile(q, "hookmetry_replay_delivery_duration_seconds"), f"p{int(q * 100)}") for q in (0.5, 0.99)],
    )
    b.timeseries(
        "Retry backlog",
        "Pending deliveries due at the last scan (max over workers: they read one store); at most 256.",
        "short",
        [(f"max(hookmetry_replay_due_deliveries{sel()})", "due")],
    )
    b.row("Wake-ups")
    b.timeseries(
        "Deliveries-log records by outcome",
        "Wake-ups handled per second: started, deferred (target or worker at its limit), skipped, undecodable.",
        "ops",
        [(rate("hookmetry_replay_records_total", by="outcome"), "{{outcome}}")],
        w=24,
        stack=True,
    )
    return b


def api():
    b = Board(
        "hookmetry-api",
        "Hookmetry / API",
        "API nodes: live captureReceived subscriptions, hookmetry listen sessions and the events tail.",
        "hookmetry_api_live_subscribers",
    )
    b.row("Subscriptions")
    b.timeseries(
        "Live subscribers per instance",
        "captureReceived subscriptions each API node serves.",
        "short",
        [(f"sum by (instance) (hookmetry_api_live_subscribers{sel()})", "{{instance}}")],
    )
    b.timeseries(
        "Active listeners per instance",
        "Subscriptions opened by `hookmetry listen` on each API node.",
        "short",
        [(f"sum by (instance) (hookmetry_api_active_listeners{sel()})", "{{instance}}")],
    )
    b.timeseries(
        "Live deliveries",
        "Capture events queued for live subscribers per second.",
        "ops",
        [(f"sum(rate(hookmetry_api_live_deliveries_total{sel()}[{RI}]))", "queued")],
    )
    b.timeseries(
        "Lagged subscriptions",
        "Subscriptions ended per interval because the client fell api.subscriber_buffer captures behind.",
        "short",
        [(f"sum by (instance) (increase(hookmetry_api_live_lagged_total{sel()}[{RI}]))", "{{instance}}")],
        bars=True,
    )
    b.row("Events tail")
    b.timeseries(
        "Events by outcome",
        "Events read from the events log per second: capture_stored, delivery_updated, and the ones not delivered.",
        "ops",
        [(rate("hookmetry_api_live_events_total", by="outcome"), "{{outcome}}")],
        w=24,
        stack=True,
    )
    return b


BOARDS = [overview, ingest, processor, replay, api]


def render(board):
    return json.dumps(board.model(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = "--check" in argv[1:]
    stale = []
    for make in BOARDS:
        board = make()
        path = HERE / f"{board.uid}.json"
        text = render(board)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(HERE.parent.parent)}")
    if stale:
        print(
            "FAIL: out of date with deploy/grafana/generate.py (run it and commit the result): " + ", ".join(stale),
            file=sys.stderr,
        )
        return 1
    if check:
        print(f"dashboards match generate.py ({len(BOARDS)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
