#!/usr/bin/env bash
# The main job: build esb, then run it on the example project (tests/fixtures): generate its
# configuration, build every image it needs from nothing (RIE, base images, one image per function),
# and run a function in a real RIE container.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh"

step "Building esb (release)"
cargo build --release -p esb --manifest-path "$ROOT/Cargo.toml"
ESB="$ROOT/target/release/esb"
cd "$ROOT/tests/fixtures"

step "esb build: configuration and images for the example project"
"$ESB" build

step "esb invoke HelloFunction: one request in a fresh container"
"$ESB" invoke HelloFunction --event events/hello.json

echo
echo "Done. Try: $ESB invoke WhoamiFunction, $ESB images list, $ESB build --dry-run"
