#!/usr/bin/env bash
# esb's benchmark harness (issues 8 and 9), on this machine, in one run: esb against its baselines
# and against AWS SAM CLI, every number with the ratio to a baseline measured in the same run.
# Writes the table to stdout and JSON to target/bench/results.json (or $BENCH_JSON).
#   RUNS=5            samples per measurement
#   ONLY=reload       only these scenarios (comma-separated)
#   SAM=off           do not install or run SAM CLI
# SAM CLI (aws-sam-cli from PyPI) is installed into a venv in esb's cache, once. It gets its base
# images from esb's own (no registry); an official image already loaded is used as it is.
# Do not run it beside the e2e tests: both load the Docker engine and the numbers would lie.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh" >/dev/null
RUNS="${RUNS:-5}"
CACHE="${ESB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/esb}"
args=(--runs "$RUNS" --json "${BENCH_JSON:-$ROOT/target/bench/results.json}")
[ -n "${ONLY:-}" ] && args+=(--only "$ONLY")
if [ "${SAM:-on}" = off ]; then
  args+=(--no-sam)
elif [ -z "${SAM_CLI:-}" ]; then
  venv="$CACHE/sam-venv"
  if [ ! -x "$venv/bin/sam" ]; then
    step "Installing AWS SAM CLI into $venv (once)"
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check aws-sam-cli \
      || echo "bench: could not install aws-sam-cli; the comparison will say so"
  fi
  [ -x "$venv/bin/sam" ] && export SAM_CLI="$venv/bin/sam"
fi
step "Building esb and the harness (release)"
cargo build --release -q -p esb -p esb-bench --manifest-path "$ROOT/Cargo.toml"
mkdir -p "$ROOT/target/bench"
step "Running"
ESB_BIN="$ROOT/target/release/esb" "$ROOT/target/release/esb-bench" "${args[@]}"
