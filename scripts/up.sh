#!/usr/bin/env bash
# The main job: build esb, then bring the example project (tests/fixtures) up: generate its
# configuration, build every image it needs from nothing (RIE, base images, one image per function),
# start the gateway daemon (HTTPS, in a container), and send a request through it to a function.
# Re-running it restarts the daemon with the freshly built esb. ESB_LISTEN picks the address.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh"
LISTEN="${ESB_LISTEN:-127.0.0.1:8443}"
PORT="${LISTEN##*:}"

step "Building esb (release)"
cargo build --release -p esb --manifest-path "$ROOT/Cargo.toml"
ESB="$ROOT/target/release/esb"
cd "$ROOT/tests/fixtures"

step "esb up -d: images, then the gateway daemon on https://$LISTEN"
"$ESB" down >/dev/null 2>&1 || true
"$ESB" up -d --listen "$LISTEN"

step "GET /hello through the gateway (TLS checked against esb's own certificate)"
curl -sS --fail --cacert .esb/secrets/tls.crt "https://localhost:$PORT/hello?name=esb"
echo

step "esb status"
"$ESB" status

echo
echo "Up. Log in: curl --cacert tests/fixtures/.esb/secrets/tls.crt -H \"x-api-key: \$(cat tests/fixtures/.esb/secrets/api-key)\" \\"
echo "  -d '{\"AuthParameters\":{\"USERNAME\":\"admin\",\"PASSWORD\":\"'\$(cat tests/fixtures/.esb/secrets/admin-password)'\"}}' https://localhost:$PORT/user/auth/v1"
echo "Stop: (cd tests/fixtures && $ESB down)"
