#!/usr/bin/env bash
# Benchmark: `sls-rs invoke --local` of examples/hello: the cold start (process
# start to its first request for work, plus the first invocation) and the warm
# round trip (event handed out → response received), over RUNS warm invocations.
# Targets on this machine: warm under 2 ms, cold under 50 ms. Prints a table.
#   benches/invoke-local.sh [RUNS]     (default 200)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
RUNS="${1:-200}"
if [ -z "${SLS_RS_BIN:-}" ]; then
  if [ -x "$ROOT/target/release/sls-rs" ]; then SLS_RS_BIN="$ROOT/target/release/sls-rs"
  else (cd "$ROOT" && cargo build -q -p sls-rs); SLS_RS_BIN="$ROOT/target/debug/sls-rs"; fi
fi
out=$("$SLS_RS_BIN" invoke --local --json -c "$ROOT/examples/hello" -f hello --data '{"name":"bench"}' --count $((RUNS + 1)) 2>/dev/null)
python3 - "$RUNS" <<PY
import json, statistics, sys
docs = [json.loads(l) for l in """$out""".splitlines() if l.strip()]
cold = docs[0]["initMs"] + docs[0]["durationMs"]
warm = sorted(d["durationMs"] for d in docs[1:])
p = lambda q: warm[min(len(warm) - 1, int(q * len(warm)))]
print(f"{'cold start (init + first)':<28}{'warm median':<14}{'warm p90':<12}{'warm p99':<12}{'peak memory':<14}runs")
print(f"{cold:<28.2f}{statistics.median(warm):<14.3f}{p(0.9):<12.3f}{p(0.99):<12.3f}{docs[-1]['peakMemoryKb']/1024:<14.1f}{len(warm)}")
print("milliseconds; targets: warm < 2 ms, cold < 50 ms")
PY
echo "binary: $SLS_RS_BIN"
