"""Benchmark: a deploy of N functions (default 100; prebuilt fake artifacts, one
DynamoDB table each function reads and writes) through the realism layer with
AWS's control-plane rate limits on (tests/support/realism.py --throttle), paced
by sls-rs (SLS_RS_PACE=aws: a token bucket per API family at AWS's rates)
against unpaced (leaning on the SDK's retries), in one run.

The rate floor is the least time AWS's limits allow for the calls the deploy
made: for each rate family, (calls accepted - burst) / rate; the largest wins.
A deploy close to its floor wastes nothing on throttles and back-off. The sum
over families is the floor when one family's calls cannot start before the
other's end (roles before functions).

Usage (moto running: localstack/emulator start; sls-rs built):
  .venv/bin/python benches/throttled.py [--functions 100] [--bin PATH] [--latency-ms 0]
Prints a table: mode, scenario, seconds, floor, ratio, requests, throttled answers.
"""
import argparse
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.request

import fake_package
from common import emulator_endpoint, sls_rs_binary

ROOT = pathlib.Path(__file__).resolve().parent.parent


def realism_rates():
    spec = importlib.util.spec_from_file_location("realism", ROOT / "tests/support/realism.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RATES, module.rate_key


def make_service(work, name, n, endpoint):
    d = work / name
    (d / ".sls-rs").mkdir(parents=True, exist_ok=True)
    lines = [f"service: {name}",
             "provider: { name: aws, stage: bench, memorySize: 128, timeout: 3 }",
             f"stages: {{ bench: {{ endpoint: '{endpoint}' }} }}",
             "functions:"]
    lines += [f"  f{i}: {{ handler: f{i}, permissions: [{{ table: data, access: readwrite }}] }}"
              for i in range(1, n + 1)]
    lines += ["resources:", "  tables:",
              "    data: { partitionKey: { name: id, type: S }, deletionPolicy: delete }"]
    (d / "serverless.yaml").write_text("\n".join(lines) + "\n")
    fake_package.write(d, name, {f"f{i}": f"\x7fELF {name} f{i}" for i in range(1, n + 1)})
    return d


def stats(endpoint):
    with urllib.request.urlopen(f"{endpoint}/__realism/stats") as r:
        return json.load(r)


def floor(before, after, rates, rate_key):
    """Seconds AWS's limits allow at least, from the calls made between two stats."""
    calls = {}
    for op, outcomes in after["by_operation"].items():
        # Calls AWS accepted: a throttled attempt costs the client time, not AWS's quota.
        accepted = lambda o: sum(v for k, v in o.items() if k != "throttled")
        n = accepted(outcomes) - accepted(before["by_operation"].get(op, {}))
        key = rate_key(op, op.split(".")[0], rates)
        if n > 0 and key in rates:
            calls[key] = calls.get(key, 0) + n
    best, family, total = 0.0, "-", 0.0
    for key, n in calls.items():
        rate, burst = rates[key]
        t = max(0, n - burst) / rate
        total += t
        if t > best:
            best, family = t, f"{key}: {n} calls at {rate:g}/s"
    return best, family, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--functions", type=int, default=100)
    ap.add_argument("--bin")
    ap.add_argument("--latency-ms", type=float, default=0)
    args = ap.parse_args()
    binary = sls_rs_binary(args.bin)
    emulator = emulator_endpoint()
    rates, rate_key = realism_rates()
    flags = ["--throttle", "--seed", "1"]
    if args.latency_ms:
        flags += ["--latency-ms", str(args.latency_ms)]
    layer = subprocess.Popen([sys.executable, str(ROOT / "tests/support/realism.py"), emulator, *flags],
                             stdout=subprocess.PIPE, text=True)
    endpoint = f"http://127.0.0.1:{layer.stdout.readline().strip()}"
    work = ROOT / "target/bench-throttled"
    rows = []
    try:
        for mode, pace in [("paced (SLS_RS_PACE=aws)", "aws"), ("unpaced (SDK retries)", "off")]:
            name = f"thr{args.functions}-{pace}-{os.getpid():x}"
            d = make_service(work, name, args.functions, endpoint)
            env = dict(os.environ, SLS_RS_PACE=pace)
            for var in ["AWS_ENDPOINT_URL", "AWS_PROFILE", "SLS_RS_ENDPOINT"]:
                env.pop(var, None)
            for scenario, cmd in [
                ("first deploy", ["deploy", "-c", str(d), "--package", str(d / ".sls-rs"), "--json"]),
                ("no-op redeploy", ["deploy", "-c", str(d), "--package", str(d / ".sls-rs"), "--json"]),
                ("remove", ["remove", "--force", "-c", str(d), "--json"]),
            ]:
                before = stats(endpoint)
                start = time.monotonic()
                out = subprocess.run([binary, *cmd], capture_output=True, text=True, env=env)
                took = time.monotonic() - start
                after = stats(endpoint)
                least, family, serial = floor(before, after, rates, rate_key)
                by_service = {k: v - before["throttled"].get(k, 0) for k, v in after["throttled"].items()}
                by_service = {k: v for k, v in by_service.items() if v}
                throttled = sum(by_service.values())
                if throttled:
                    throttled = f"{throttled} ({', '.join(f'{k} {v}' for k, v in sorted(by_service.items()))})"
                requests = after["requests"] - before["requests"]
                ratio = f"{took / least:.2f}x" if least > 0 else "-"
                outcome = f"{took:.1f} s"
                if out.returncode != 0:
                    lines = out.stderr.splitlines()
                    at = next((i for i, l in enumerate(lines) if l.startswith("error:")), len(lines))
                    error = " ".join(lines[at:at + 2]).replace("error: ", "")
                    outcome = f"FAILED after {took:.1f} s: {error.strip()[:90]}"
                rows.append((mode, scenario, outcome, f"{least:.1f} s ({family})", ratio,
                             f"{serial:.1f} s", requests, throttled))
                print(f"  {mode} {scenario}: {outcome}", file=sys.stderr, flush=True)
                if out.returncode != 0:
                    break  # the next scenarios need this one
    finally:
        layer.kill()
    print(f"\n{args.functions} functions + 1 table through the realism layer's throttling "
          f"(Lambda 15/s, GetFunction 100/s, IAM and API Gateway 10/s, log group writes 5/s); binary {binary}\n")
    print("| mode | scenario | time | rate floor (binding family) | time / floor "
          "| floor if families never overlap | requests | throttled |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


if __name__ == "__main__":
    main()
