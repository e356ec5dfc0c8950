#!/usr/bin/env bash
# The long-running check of the split edge daemon (issue 10): `esb serve --role manager` and
# `--role gateway` under a steady mixed load on loopback for MINUTES (default 10), reporting both
# processes' memory and open file descriptors at the start and the end, and the containers left
# after stop (must be 0). JSON in target/bench/soak.json. Do not run it beside the e2e tests.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh" >/dev/null
step "Building esb and the harness (release)"
cargo build --release -q -p esb -p esb-bench --manifest-path "$ROOT/Cargo.toml"
mkdir -p "$ROOT/target/bench"
step "Soaking for ${MINUTES:-10} minutes"
ESB_BIN="$ROOT/target/release/esb" "$ROOT/target/release/esb-bench" soak --minutes "${MINUTES:-10}" --json "$ROOT/target/bench/soak.json"
