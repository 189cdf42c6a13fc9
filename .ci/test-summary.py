#!/usr/bin/env python3
"""One line per outcome from a `cargo test --no-fail-fast` log (stdout and stderr together).

    .ci/test-summary.py LOG [LABEL] [--require PREFIX]

A suite is one test binary (`Running …` line). It failed when its `test result:` says FAILED or
it never printed one (it crashed, or did not build); it is listed as skipped when it said so loudly (a
line starting `skipped:` or `SKIPPED`, as the external-backend suites print without their server,
or for one case a broker cannot run), with the first such line.
Prints the suite tally, the names of failed and skipped suites, and the test tally last, in the
"N passed, N failed" form. Exits 1 when any suite failed or none ran.

With `--require PREFIX`, a suite that printed no line starting with PREFIX counts as failed: the
clock-shifted run uses it to prove that every suite in it really ran with the clock moved.
"""

import re
import sys

RUNNING = re.compile(r"^\s*Running (?:unittests )?(\S+) \(([^)]*)\)")
DOCTESTS = re.compile(r"^\s*Doc-tests (\S+)")
RESULT = re.compile(r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored")
SKIP = re.compile(r"^(skipped:|SKIPPED)")
TARGET = re.compile(r"deps/([A-Za-z0-9_]+)-[0-9a-f]+$")


def suite_name(source: str, binary: str) -> str:
    # `tests/cli.rs (target/debug/deps/cli-…)`; unit tests name their crate.
    m = TARGET.search(binary)
    crate = m.group(1) if m else binary
    return crate if source.startswith("src/") else f"{crate} ({source})"


def main() -> int:
    args = sys.argv[1:]
    required = None
    if "--require" in args:
        i = args.index("--require")
        required = args[i + 1]
        del args[i : i + 2]
    log, label = args[0], (args[1] if len(args) > 1 else "tests")
    suites = []  # [name, outcome or None, skip notice, saw the required line]
    tests = [0, 0, 0]
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if m := RUNNING.match(line):
                suites.append([suite_name(m.group(1), m.group(2)), None, None, False])
            elif m := DOCTESTS.match(line):
                suites.append([f"{m.group(1)} (doc-tests)", None, None, False])
            elif required and line.startswith(required) and suites:
                suites[-1][3] = True
            elif (m := RESULT.match(line)) and suites and suites[-1][1] is None:
                suites[-1][1] = m.group(1)
                for i in range(3):
                    tests[i] += int(m.group(i + 2))
            elif SKIP.match(line) and suites and suites[-1][2] is None:
                suites[-1][2] = line.strip()
    if required:
        for s in suites:
            if s[1] == "ok" and not s[3]:
                s[1] = f"never printed `{required}`"
    failed = [s[0] if s[1] in (None, "FAILED") else f"{s[0]}: {s[1]}" for s in suites if s[1] != "ok"]
    skipped = [(s[0], s[2]) for s in suites if s[1] == "ok" and s[2]]
    passed = len(suites) - len(failed) - len(skipped)
    print(f"{label} suites: {passed} passed, {len(failed)} failed, {len(skipped)} skipped, of {len(suites)}")
    for name in failed:
        print(f"  FAILED   {name}")
    for name, notice in skipped:
        print(f"  skipped  {name}: {notice[:160]}")
    print(f"{label}: {tests[0]} passed, {tests[1]} failed, {tests[2]} ignored")
    return 1 if failed or not suites else 0


if __name__ == "__main__":
    sys.exit(main())
