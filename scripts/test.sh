#!/usr/bin/env bash
# Every test esb has, as CI runs it: formatting, lints, unit, property, golden and CLI tests.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"

step "Formatting"
cargo fmt --all --check

step "Lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-targets --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The whole gateway suite again, with the gateway and the manager as two processes (issue 10).
step "Gateway suite, split roles"
ESB_TEST_ROLES=split cargo test -p esb --test e2e_gateway --locked --no-fail-fast 2>&1 | tee -a "$log"
split=${PIPESTATUS[0]}
[ "$status" -ne 0 ] || status=$split
set -e
# One closing line with the totals over every test binary (cargo prints one line per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\n%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
