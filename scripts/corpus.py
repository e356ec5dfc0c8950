#!/usr/bin/env python3
"""How much of a corpus of real SAM templates esb would run (issue 20).

Runs `esb build --dry-run --json` on every SAM template under a directory (a template.yaml or
template.yml that names AWS::Serverless), and prints: templates accepted, functions planned to run
by runtime family, and every function left out, counted by reason. A function of a template esb
rejects counts as not planned (with the template's first error as the reason).

Usage: scripts/corpus.py DIR [--esb target/debug/esb] [--json OUT] [--jobs 2]
The corpus the issues measure is aws-samples/serverless-patterns (commit fb7b5d06).
"""
import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys

FUNCTION = re.compile(r"^\s*Type:\s*['\"]?AWS::(Serverless::Function|Lambda::Function)\b", re.M)
RUNTIME = re.compile(r"^\s*Runtime:\s*['\"]?([A-Za-z0-9.]+)", re.M)


def family(runtime):
    for name in ("python", "nodejs", "java", "dotnet", "provided", "ruby", "go"):
        if runtime.startswith(name):
            return name
    return runtime or "none"


def templates(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".git", "node_modules", ".aws-sam", ".esb", "cdk.out")]
        for name in ("template.yaml", "template.yml"):
            if name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    text = open(path, encoding="utf-8", errors="replace").read()
                except OSError:
                    continue
                if "AWS::Serverless" in text:
                    yield path, text


def one(esb, path, text):
    declared = len(FUNCTION.findall(text))
    try:
        out = subprocess.run([esb, "build", "--dry-run", "--json", "-t", path], capture_output=True, text=True, timeout=120,
                             cwd=os.path.dirname(path), env={**os.environ, "NO_COLOR": "1"})
    except subprocess.TimeoutExpired:
        return {"path": path, "declared": declared, "accepted": False, "error": "timed out", "planned": {}, "left_out": {}}
    try:
        doc, _ = json.JSONDecoder().raw_decode(out.stdout.lstrip())
    except ValueError:
        doc = {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}
    if "error" in doc and "functions" not in doc:
        # The template was rejected: its first diagnostic, else the error.
        diags = doc.get("diagnostics") or []
        why = diags[0].get("message") if diags else doc["error"].splitlines()[0]
        return {"path": path, "declared": declared, "accepted": False, "error": why, "planned": {}, "left_out": {},
                "runtimes": RUNTIME.findall(text)}
    planned = {fid: f.get("runtime", "") for fid, f in doc.get("functions", {}).items()}
    return {"path": path, "declared": declared, "accepted": True, "error": None, "planned": planned,
            "left_out": doc.get("left_out", {}), "warnings": doc.get("warnings", [])}


def reason_key(reason):
    """Groups reasons: the runtime named, not the function."""
    return re.sub(r"runtime ([a-z]+)[0-9.a-z]*", r"runtime \1*", reason)[:120]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--esb", default=os.path.join(os.path.dirname(__file__), "..", "target", "debug", "esb"))
    ap.add_argument("--json")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    esb = os.path.abspath(args.esb)
    found = list(templates(args.dir))
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda t: one(esb, *t), found))
    declared = sum(r["declared"] for r in results)
    planned = collections.Counter(family(rt) for r in results for rt in r["planned"].values())
    left = collections.Counter(reason_key(why) for r in results for why in r["left_out"].values())
    rejected = [r for r in results if not r["accepted"]]
    errors = collections.Counter((r["error"] or "")[:140] for r in rejected)
    lost_in_rejected = sum(r["declared"] for r in rejected)
    total_planned = sum(planned.values())
    print(f"templates: {len(results)} SAM templates, {len(results) - len(rejected)} accepted, {len(rejected)} rejected")
    print(f"functions: {declared} declared, {total_planned} planned to run ({100.0 * total_planned / max(declared, 1):.1f} %)")
    print("planned by family: " + ", ".join(f"{k} {v}" for k, v in planned.most_common()))
    sdk = sum(1 for r in results for w in r.get("warnings", []) if " imports @aws-sdk/" in w or " imports aws-sdk" in w)
    no_bootstrap = sum(1 for r in results for w in r.get("warnings", []) if "no `bootstrap` executable" in w)
    print(f"planned, but warned at build: {sdk} import an AWS SDK they do not ship; {no_bootstrap} provided functions have no bootstrap yet")
    print(f"left out with a reason: {sum(left.values())}")
    for why, n in left.most_common(15):
        print(f"  {n:4d}  {why}")
    print(f"in rejected templates: {lost_in_rejected} functions; the first errors:")
    for why, n in errors.most_common(15):
        print(f"  {n:4d}  {why}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "declared": declared, "planned": dict(planned), "left_out": dict(left)}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
