#!/usr/bin/env bash
# Installs what esb's build and tests need, idempotently: re-running it changes nothing.
# Today that is a Rust toolchain (checked, not installed: the machine's rustup provides it).
# Later stages add their own steps here (apt packages, the RIE binary, base images), each skipped
# when its result is already present.
source "$(dirname "$0")/lib.sh"

command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup) and re-run"
rustc_version=$(rustc --version | awk '{print $2}')
case "$rustc_version" in
  1.[0-7][0-9].*) die "Rust $rustc_version is too old: esb needs 1.80 or newer" ;;
esac
echo "setup: Rust $rustc_version ok"
