"""What the deployment checks share: a PASS/FAIL/SKIP report and finding the hookmetry binary.

Used by deploy/compose/check.py, deploy/docker/check.py and helm/hookmetry/ci/check_chart.py,
which put this folder on sys.path.
"""

from __future__ import annotations

import os
from pathlib import Path


class Report:
    """Prints one line per check and counts them; `summary` prints the totals and the exit code."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.passed = 0
        self.skipped: list[str] = []

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"  PASS {what}")

    def fail(self, what: str, detail: str = "") -> None:
        self.failed.append(what)
        print(f"  FAIL {what}" + (f"\n       {detail.strip()}".replace("\n", "\n       ") if detail else ""))

    def skip(self, what: str) -> None:
        self.skipped.append(what)
        print(f"  SKIP {what}")

    def check(self, cond: bool, what: str, detail: str = "") -> bool:
        (self.ok(what) if cond else self.fail(what, detail))
        return cond

    def summary(self, name: str) -> int:
        print(f"\n{name} checks: {self.passed} passed, {len(self.failed)} failed, {len(self.skipped)} skipped")
        for f in self.failed:
            print(f"  failed: {f}")
        return 1 if self.failed else 0


def find_binary(repo: Path, given: str | None) -> Path | None:
    """`given`, or the newest hookmetry binary cargo built (debug or release, either target dir)."""
    if given:
        return Path(given)
    candidates = []
    for base in filter(None, [os.environ.get("CARGO_TARGET_DIR"), str(repo / "target")]):
        for profile in ("debug", "release"):
            p = Path(base) / profile / "hookmetry"
            if p.is_file() and os.access(p, os.X_OK):
                candidates.append(p)
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None
