#!/usr/bin/env bash
# Benchmark of esb's images and one-shot invocations (issue 4), on this machine, in one run:
# - base images: cold (empty cache: RIE wheel download, debootstrap, pip), warm (rootfs tarball
#   cached, images absent: what a fresh engine with a cache sees), cached (images present);
# - `esb invoke` cold (new container each time) for the provided and Python runtimes, against the
#   container-lifecycle floor measured in the same run: `docker run -d` + `docker rm -f` of the same
#   image (no invocation);
# - image sizes.
# It removes and rebuilds esb's base images: do not run it beside the e2e tests.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh" >/dev/null
cargo build --release -q -p esb --manifest-path "$ROOT/Cargo.toml"
ESB="$ROOT/target/release/esb"
RUNS="${RUNS:-5}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$ROOT/tests/fixtures/faults/." "$work/"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -q -p esb-fixture-echo --target x86_64-unknown-linux-gnu \
  --target-dir "$ROOT/target/fixtures" --manifest-path "$ROOT/Cargo.toml"
cp "$ROOT/target/fixtures/x86_64-unknown-linux-gnu/release/bootstrap" "$work/functions/echo/bootstrap"
cd "$work"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
clean_images() {
  docker rmi -f esb/base-provided:latest esb/base-python:3.11 >/dev/null 2>&1 || true
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(esb/rootfs|esb-faults/)' | xargs -r docker rmi -f >/dev/null 2>&1 || true
}

clean_images
export ESB_CACHE_DIR="$work/cache"
t0=$(now); "$ESB" build Echo >/dev/null 2>&1; t1=$(now); "$ESB" build Env >/dev/null 2>&1; t2=$(now)
provided_cold=$(secs "$t0" "$t1"); python_cold=$(secs "$t1" "$t2")
clean_images
t0=$(now); "$ESB" build Echo >/dev/null 2>&1; t1=$(now); "$ESB" build Env >/dev/null 2>&1; t2=$(now)
provided_warm=$(secs "$t0" "$t1"); python_warm=$(secs "$t1" "$t2")
t0=$(now); "$ESB" build Echo Env >/dev/null 2>&1; t1=$(now)
cached=$(secs "$t0" "$t1")

# Median of RUNS wall times (ms) of a command.
median_ms() {
  local samples=()
  for _ in $(seq "$RUNS"); do
    local a b; a=$(now); "$@" >/dev/null 2>&1; b=$(now)
    samples+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%d", (b - a) * 1000 }')")
  done
  printf '%s\n' "${samples[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
floor() { docker rm -f "$(docker run -d "$1")"; }
echo_floor=$(median_ms floor esb-faults/echo:latest)
echo_invoke=$(median_ms "$ESB" invoke Echo --no-build)
env_floor=$(median_ms floor esb-faults/env:latest)
env_invoke=$(median_ms "$ESB" invoke Env --no-build)
size() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.1f", $1 / 1000000 }'; }

printf '\nesb images benchmark (%s runs per invoke median)\n' "$RUNS"
printf '%-44s %10s\n' "base image builds" "seconds"
printf '%-44s %10s\n' "provided base + Echo, cold (RIE download)" "$provided_cold"
printf '%-44s %10s\n' "python base + Env, cold (debootstrap, pip)" "$python_cold"
printf '%-44s %10s\n' "provided base + Echo, warm (cache kept)" "$provided_warm"
printf '%-44s %10s\n' "python base + Env, warm (rootfs cached)" "$python_warm"
printf '%-44s %10s\n' "both again, all cached" "$cached"
printf '\n%-44s %8s %8s %8s\n' "esb invoke, cold container" "floor ms" "esb ms" "x floor"
awk -v f="$echo_floor" -v e="$echo_invoke" 'BEGIN { printf "%-44s %8d %8d %8.2f\n", "provided.al2023 (Echo)", f, e, e / f }'
awk -v f="$env_floor" -v e="$env_invoke" 'BEGIN { printf "%-44s %8d %8d %8.2f\n", "python3.11 (Env)", f, e, e / f }'
printf '\n%-44s %10s\n' "image sizes" "MB"
for i in esb/base-provided:latest esb-faults/echo:latest esb/base-python:3.11 esb-faults/env:latest; do printf '%-44s %10s\n' "$i" "$(size "$i")"; done
printf '{"bench":"images","provided_cold_s":%s,"python_cold_s":%s,"provided_warm_s":%s,"python_warm_s":%s,"cached_s":%s,"echo_floor_ms":%s,"echo_invoke_ms":%s,"env_floor_ms":%s,"env_invoke_ms":%s}\n' \
  "$provided_cold" "$python_cold" "$provided_warm" "$python_warm" "$cached" "$echo_floor" "$echo_invoke" "$env_floor" "$env_invoke"
