#!/usr/bin/env bash
# Installs what esb's build and tests need, idempotently: re-running it changes nothing.
# - a Rust toolchain (checked; the machine's rustup provides it)
# - debootstrap and python3 with pip (Debian packages) for building esb's Python and Node.js bases
# - esbuild (Debian's) for functions with `BuildMethod: esbuild` (TypeScript)
# - make for functions with `BuildMethod: makefile`
# - curl, which the function URL test uses to reach a URL's own host name
# - a JDK (javac, jar), to compile esb's Java runtime client (with Jackson's source from the Debian
#   mirror) and the Java test functions
# - a reachable Docker engine (checked)
# The RIE binary and the base images are fetched and built by esb itself, cached under
# ~/.cache/esb (ESB_CACHE_DIR) and in the Docker engine.
source "$(dirname "$0")/lib.sh"

command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup) and re-run"
rustc_version=$(rustc --version | awk '{print $2}')
case "$rustc_version" in
  1.[0-7][0-9].*) die "Rust $rustc_version is too old: esb needs 1.80 or newer" ;;
esac

missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v python3 >/dev/null || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
command -v tar >/dev/null || missing+=(tar)
command -v esbuild >/dev/null || missing+=(esbuild)
command -v make >/dev/null || missing+=(make)
command -v curl >/dev/null || missing+=(curl)
command -v javac >/dev/null && command -v jar >/dev/null || missing+=(openjdk-17-jdk-headless)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
  || die "the Docker engine is not reachable: start it (and make sure this user may use its socket)"
echo "setup: Rust $rustc_version, debootstrap, python3/pip, esbuild, make, JDK, Docker $(docker version --format '{{.Server.Version}}') ok"
