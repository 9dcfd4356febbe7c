#!/usr/bin/env bash
# Benchmark: how long `sls-rs package` takes when nothing changed, for services of
# 1 and 10 functions (target: under 1 s for 10). Prints a table; the cold build
# that prepares each service is shown too but is not the target.
#   benches/package.sh [RUNS]        (default 10 runs per size)
# SLS_RS_BIN picks the binary to measure (default: target/release/sls-rs if built, else target/debug/sls-rs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
RUNS="${1:-10}"
WORK="$ROOT/target/bench-package"
export CARGO_TARGET_DIR="$WORK/target"   # shared by both services: dependencies compile once

"$ROOT/scripts/setup" >/dev/null
if [ -z "${SLS_RS_BIN:-}" ]; then
  [ -x "$ROOT/target/release/sls-rs" ] && SLS_RS_BIN="$ROOT/target/release/sls-rs" || {
    (cd "$ROOT" && cargo build -q -p sls-rs)
    SLS_RS_BIN="$ROOT/target/debug/sls-rs"
  }
fi

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# A service of N functions, each its own binary of one crate.
make_service() {
  local n=$1 dir="$WORK/service-$1"
  rm -rf "$dir/src" && mkdir -p "$dir/src/bin"
  sed -e "s/^name = \"hello\"/name = \"bench$n\"/" -e "s|path = \"../../runtime\"|path = \"$ROOT/runtime\"|" \
      -e '/^\[\[bin\]\]/,/^path/d' "$ROOT/examples/hello/Cargo.toml" > "$dir/Cargo.toml"
  cp "$ROOT/examples/hello/Cargo.lock" "$dir/Cargo.lock"
  { echo "service: bench$n"; echo "provider: { name: aws }"; echo "functions:"; } > "$dir/serverless.yaml"
  for i in $(seq 1 "$n"); do
    cp "$ROOT/examples/hello/src/main.rs" "$dir/src/bin/f$i.rs"
    echo "  f$i: { handler: f$i }" >> "$dir/serverless.yaml"
  done
  echo "$dir"
}

printf '%-10s %-11s %-18s %-9s %-9s %s\n' functions "cold build" "no-change median" min max runs
for n in 1 10; do
  dir=$(make_service "$n")
  start=$(now_ms); "$SLS_RS_BIN" package -c "$dir" >/dev/null 2>&1; cold=$(( $(now_ms) - start ))
  times=()
  for _ in $(seq 1 "$RUNS"); do
    start=$(now_ms); "$SLS_RS_BIN" package -c "$dir" >/dev/null 2>&1; times+=($(( $(now_ms) - start )))
  done
  sorted=($(printf '%s\n' "${times[@]}" | sort -n))
  median=${sorted[$(( RUNS / 2 ))]}
  printf '%-10s %-11s %-18s %-9s %-9s %s\n' "$n" "$(awk "BEGIN{printf \"%.1f s\", $cold/1000}")" \
    "$(awk "BEGIN{printf \"%.2f s\", $median/1000}")" "$(awk "BEGIN{printf \"%.2f s\", ${sorted[0]}/1000}")" \
    "$(awk "BEGIN{printf \"%.2f s\", ${sorted[-1]}/1000}")" "$RUNS"
done
echo "binary: $SLS_RS_BIN; target: no-change package of 10 functions under 1 s"
