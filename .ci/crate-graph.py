#!/usr/bin/env python3
"""Draws how the workspace's crates depend on each other, from `cargo metadata`, into
docs/architecture.md between its crate-graph markers, so the picture cannot drift from Cargo.toml.

    .ci/crate-graph.py          rewrite the picture
    .ci/crate-graph.py --check  exit 1 when the committed picture differs (CI runs this)

Only normal (non-dev, non-build) dependencies between workspace members are drawn; a dependency
behind a cargo feature is drawn dashed with the feature's name.
"""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- crate-graph:begin -->", "<!-- crate-graph:end -->"


def short(name: str) -> str:
    return name.removeprefix("hookmetry-") if name != "hookmetry" else "hookmetry (binary)"


def graph() -> str:
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    members = {p["name"]: p for p in meta["packages"]}
    edges = []
    for name, pkg in sorted(members.items()):
        # Optional dependencies are turned on by a feature of the same name or one that lists it.
        optional_by = {}
        for feature, enables in pkg.get("features", {}).items():
            for item in enables:
                dep = item.removeprefix("dep:").split("/")[0].split("?")[0]
                optional_by.setdefault(dep, feature)
        seen = set()
        for dep in pkg["dependencies"]:
            if dep["name"] not in members or dep["kind"] is not None or dep["name"] == name:
                continue
            if dep["name"] in seen:
                continue
            seen.add(dep["name"])
            feature = optional_by.get(dep.get("rename") or dep["name"]) if dep["optional"] else None
            edges.append((name, dep["name"], feature))
    lines = ["```mermaid", "flowchart TD"]
    for name in sorted(members):
        if name == "hookmetry-tests":
            continue  # the black-box suites depend on everything; drawing them hides the rest
        lines.append(f'    {name.replace("-", "_")}["{short(name)}"]')
    for src, dst, feature in edges:
        if "hookmetry-tests" in (src, dst):
            continue
        arrow = f"-. {feature} .->" if feature else "-->"
        lines.append(f'    {src.replace("-", "_")} {arrow} {dst.replace("-", "_")}')
    lines.append("```")
    return "\n".join(lines)


def main() -> int:
    unknown = [a for a in sys.argv[1:] if a != "--check"]
    if unknown:
        print(__doc__, file=sys.stderr)
        return 2
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        print(f"{DOC}: the markers {BEGIN} and {END} are missing", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{graph()}\n{END}{tail}"
    if "--check" in sys.argv[1:]:
        if new != text:
            print("docs/architecture.md: the crate graph is out of date; run .ci/crate-graph.py", file=sys.stderr)
            return 1
        print("crate graph: up to date")
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
