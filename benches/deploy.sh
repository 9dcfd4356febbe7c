#!/usr/bin/env bash
# Benchmark: deploy against the local emulator with prebuilt artifacts (nothing
# compiles): first deploy, no-op redeploy, one-function code change and remove,
# for N = 1, 10 and 100 functions. Then the 100-function first deploy, parallel
# and one step at a time (--concurrency 1), through a proxy adding AWS-like
# latency (LATENCY_MS, default 25) to each request: moto answers locally in a few
# milliseconds from one Python process on 2 cores, so without latency both runs
# measure moto's CPU, not what parallel calls buy against AWS. Prints tables.
#   benches/deploy.sh [SIZES...]          (default: 1 10 100)
# Targets (2 cores): no-op redeploy of 10 functions < 0.3 s; one-function change
# < 0.5 s; 100-function first deploy >= 5x faster than one step at a time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
SIZES=("${@:-1 10 100}")
[ $# -eq 0 ] && SIZES=(1 10 100)
WORK="$ROOT/target/bench-deploy"
"$ROOT/scripts/setup" >/dev/null
"$ROOT/localstack/emulator" start >/dev/null
ENDPOINT="$("$ROOT/localstack/emulator" endpoint)"
if [ -z "${SLS_RS_BIN:-}" ]; then
  if [ -x "$ROOT/target/release/sls-rs" ]; then SLS_RS_BIN="$ROOT/target/release/sls-rs"
  else (cd "$ROOT" && cargo build -q -p sls-rs); SLS_RS_BIN="$ROOT/target/debug/sls-rs"; fi
fi
PY="$ROOT/.venv/bin/python"

# A service of N functions with a package of deterministic fake zips (the emulator never runs code).
make_service() {
  local n=$1 name=$2 dir="$WORK/$2"
  rm -rf "$dir" && mkdir -p "$dir/.sls-rs"
  {
    echo "service: $name"; echo "provider: { name: aws, stage: bench, memorySize: 128, timeout: 3 }"
    echo "stages: { bench: { endpoint: '$ENDPOINT' } }"; echo "functions:"
    for i in $(seq 1 "$n"); do echo "  f$i: { handler: f$i }"; done
  } > "$dir/serverless.yaml"
  "$PY" - "$dir" "$n" "$name" v1 <<'PY'
import hashlib, json, sys, zipfile, io, pathlib
d, n, name, tag = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
funcs = {}
for i in range(1, n + 1):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap", (1980, 1, 1, 0, 0, 0)); info.external_attr = 0o100755 << 16
        z.writestr(info, f"\x7fELF {name} f{i} {tag}")
    data = buf.getvalue(); (d / f".sls-rs/f{i}.zip").write_bytes(data)
    funcs[f"f{i}"] = {"handler": f"f{i}", "architecture": "x86_64", "path": f".sls-rs/f{i}.zip",
                      "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "binarySha256": "", "binarySize": 0}
(d / ".sls-rs/package.json").write_text(json.dumps({"service": name, "functions": funcs}))
PY
  echo "$dir"
}

# Rewrites f1's artifact only.
change_one() {
  local dir=$1 name=$2
  "$PY" - "$dir" "$name" <<'PY'
import hashlib, json, sys, zipfile, io, pathlib, time
d, name = pathlib.Path(sys.argv[1]), sys.argv[2]
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("bootstrap", (1980, 1, 1, 0, 0, 0)); info.external_attr = 0o100755 << 16
    z.writestr(info, f"\x7fELF {name} f1 {time.time_ns()}")
data = buf.getvalue(); (d / ".sls-rs/f1.zip").write_bytes(data)
pkg = json.loads((d / ".sls-rs/package.json").read_text())
pkg["functions"]["f1"].update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
(d / ".sls-rs/package.json").write_text(json.dumps(pkg))
PY
}

seconds() { awk "BEGIN{printf \"%.2f s\", $1/1000}"; }
timed() { local start; start=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@" >&2 || true; exit 1; }; echo $(( ($(date +%s%N) - start) / 1000000 )); }

printf '%-10s %-13s %-15s %-16s %s\n' functions "first deploy" "no-op redeploy" "one-fn change" remove
for n in "${SIZES[@]}"; do
  name="bench$n-$$"
  dir=$(make_service "$n" "$name")
  args=(-c "$dir" --package "$dir/.sls-rs")
  first=$(timed "$SLS_RS_BIN" deploy "${args[@]}")
  noop=$(timed "$SLS_RS_BIN" deploy "${args[@]}")
  change_one "$dir" "$name"
  one=$(timed "$SLS_RS_BIN" deploy "${args[@]}")
  remove=$(timed "$SLS_RS_BIN" remove -c "$dir")
  printf '%-10s %-13s %-15s %-16s %s\n' "$n" "$(seconds "$first")" "$(seconds "$noop")" "$(seconds "$one")" "$(seconds "$remove")"
done

# Parallel against one step at a time, with latency.
LATENCY_MS="${LATENCY_MS:-25}"
PROXY_PORT=5099
"$PY" "$ROOT/benches/latency_proxy.py" "$PROXY_PORT" 127.0.0.1 "${ENDPOINT##*:}" "$LATENCY_MS" &
proxy=$!
trap 'kill $proxy 2>/dev/null || true' EXIT
sleep 0.3
ENDPOINT_DIRECT=$ENDPOINT
ENDPOINT="http://127.0.0.1:$PROXY_PORT"
n=100
echo
echo "$n functions, first deploy, ${LATENCY_MS} ms added to each request:"
name="benchpar-$$"; dir=$(make_service "$n" "$name"); args=(-c "$dir" --package "$dir/.sls-rs")
parallel=$(timed "$SLS_RS_BIN" deploy "${args[@]}")
"$SLS_RS_BIN" remove -c "$dir" >/dev/null 2>&1
name="benchser-$$"; dir=$(make_service "$n" "$name"); args=(-c "$dir" --package "$dir/.sls-rs")
serial=$(timed "$SLS_RS_BIN" deploy "${args[@]}" --concurrency 1)
"$SLS_RS_BIN" remove -c "$dir" >/dev/null 2>&1
printf '%-22s %-18s %s\n' "parallel (16 at once)" "one at a time" speed-up
printf '%-22s %-18s %s\n' "$(seconds "$parallel")" "$(seconds "$serial")" "$(awk "BEGIN{printf \"%.1fx\", $serial/$parallel}")"
ENDPOINT=$ENDPOINT_DIRECT
echo "binary: $SLS_RS_BIN; endpoint: $ENDPOINT (moto)"
