"""Benchmark: `validate` and `plan` of a service of N functions (default 1,000),
each with its own role and log group, read/write on a table, an HTTP route and a
schedule, against an empty emulator (nothing deployed: the plan reads what it
would create and finds nothing). Time (median of 5) and peak RSS (the process's
own, from wait4). Targets: each under 0.5 s, peak RSS under 100 MB.

Usage (moto running: localstack/emulator start; sls-rs built, release preferred):
  .venv/bin/python benches/scale.py [--functions 1000] [--bin PATH]
"""
import argparse
import os
import pathlib
import statistics
import tempfile

import fake_package
from common import emulator_endpoint, run_measured, sls_rs_binary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--functions", type=int, default=1000)
    ap.add_argument("--bin")
    args = ap.parse_args()
    binary = sls_rs_binary(args.bin)
    emulator = emulator_endpoint()
    n = args.functions
    d = pathlib.Path(tempfile.mkdtemp(prefix="sls-rs-scale-"))
    name = f"scale{os.getpid() % 10000}"
    lines = [f"service: {name}", "provider: { name: aws, stage: bench, memorySize: 128, timeout: 3 }",
             f"stages: {{ bench: {{ endpoint: '{emulator}' }} }}", "functions:"]
    for i in range(1, n + 1):
        lines += [f"  f{i}:", f"    handler: f{i}",
                  "    environment: { TABLE: '${table:data}', LEVEL: info }",
                  "    permissions: [{ table: data, access: readwrite }]",
                  "    events:",
                  f"      - httpApi: 'GET /items/f{i}/{{id}}'"]
        if i % 10 == 0:
            lines.append("      - schedule: rate(1 hour)")
    lines += ["resources:", "  tables:",
              "    data: { partitionKey: { name: id, type: S }, deletionPolicy: delete }"]
    (d / "serverless.yaml").write_text("\n".join(lines) + "\n")
    fake_package.write(d, name, {f"f{i}": f"\x7fELF {name} f{i}" for i in range(1, n + 1)})
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "SLS_RS_PACE")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    cmds = [("validate", [binary, "validate", "-c", str(d)]),
            ("plan (empty emulator)", [binary, "plan", "-c", str(d), "--package", str(d / ".sls-rs")])]
    print(f"\n{n} functions ({(d / 'serverless.yaml').stat().st_size // 1024} KB manifest); "
          f"{os.cpu_count()} cores; binary {binary}\n")
    print("| command | median of 5 | min | peak RSS |")
    print("|---|---|---|---|")
    for label, cmd in cmds:
        runs = [run_measured(cmd, env) for _ in range(5)]
        times = [r[0] for r in runs]
        print(f"| {label} | {statistics.median(times):.3f} s | {min(times):.3f} s "
              f"| {max(r[1] for r in runs):.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
