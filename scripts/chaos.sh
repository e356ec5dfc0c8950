#!/usr/bin/env bash
# The fault-injection suite (issue 9) as an operator runs it: every fault in cli/tests/e2e_chaos.rs
# against the real engine on this machine, one at a time, then a table of what each did (statuses
# the clients got, lost writes, leaked containers, recovery time). The same suite runs in CI as
# part of scripts/test.sh. Loopback only; it starts and removes its own projects.
#   ONLY=<name part>   run only the faults whose test name contains it
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh" >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --manifest-path "$ROOT/Cargo.toml" -p esb --test e2e_chaos -- --test-threads 1 --nocapture ${ONLY:+"$ONLY"} 2>&1 | tee "$log" | grep --line-buffered -E '^test |chaos-result|^hostile '
status=${PIPESTATUS[0]}
set -e
printf '\n%-72s %-28s %5s %6s %6s %9s\n' "fault" "client saw (status:count)" "bad" "lost" "leaked" "recovery"
grep -o 'chaos-result {.*}' "$log" | sed 's/^chaos-result //' | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    seen = " ".join(f"{k}:{v}" for k, v in r["statuses"].items())
    rec = "never" if r["recovery_s"] is None else "%.2f s" % r["recovery_s"]
    writes = "%d/%d" % (r["writes_lost"], r["writes_acknowledged"])
    print("%-72s %-28s %5d %6s %6d %9s" % (r["fault"][:72], seen, r["malformed"], writes, r["leaked_containers"], rec))
'
exit "$status"
