#!/usr/bin/env python3
"""Checks every PromQL expression of the Grafana dashboards and the Prometheus rules.

    python3 deploy/check-promql.py              # the repository's dashboards and rules
    python3 deploy/check-promql.py --self-test  # shows that each kind of mistake is caught

For every `expr` of every dashboard panel and variable (deploy/grafana/*.json) and every rule
(deploy/prometheus/*.yaml):
- it parses: all of them go into one temporary rule file, one group per expression named after
  its dashboard and panel (template variables replaced: $__rate_interval -> 5m, $job -> .*, ...),
  checked with `promtool check rules`;
- it names only metrics of docs/metrics.md (`up` aside), a histogram only through its _bucket,
  _sum or _count series, only labels of that metric (or the scrape's namespace, job, instance,
  pod), and, for the labels with a fixed set of values, only those values.
Dashboards also need: the `${datasource}` data source on every panel and query, a unit on every
panel, unique panel ids, grid positions within 24 columns, every `$variable` defined, a stable
unique uid. Alerts need a severity label, summary and description annotations, and a
runbook_url `docs/operations.md#anchor` whose heading exists in docs/operations.md.

Exit status 0 when everything passes, 1 with every problem listed otherwise. Needs promtool
(PROMTOOL names it, else PATH) and PyYAML.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TARGET_LABELS = {"namespace", "job", "instance", "pod"}
EXTERNAL_METRICS = {"up": set()}  # metrics Prometheus itself makes, and their labels
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SEVERITIES = {"critical", "warning", "info"}
RUNBOOK_PREFIX = "docs/operations.md#"
BUILTIN_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
GROUPING_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
OTHER_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end"}


# --- docs/metrics.md -----------------------------------------------------------------------------


class Docs:
    """The metrics table (name -> type, labels) and the label values table of docs/metrics.md."""

    def __init__(self, path):
        self.types, self.labels, self.values = {}, {}, {}
        for line in Path(path).read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
            if len(cells) >= 4 and re.fullmatch(r"`hookmetry_\w+`", cells[0]) and cells[1] in (
                "counter",
                "gauge",
                "histogram",
            ):
                name = cells[0].strip("`")
                self.types[name] = cells[1]
                self.labels[name] = set(re.findall(r"`(\w+)`", cells[2]))
            elif len(cells) == 3 and cells[0].startswith("`hookmetry_") and re.fullmatch(r"`\w+`", cells[1]):
                label = cells[1].strip("`")
                for metric in re.findall(r"`(hookmetry_\w+)`", cells[0]):
                    self.values[(metric, label)] = set(re.findall(r"`([^`]+)`", cells[2]))
        if not self.types:
            raise SystemExit(f"{path}: no metrics table found")

    def all_labels(self):
        return set().union(*self.labels.values())


# --- PromQL ---------------------------------------------------------------------------------------

TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+(?![\w.]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@])
    """,
    re.VERBOSE,
)


def tokens(expr):
    out, pos = [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot read {expr[pos:pos + 20]!r}")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    return out


def unquote(s):
    return s[1:-1].encode().decode("unicode_escape") if s[0] in "\"'" else s[1:-1]


def analyse(expr):
    """Selectors [(metric or None, [(label, op, value)])] and grouping labels of an expression."""
    toks = tokens(expr)
    selectors, grouping = [], []
    i = 0

    def matchers(j):  # toks[j] is "{"; returns (matchers, index after "}")
        found, j = [], j + 1
        while toks[j][1] != "}":
            if toks[j][1] == ",":
                j += 1
                continue
            label, op, value = toks[j][1], toks[j + 1][1], toks[j + 2]
            if value[0] != "string":
                raise ValueError(f"matcher {label}{op} needs a string")
            found.append((label, op, unquote(value[1])))
            j += 3
        return found, j + 1

    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if text == "[":
            while toks[i][1] != "]":
                i += 1
            i += 1
        elif kind == "ident" and text.lower() in GROUPING_KEYWORDS:
            i += 1
            if nxt == "(":
                i += 1
                while toks[i][1] != ")":
                    if toks[i][0] == "ident":
                        grouping.append(toks[i][1])
                    i += 1
                i += 1
        elif kind == "ident" and text.lower() in OTHER_KEYWORDS:
            i += 1
        elif kind == "ident" and (nxt == "(" or (nxt or "").lower() in ("by", "without")):
            i += 1  # a function or an aggregation
        elif kind == "ident":
            if nxt == "{":
                found, i = matchers(i + 1)
            else:
                found, i = [], i + 1
            selectors.append((text, found))
        elif text == "{":
            found, i = matchers(i)
            selectors.append((None, found))
        else:
            i += 1
    return selectors, grouping


def check_names(expr, docs):
    """Problems with the metrics, labels and label values `expr` names."""
    problems = []
    try:
        selectors, grouping = analyse(expr)
    except (ValueError, IndexError) as e:
        return [f"cannot be read for its metric names: {e}"]
    for metric, found in selectors:
        if metric is None:
            problems.append("a selector without a metric name")
            continue
        if metric in EXTERNAL_METRICS:
            allowed, values_of = EXTERNAL_METRICS[metric] | TARGET_LABELS, metric
        else:
            base = metric
            for suffix in HISTOGRAM_SUFFIXES:
                if metric.endswith(suffix) and docs.types.get(metric[: -len(suffix)]) == "histogram":
                    base = metric[: -len(suffix)]
            if base not in docs.types:
                problems.append(f"metric `{metric}` is not in docs/metrics.md")
                continue
            if base == metric and docs.types[base] == "histogram":
                problems.append(f"`{metric}` is a histogram: use its _bucket, _sum or _count series")
                continue
            allowed = docs.labels[base] | TARGET_LABELS | ({"le"} if metric.endswith("_bucket") else set())
            values_of = base
        for label, op, value in found:
            if label not in allowed:
                problems.append(f"`{metric}` has no label `{label}`")
                continue
            known = docs.values.get((values_of, label))
            if not known or "$" in value:
                continue
            if op in ("=", "!="):
                wanted = [value] if value else []
            elif re.fullmatch(r"[\w\-|]+", value):
                wanted = value.split("|")
            else:
                continue  # a real regex: nothing to compare
            for v in wanted:
                if v not in known:
                    problems.append(
                        f"`{metric}{{{label}{op}\"{value}\"}}`: `{v}` is not a documented value of `{label}`"
                    )
    known_labels = docs.all_labels() | TARGET_LABELS | {"le"}
    for label in grouping:
        if label not in known_labels:
            problems.append(f"groups by `{label}`, which no documented metric has")
    return problems


# --- sources --------------------------------------------------------------------------------------


def substitute(expr, variables):
    """`expr` with template variables replaced by values that keep it valid PromQL."""
    unknown = []

    def repl(m):
        name = m.group(1) or m.group(2)
        if name in BUILTIN_VARIABLES:
            return BUILTIN_VARIABLES[name]
        if name in variables:
            return ".*"
        unknown.append(name)
        return m.group(0)

    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)
    return out, unknown


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def dashboard_exprs(path, problems, uids):
    """(context, expr) of a dashboard, after checking its structure."""
    d = json.loads(Path(path).read_text())
    title = d.get("title") or path.name
    where = f"{path.name} ({title})"
    uid = d.get("uid")
    if not uid or not re.fullmatch(r"[a-z0-9-]{1,40}", uid):
        problems.append(f"{where}: uid {uid!r} must be a stable lowercase id")
    elif uid in uids:
        problems.append(f"{where}: uid {uid} is also used by {uids[uid]}")
    else:
        uids[uid] = path.name
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
        problems.append(f"{where}: schemaVersion {d.get('schemaVersion')!r}, expected 36 or later")
    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append(f"{where}: needs a `datasource` variable of type datasource for prometheus")
    out = []
    for name, v in variables.items():
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q or ""
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q)
        if not m:
            problems.append(f"{where}: variable `{name}`: query {q!r} is not label_values(selector, label)")
            continue
        if v.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{where}: variable `{name}` does not use the ${{datasource}} variable")
        out.append((f"{title} / variable {name}", m.group(1), variables))
        out.append((f"{title} / variable {name}", f"count by ({m.group(2)}) ({m.group(1)})", variables))
    ids = set()
    for p in walk_panels(d.get("panels", [])):
        ptitle = f"{title} / {p.get('title', '(untitled)')}"
        if p.get("id") in ids:
            problems.append(f"{ptitle}: panel id {p.get('id')} is used twice")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] + g["w"] > 24 or g["w"] < 1:
            problems.append(f"{ptitle}: gridPos {g} is not within 24 columns")
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{ptitle}: panel data source is not ${{datasource}}")
        defaults = p.get("fieldConfig", {}).get("defaults", {})
        if not defaults.get("unit"):
            problems.append(f"{ptitle}: no unit (fieldConfig.defaults.unit)")
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"{ptitle}: no queries")
        for t in targets:
            if t.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"{ptitle}: query {t.get('refId')} data source is not ${{datasource}}")
            if not t.get("expr", "").strip():
                problems.append(f"{ptitle}: query {t.get('refId')} has no expr")
                continue
            out.append((f"{ptitle} [{t.get('refId')}]", t["expr"], variables))
    return out


def anchors(path):
    """GitHub's anchors for the headings of a Markdown file, plus explicit <a id/name> ones."""
    found = set()
    text = Path(path).read_text() if Path(path).exists() else ""
    for line in text.splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
            found.add(slug)
    found.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))
    return found


def rule_exprs(path, problems, runbook_anchors):
    """(context, expr) of a rule file, after checking its alerts' labels and annotations."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    out = []
    for group in data.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            where = f"{path.name} / {name}"
            out.append((where, rule.get("expr", ""), {}))
            if "alert" not in rule:
                continue
            severity = rule.get("labels", {}).get("severity")
            if severity not in SEVERITIES:
                problems.append(f"{where}: severity label {severity!r}, expected one of {sorted(SEVERITIES)}")
            ann = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not str(ann.get(key, "")).strip():
                    problems.append(f"{where}: no `{key}` annotation")
            url = str(ann.get("runbook_url", ""))
            if url and not url.startswith(RUNBOOK_PREFIX):
                problems.append(f"{where}: runbook_url {url!r} does not point at {RUNBOOK_PREFIX}<anchor>")
            elif url and url[len(RUNBOOK_PREFIX):] not in runbook_anchors:
                problems.append(f"{where}: runbook_url {url!r}: docs/operations.md has no heading with that anchor")
    return out


def promtool_check(exprs, problems):
    """Parses every expression with `promtool check rules`; adds the failures to `problems`."""
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not promtool:
        problems.append("promtool not found (install the `prometheus` package or set PROMTOOL)")
        return
    groups, seen = [], {}
    for i, (context, expr) in enumerate(exprs):
        # Group names must be unique; a panel or variable may have several expressions.
        seen[context] = seen.get(context, 0) + 1
        name = context if seen[context] == 1 else f"{context} ({seen[context]})"
        groups.append({"name": name, "rules": [{"record": f"hookmetry_check:expr_{i}", "expr": expr}]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exprs.yaml"
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False, width=1 << 20))
        r = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            lines = [l.strip() for l in (r.stdout + r.stderr).splitlines() if "group " in l]
            for line in dict.fromkeys(lines):
                problems.append("does not parse: " + line.split(": ", 1)[-1])
            if not lines:
                problems.append(f"promtool check rules failed:\n{r.stdout}{r.stderr}")


def check(dashboards, rules, docs_path, runbook_path):
    docs = Docs(docs_path)
    problems, uids, exprs = [], {}, []
    runbook_anchors = anchors(runbook_path)
    sources = [(p, dashboard_exprs(p, problems, uids)) for p in dashboards]
    sources += [(p, rule_exprs(p, problems, runbook_anchors)) for p in rules]
    for _, items in sources:
        for context, expr, variables in items:
            text, unknown = substitute(expr, variables)
            for name in unknown:
                problems.append(f"{context}: uses ${name}, which the dashboard does not define")
            problems.extend(f"{context}: {p}" for p in check_names(text, docs))
            exprs.append((context, text))
    promtool_check(exprs, problems)
    return problems, len(exprs)


def main(argv):
    if "--self-test" in argv:
        return self_test()
    dashboards = sorted((ROOT / "deploy/grafana").glob("*.json"))
    rules = sorted(p for p in (ROOT / "deploy/prometheus").glob("*.yaml"))
    problems, n = check(dashboards, rules, ROOT / "docs/metrics.md", ROOT / "docs/operations.md")
    if problems:
        print(f"FAIL: {len(problems)} problem(s) in {len(dashboards)} dashboards and {len(rules)} rule files:")
        for p in problems:
            print("  - " + p)
        return 1
    print(f"PASS: {n} expressions in {len(dashboards)} dashboards and {len(rules)} rule files")
    return 0


# --- self-test ------------------------------------------------------------------------------------


def self_test():
    """Feeds the checker one broken dashboard and rule file and expects every mistake reported."""
    docs = ROOT / "docs/metrics.md"
    panel = {
        "id": 1,
        "type": "timeseries",
        "title": "P",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
        "fieldConfig": {"defaults": {"unit": "ops"}},
        "targets": [],
    }
    ok_target = {"refId": "A", "datasource": {"uid": "${datasource}"}}
    cases = {
        "sum(rate(hookmetry_replay_attempts_total[5m])": "does not parse",
        "rate(hookmetry_replay_attempts_total)": "does not parse",
        "sum(rate(hookmetry_replay_attempt_total[$__rate_interval]))": "`hookmetry_replay_attempt_total` is not in",
        "rate(hookmetry_replay_attempt_duration_seconds[5m])": "is a histogram",
        'rate(hookmetry_ingest_requests_total{outcome="acepted"}[5m])': "`acepted` is not a documented value",
        'rate(hookmetry_ingest_requests_total{outcome=~"log_full|log_down"}[5m])': "`log_down` is not a documented",
        'rate(hookmetry_ingest_requests_total{verdict="VALID"}[5m])': "has no label `verdict`",
        "sum by (outcom) (rate(hookmetry_ingest_requests_total[5m]))": "groups by `outcom`",
        "process_cpu_seconds_total": "`process_cpu_seconds_total` is not in docs",
        'hookmetry_replay_in_flight{job=~"$cluster"}': "uses $cluster",
    }
    panels = []
    for i, expr in enumerate(cases):
        p = json.loads(json.dumps(panel))
        p.update(id=i + 1, title=f"case {i}", targets=[dict(ok_target, expr=expr)])
        panels.append(p)
    structural = json.loads(json.dumps(panel))
    structural.update(id=1, title="structure", gridPos={"h": 8, "w": 12, "x": 18, "y": 9})
    structural["datasource"] = {"type": "prometheus", "uid": "prom-1"}
    structural["fieldConfig"] = {"defaults": {}}
    structural["targets"] = [dict(ok_target, expr="hookmetry_replay_in_flight")]
    panels.append(structural)
    dashboard = {
        "title": "Broken",
        "uid": "Broken Board",
        "schemaVersion": 39,
        "templating": {"list": [{"name": "job", "type": "custom", "query": "a,b"}]},
        "panels": panels,
    }
    rules = {
        "groups": [
            {
                "name": "g",
                "rules": [
                    {
                        "alert": "NoRunbook",
                        "expr": "hookmetry_backend_up == 0",
                        "labels": {"severity": "page"},
                        "annotations": {"summary": "s", "runbook_url": "docs/operations.md#no-such-heading"},
                    }
                ],
            }
        ]
    }
    expected = [(f"case {i} [A]", m) for i, m in enumerate(cases.values())]
    expected += [("", m) for m in [
        "structure: panel data source is not ${datasource}",
        "structure: no unit",
        "panel id 1 is used twice",
        "is not within 24 columns",
        "uid 'Broken Board' must be a stable lowercase id",
        "needs a `datasource` variable",
        "severity label 'page'",
        "no `description` annotation",
        "docs/operations.md has no heading with that anchor",
    ]]
    with tempfile.TemporaryDirectory() as tmp:
        d, r = Path(tmp) / "broken.json", Path(tmp) / "broken.yaml"
        d.write_text(json.dumps(dashboard))
        r.write_text(yaml.safe_dump(rules))
        problems, _ = check([d], [r], docs, ROOT / "docs/operations.md")
    missed = [f"{c}: {m}" for c, m in expected if not any(c in p and m in p for p in problems)]
    if missed:
        print("FAIL: the checker did not report:")
        for m in missed:
            print("  - " + m)
        print("it reported:\n  - " + "\n  - ".join(problems))
        return 1
    print(f"PASS: self-test, {len(expected)} kinds of mistakes reported ({len(problems)} problems)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
