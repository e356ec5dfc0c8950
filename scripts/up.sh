#!/usr/bin/env bash
# The main job: build esb and run it on the example project (tests/fixtures).
# Today esb turns the template into its configuration; later versions bring the stack up from here.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh"

step "Building esb (release)"
cargo build --release -p esb --manifest-path "$ROOT/Cargo.toml"
ESB="$ROOT/target/release/esb"

step "esb build --dry-run: what the example project contains"
"$ESB" --template "$ROOT/tests/fixtures/template.yaml" build --dry-run

step "esb build: generating its configuration"
"$ESB" --template "$ROOT/tests/fixtures/template.yaml" build

echo
echo "Generated files are in tests/fixtures/.esb/. The binary is $ESB."
