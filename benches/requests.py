"""Benchmark: how many requests sls-rs sends AWS for N functions (prebuilt fake
artifacts), counted per operation by the realism layer (tests/support/realism.py,
no behaviour switched on) in front of moto: first deploy, no-op redeploy and
remove. Requests, not seconds: on AWS most of them go to APIs limited to a few
to 100 a second, so their number is what a deploy's time grows with.

Usage (moto running: localstack/emulator start; sls-rs built):
  .venv/bin/python benches/requests.py [--functions 10 50] [--bin PATH]
Prints a table per size: scenario, requests, requests per function, and the
operations by count.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import urllib.request

import fake_package

ROOT = pathlib.Path(__file__).resolve().parent.parent


def operations(endpoint):
    with urllib.request.urlopen(f"{endpoint}/__realism/stats") as r:
        return json.load(r)["operations"]


def since(endpoint, before):
    now = operations(endpoint)
    return {op: n - before.get(op, 0) for op, n in now.items() if n - before.get(op, 0) > 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--functions", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--bin", default=str(ROOT / "target/debug/sls-rs"))
    args = ap.parse_args()
    emulator = subprocess.run([str(ROOT / "localstack/emulator"), "endpoint"], check=True,
                              capture_output=True, text=True).stdout.strip()
    layer = subprocess.Popen([sys.executable, str(ROOT / "tests/support/realism.py"), emulator],
                             stdout=subprocess.PIPE, text=True)
    endpoint = f"http://127.0.0.1:{layer.stdout.readline().strip()}"
    work = pathlib.Path(tempfile.mkdtemp(prefix="sls-rs-requests-"))
    try:
        for n in args.functions:
            name = f"req{n}-{os.getpid() % 10000}"
            d = work / name
            d.mkdir()
            (d / "serverless.yaml").write_text("\n".join(
                [f"service: {name}", "provider: { name: aws, stage: bench }",
                 f"stages: {{ bench: {{ endpoint: '{endpoint}' }} }}", "functions:"]
                + [f"  f{i}: {{ handler: f{i} }}" for i in range(1, n + 1)]) + "\n")
            fake_package.write(d, name, {f"f{i}": f"\x7fELF {name} f{i}" for i in range(1, n + 1)})
            print(f"\n{n} functions (one role and log group each), through the layer on moto; binary {args.bin}\n")
            print("| scenario | requests | per function | operations |")
            print("|---|---|---|---|")
            runs = [("first deploy", ["deploy", "--package", str(d / ".sls-rs")]),
                    ("no-op redeploy", ["deploy", "--package", str(d / ".sls-rs")]),
                    ("remove", ["remove"])]
            for scenario, cmd in runs:
                before = operations(endpoint)
                done = subprocess.run([args.bin, *cmd, "-c", str(d)], capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"{scenario} failed:\n{done.stderr}")
                ops = since(endpoint, before)
                total = sum(ops.values())
                top = ", ".join(f"{op} {c}" for op, c in sorted(ops.items(), key=lambda x: (-x[1], x[0])))
                print(f"| {scenario} | {total} | {total / n:.1f} | {top} |")
    finally:
        layer.kill()


if __name__ == "__main__":
    main()
