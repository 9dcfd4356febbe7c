#!/usr/bin/env bash
# Benchmark: the example services (resources and triggers of every kind) against
# the local emulator. Each is packaged first (not timed), then: first deploy, a
# no-op redeploy (reads only), and `remove --force`. Prints a table with the AWS
# calls each step made. Median of RUNS (default 3).
#   benches/examples.sh
# Target (2 cores, moto): a no-op redeploy of any example < 0.3 s, 0 writes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
RUNS="${RUNS:-3}"
"$ROOT/scripts/setup" >/dev/null
"$ROOT/localstack/emulator" start >/dev/null
export SLS_RS_ENDPOINT="$("$ROOT/localstack/emulator" endpoint)"
export CARGO_TARGET_DIR="$ROOT/target/examples"
export PATH="$ROOT/.venv/bin:$PATH"
(cd "$ROOT" && cargo build -q -p sls-rs)
SLS="$ROOT/target/debug/sls-rs"
PY="$ROOT/.venv/bin/python"

# Prints "seconds reads writes" for one sls-rs run with --json.
timed() {
  local start end out
  start=$(date +%s.%N)
  out=$("$SLS" "$@" --json 2>/dev/null)
  end=$(date +%s.%N)
  "$PY" -c 'import json,sys; d=json.loads(sys.argv[3]); c=d["apiCalls"]; print("%.2f %d %d" % (float(sys.argv[2]) - float(sys.argv[1]), c["reads"], c["writes"]))' "$start" "$end" "$out"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '| example | resources | first deploy | no-op redeploy | remove |\n|---|---|---|---|---|\n'
for dir in "$ROOT"/examples/*/; do
  [ -f "$dir/serverless.yaml" ] || continue
  name=$(basename "$dir")
  "$SLS" package -c "$dir" >/dev/null 2>&1
  firsts=() noops=() removes=()
  for _ in $(seq 1 "$RUNS"); do
    firsts+=("$(timed deploy -c "$dir" --package "$dir/.sls-rs")")
    noops+=("$(timed deploy -c "$dir" --package "$dir/.sls-rs")")
    removes+=("$(timed remove --force -c "$dir")")
  done
  cell() { local t; t=$(printf '%s\n' "$@" | cut -d' ' -f1 | median); local any="$1"; echo "${t} s ($(echo "$any" | cut -d' ' -f2) reads, $(echo "$any" | cut -d' ' -f3) writes)"; }
  count=$("$SLS" deploy -c "$dir" --package "$dir/.sls-rs" --dry-run --json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["plan"]["changes"]))')
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$count" "$(cell "${firsts[@]}")" "$(cell "${noops[@]}")" "$(cell "${removes[@]}")"
done
