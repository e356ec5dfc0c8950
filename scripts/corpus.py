#!/usr/bin/env python3
"""How much of a corpus of real SAM templates esb would run (issue 20).

Runs `esb build --dry-run --json` on every SAM template under a directory (a template.yaml or
template.yml that names AWS::Serverless), and prints: templates accepted, functions planned to run
by runtime family, and every function left out, counted by reason. A function of a template esb
rejects counts as not planned (with the template's first error as the reason).

Usage: scripts/corpus.py DIR [--esb target/debug/esb] [--json OUT] [--jobs 2] [--reference]
The corpus the issues measure is aws-samples/serverless-patterns (commit fb7b5d06).

--reference also runs the reference SAM translator (aws-sam-translator, pinned below, installed
from the Python package index into a virtualenv in esb's cache the first time) on every template
in the same run (scripts/reference.py), and prints its count next to esb's with every template on
which the two disagree.
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
            "left_out": doc.get("left_out", {}), "warnings": doc.get("warnings", []),
            "missing_parameters": [m.get("name") for m in doc.get("missing_parameters") or []],
            "routes": len(doc.get("routes") or [])}


REFERENCE = "aws-sam-translator==1.115.0"


def reference_verdicts(paths):
    """{path: (accepted, error)} from the reference translator, in a cached virtualenv."""
    cache = os.environ.get("ESB_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "esb")
    venv = os.path.join(cache, "reference-" + REFERENCE.replace("==", "-"))
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", REFERENCE, "pyyaml"], check=True)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.py")
    out = subprocess.run([python, script], input="\n".join(paths), capture_output=True, text=True, check=True)
    verdicts = {}
    for line in out.stdout.splitlines():
        v = json.loads(line)
        verdicts[v["path"]] = (v["accepted"], v["error"])
    return verdicts


def reason_key(reason):
    """Groups reasons: the runtime named, not the function."""
    return re.sub(r"runtime ([a-z]+)[0-9.a-z]*", r"runtime \1*", reason)[:120]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--esb", default=os.path.join(os.path.dirname(__file__), "..", "target", "debug", "esb"))
    ap.add_argument("--json")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--reference", action="store_true", help="compare with the reference SAM translator")
    args = ap.parse_args()
    esb = os.path.abspath(args.esb)
    found = list(templates(args.dir))
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda t: one(esb, *t), found))
    declared = sum(r["declared"] for r in results)
    # A nested template's functions (`App.Fn`) are planned too, but not declared in the text
    # counted above: they are reported apart, so the percentage is of the declared ones.
    planned = collections.Counter(family(rt) for r in results for fid, rt in r["planned"].items() if "." not in fid)
    nested = sum(1 for r in results for fid in r["planned"] if "." in fid)
    left = collections.Counter(reason_key(why) for r in results for why in r["left_out"].values())
    rejected = [r for r in results if not r["accepted"]]
    errors = collections.Counter((r["error"] or "")[:140] for r in rejected)
    lost_in_rejected = sum(r["declared"] for r in rejected)
    total_planned = sum(planned.values())
    print(f"templates: {len(results)} SAM templates, {len(results) - len(rejected)} accepted, {len(rejected)} rejected")
    stand_ins = sum(1 for r in results if r["accepted"] and r.get("missing_parameters"))
    print(f"  of the accepted, {len(results) - len(rejected) - stand_ins} load as they are and {stand_ins} with stand-ins "
          f"for parameters that have no Default (a run needs their values: --parameter or generator.yml)")
    print(f"functions: {declared} declared, {total_planned} planned to run ({100.0 * total_planned / max(declared, 1):.1f} %)")
    print(f"routes served: {sum(r.get('routes', 0) for r in results)}")
    print("planned by family: " + ", ".join(f"{k} {v}" for k, v in planned.most_common()))
    print(f"and {nested} functions of nested templates (not counted above)")
    sdk = sum(1 for r in results for w in r.get("warnings", []) if " imports @aws-sdk/" in w or " imports aws-sdk" in w)
    no_bootstrap = sum(1 for r in results for w in r.get("warnings", []) if "no `bootstrap` executable" in w)
    print(f"planned, but warned at build: {sdk} import an AWS SDK they do not ship; {no_bootstrap} provided functions have no bootstrap yet")
    print(f"left out with a reason: {sum(left.values())}")
    for why, n in left.most_common(15):
        print(f"  {n:4d}  {why}")
    print(f"in rejected templates: {lost_in_rejected} functions; the first errors:")
    for why, n in errors.most_common(15):
        print(f"  {n:4d}  {why}")
    if args.reference:
        ref = reference_verdicts([r["path"] for r in results])
        ref_ok = sum(1 for ok, _ in ref.values() if ok)
        print(f"reference translator ({REFERENCE}), same templates: {ref_ok} accepted, {len(ref) - ref_ok} rejected")
        only_ref = [r for r in results if ref.get(r["path"], (False,))[0] and not r["accepted"]]
        only_esb = [r for r in results if r["accepted"] and not ref.get(r["path"], (True,))[0]]
        print(f"accepted by the reference, rejected by esb: {len(only_ref)}")
        for r in only_ref:
            print(f"  {os.path.relpath(r['path'], args.dir)}: {(r['error'] or '')[:160]}")
        print(f"rejected by the reference, accepted by esb: {len(only_esb)}")
        for r in only_esb:
            print(f"  {os.path.relpath(r['path'], args.dir)}: {(ref[r['path']][1] or '')[:160]}")
        for r in results:
            r["reference"] = ref.get(r["path"], (None, None))[0]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "declared": declared, "planned": dict(planned), "left_out": dict(left)}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
