#!/usr/bin/env python3
"""One line per outcome from a `cargo test --no-fail-fast` log (stdout and stderr together).

    .ci/test-summary.py LOG [LABEL] [--require PREFIX]

A suite is one subject: a top-level module of an integration-test binary (`tests/suite/main.rs`
holds one module per subject, `cli::…`, `listen::…`; each crate's `tests/main.rs` one per file),
or a whole binary when its tests have no module (unit tests, doc-tests and one-file test binaries
count as one suite each). A suite failed when one of its tests FAILED, or when its binary never
printed `test result:` (it crashed, or did not build). It is listed as skipped when it said so
loudly: a line `SKIPPED <module>::<test>: <reason>` (or the older `skipped: …`), as
`hookmetry_core::external::skip` prints for a test whose server or program is missing; the
notice is counted against the module its name starts with, and the first is shown.
Prints the suite tally, the names of failed and skipped suites, and the test tally last, in the
"N passed, N failed" form. Exits 1 when any suite failed or none ran.

With `--require PREFIX`, a binary that printed no line starting with PREFIX counts as failed: the
clock-shifted run uses it to prove that every suite in it really ran with the clock moved.
"""

import re
import sys

RUNNING = re.compile(r"^\s*Running (?:unittests )?(\S+) \(([^)]*)\)")
DOCTESTS = re.compile(r"^\s*Doc-tests (\S+)")
RESULT = re.compile(r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored")
# A test's own line; a notice written past the harness's capture may share the line.
TEST = re.compile(r"^test (\S+) \.\.\. (?:.*?)(ok|FAILED|ignored)\s*$")
SKIP = re.compile(r"^(?:test \S+ \.\.\. )?((?:SKIPPED|skipped:).*)$")
TARGET = re.compile(r"deps/([A-Za-z0-9_]+)-[0-9a-f]+$")


class Binary:
    def __init__(self, name, per_module, source=None):
        self.name = name
        self.source = source
        # Unit tests are grouped by crate, not by their many private modules.
        self.per_module = per_module
        self.result = None
        self.tests = {}  # module (or "") -> [failed test names, count]
        self.skips = []  # (module or None, notice)
        self.required_seen = False

    def module_of(self, test):
        return test.split("::", 1)[0] if self.per_module and "::" in test else ""

    def suites(self):
        """(name, failure or None, skip notice or None) per suite of this binary."""
        modules = dict(self.tests)
        # A notice naming no module of this binary belongs to the binary as a whole.
        if not modules or any(m not in modules for m, _ in self.skips):
            modules.setdefault("", [[], 0])
        out = []
        for module, (failed, _count) in sorted(modules.items()):
            name = f"{self.name}::{module}" if module else self.name
            if self.source:
                name += f" ({self.source})"
            notices = [n for m, n in self.skips if m == module or (m not in modules and module == "")]
            if self.result is None:
                failure = "no test result (crashed or did not build)"
            elif failed:
                failure = f"{len(failed)} failed: {', '.join(failed[:3])}"
            else:
                failure = None
            skip = None
            if notices:
                more = f" (and {len(notices) - 1} more)" if len(notices) > 1 else ""
                skip = f"{notices[0]}{more}"
            out.append((name, failure, skip))
        return out


def binary_name(binary):
    # `target/debug/deps/store-…`: the test target's name (a unit-test binary's is its crate's).
    m = TARGET.search(binary)
    return m.group(1) if m else binary


def main():
    args = sys.argv[1:]
    required = None
    if "--require" in args:
        i = args.index("--require")
        required = args[i + 1]
        del args[i : i + 2]
    log, label = args[0], (args[1] if len(args) > 1 else "tests")
    binaries = []
    tally = [0, 0, 0]
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if m := RUNNING.match(line):
                source = m.group(1)
                unit = source.startswith("src/")
                binaries.append(Binary(binary_name(m.group(2)), not unit, None if unit else source))
                continue
            if m := DOCTESTS.match(line):
                binaries.append(Binary(f"{m.group(1)} (doc-tests)", False))
                continue
            if not binaries:
                continue
            current = binaries[-1]
            if required and line.startswith(required):
                current.required_seen = True
            if (m := RESULT.match(line)) and current.result is None:
                current.result = m.group(1)
                for i in range(3):
                    tally[i] += int(m.group(i + 2))
                continue
            if m := TEST.match(line):
                test, outcome = m.group(1), m.group(2)
                entry = current.tests.setdefault(current.module_of(test), [[], 0])
                entry[1] += 1
                if outcome == "FAILED":
                    entry[0].append(test)
            if m := SKIP.search(line):
                notice = m.group(1).strip()
                named = re.match(r"(?:SKIPPED|skipped:)\s*([A-Za-z0-9_]+)[:\s]", notice)
                current.skips.append((named.group(1) if named and current.per_module else "", notice))

    suites = []
    for b in binaries:
        for name, failure, skip in b.suites():
            if required and failure is None and not b.required_seen:
                failure = f"never printed `{required}`"
            suites.append((name, failure, skip))
    failed = [(n, f) for n, f, _ in suites if f]
    skipped = [(n, s) for n, f, s in suites if not f and s]
    passed = len(suites) - len(failed) - len(skipped)
    print(f"{label} suites: {passed} passed, {len(failed)} failed, {len(skipped)} skipped, of {len(suites)}")
    for name, failure in failed:
        print(f"  FAILED   {name}: {failure}")
    for name, notice in skipped:
        print(f"  skipped  {name}: {notice[:200]}")
    print(f"{label}: {tally[0]} passed, {tally[1]} failed, {tally[2]} ignored")
    return 1 if failed or not suites else 0


if __name__ == "__main__":
    sys.exit(main())
