"""Benchmark: sls-rs against Serverless Framework v3, side by side, on one moto in one run.

The same service for both tools: N functions with prebuilt artifacts (the emulator
never runs code), one DynamoDB table, read and write on it for every function.
Serverless Framework 3.40 deploys it through CloudFormation (moto's, inside the
emulator) with serverless-localstack pointing it at the emulator, its stack
polling cut to 0.1 s (SLS_AWS_MONITORING_FREQUENCY=100: its real work, not its
sleeps) and `deploymentMethod: direct` (moto's change sets are incomplete).

Both tools talk to moto through the realism layer (tests/support/realism.py, no
behaviour on), which counts their HTTP requests. Scenarios per N: first deploy,
no-op redeploy, one artifact changed, remove; each cycle runs --repeat times,
alternating the tools, and the table shows medians. After each step the
emulator is read back through boto3 (functions, their code hash, roles, table),
so a run that did not really deploy, change or remove fails the benchmark.
Peak RSS is the process's own (wait4), `--help` the median of 5.

Usage (moto running: localstack/emulator start; sls-rs built, release preferred):
  (cd benches/peer && npm ci)        # once: Serverless v3 + serverless-localstack, pinned
  .venv/bin/python benches/peer/run.py [--functions 1 10 50] [--repeat 3] [--bin PATH]
"""
import argparse
import base64
import hashlib
import io
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

import boto3

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
import fake_package  # noqa: E402
from common import emulator_endpoint, run_measured, sls_rs_binary  # noqa: E402

SCENARIOS = ["first deploy", "no-op redeploy", "one artifact changed", "remove"]
SLS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "SLS_AWS_MONITORING_FREQUENCY": "100",
    "SLS_TELEMETRY_DISABLED": "1",
    "SLS_NOTIFICATIONS_MODE": "off",
    "SLS_DEPRECATION_DISABLE": "*",
}


def zip_bytes(text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap", (1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        z.writestr(info, text)
    return buf.getvalue()


def code_sha(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def stats(endpoint):
    with urllib.request.urlopen(f"{endpoint}/__realism/stats") as r:
        return json.load(r)


class Cloud:
    """Reads the emulator straight (not through the layer) to check what a run did."""

    def __init__(self, emulator):
        kw = dict(endpoint_url=emulator, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
        self.aws = boto3.client("lambda", **kw)
        self.iam = boto3.client("iam", **kw)
        self.ddb = boto3.client("dynamodb", **kw)

    def functions(self, prefix):
        found = {}
        for page in self.aws.get_paginator("list_functions").paginate():
            for f in page["Functions"]:
                if f["FunctionName"].startswith(prefix):
                    found[f["FunctionName"]] = f
        return found

    def roles(self, prefix):
        return [r["RoleName"] for page in self.iam.get_paginator("list_roles").paginate()
                for r in page["Roles"] if r["RoleName"].startswith(prefix)]

    def tables(self, prefix):
        return [t for page in self.ddb.get_paginator("list_tables").paginate()
                for t in page["TableNames"] if t.startswith(prefix)]

    def check(self, tool, scenario, prefix, codes, want_roles):
        """The functions carry exactly `codes` (name -> CodeSha256), roles and table exist;
        after a remove nothing with the prefix is left."""
        fns, roles, tables = self.functions(prefix), self.roles(prefix), self.tables(prefix)
        if scenario == "remove":
            left = list(fns) + roles + tables
            if left:
                sys.exit(f"{tool}: remove left {left}")
            return
        got = {name: f["CodeSha256"] for name, f in fns.items()}
        if got != codes:
            wrong = sorted(n for n in set(got) | set(codes) if got.get(n) != codes.get(n))
            sys.exit(f"{tool} {scenario}: functions differ from the artifacts at {wrong[:5]}")
        if len(roles) != want_roles or len(tables) != 1:
            sys.exit(f"{tool} {scenario}: {len(roles)} roles (want {want_roles}), tables {tables}")


class SlsRs:
    label = "sls-rs"

    def __init__(self, binary, work, name, n, endpoint):
        self.bin, self.dir, self.name, self.n = binary, work / name, name, n
        self.dir.mkdir(parents=True)
        lines = [f"service: {name}", "provider: { name: aws, stage: bench, memorySize: 128, timeout: 3 }",
                 f"stages: {{ bench: {{ endpoint: '{endpoint}' }} }}", "functions:"]
        lines += [f"  f{i}: {{ handler: f{i}, permissions: [{{ table: data, access: readwrite }}] }}"
                  for i in range(1, n + 1)]
        lines += ["resources:", "  tables:",
                  "    data: { partitionKey: { name: id, type: S }, deletionPolicy: delete }"]
        (self.dir / "serverless.yaml").write_text("\n".join(lines) + "\n")
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "SLS_RS_ENDPOINT", "SLS_RS_PACE")}
        self.env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        self.prefix, self.roles = f"{name}-bench-", n

    def artifacts(self, version):
        texts = {f"f{i}": f"\x7fELF {self.name} f{i} v{version if i == 1 else 0}"
                 for i in range(1, self.n + 1)}
        fake_package.write(self.dir, self.name, texts)
        return {f"{self.prefix}{f}": code_sha(zip_bytes(t)) for f, t in texts.items()}

    def step(self, scenario):
        if scenario == "remove":
            cmd = ["remove", "--force"]
        else:
            cmd = ["deploy", "--package", str(self.dir / ".sls-rs")]
        return run_measured([self.bin, *cmd, "-c", str(self.dir)], self.env, self.dir)[:2]

    def help(self):
        return [self.bin, "--help"], self.env


class Serverless:
    label = "Serverless v3"

    def __init__(self, work, name, n, port):
        self.dir, self.name, self.n = work / name, name, n
        (self.dir / "artifacts").mkdir(parents=True)
        os.symlink(HERE / "node_modules", self.dir / "node_modules")
        fns = "\n".join(f"  f{i}: {{ handler: bootstrap, package: {{ artifact: artifacts/f{i}.zip }} }}"
                        for i in range(1, n + 1))
        (self.dir / "serverless.yml").write_text(f"""service: {name}
frameworkVersion: '3'
provider:
  name: aws
  runtime: provided.al2023
  region: us-east-1
  stage: bench
  memorySize: 128
  timeout: 3
  deploymentMethod: direct
  iam:
    role:
      statements:
        - Effect: Allow
          Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem, dynamodb:Query]
          Resource: {{ 'Fn::GetAtt': [DataTable, Arn] }}
package:
  individually: true
functions:
{fns}
resources:
  Resources:
    DataTable:
      Type: AWS::DynamoDB::Table
      DeletionPolicy: Delete
      Properties:
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions: [{{ AttributeName: id, AttributeType: S }}]
        KeySchema: [{{ AttributeName: id, KeyType: HASH }}]
plugins:
  - serverless-localstack
custom:
  localstack:
    stages: [bench]
    # "localhost", not 127.0.0.1: moto reads a template URL's bucket from the path only then.
    host: http://localhost
    edgePort: {port}
    autostart: false
""")
        self.env = dict(os.environ, **SLS_ENV)
        self.env.pop("AWS_PROFILE", None)
        self.prefix, self.roles = f"{name}-bench-", 1
        self.cli = str(HERE / "node_modules/.bin/serverless")

    def artifacts(self, version):
        codes = {}
        for i in range(1, self.n + 1):
            data = zip_bytes(f"\x7fELF {self.name} f{i} v{version if i == 1 else 0}")
            (self.dir / "artifacts" / f"f{i}.zip").write_bytes(data)
            codes[f"{self.prefix}f{i}"] = code_sha(data)
        return codes

    def step(self, scenario):
        return run_measured([self.cli, "remove" if scenario == "remove" else "deploy"], self.env,
                            self.dir)[:2]

    def help(self):
        return [self.cli, "--help"], self.env


def help_time(cmd, env):
    times = []
    for _ in range(5):
        start = time.monotonic()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.monotonic() - start)
    return statistics.median(times)


def cycle(tool, cloud, endpoint, results):
    """One first deploy, no-op, one artifact changed and remove; time, RSS and requests each."""
    codes = tool.artifacts(0)
    for scenario in SCENARIOS:
        if scenario == "one artifact changed":
            codes = tool.artifacts(1)
        before = stats(endpoint)["requests"]
        took, rss = tool.step(scenario)
        requests = stats(endpoint)["requests"] - before
        cloud.check(tool.label, scenario, tool.prefix, codes, tool.roles)
        results.setdefault((tool.label, scenario), []).append((took, rss, requests))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--functions", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin")
    args = ap.parse_args()
    binary = sls_rs_binary(args.bin)
    if not (HERE / "node_modules/.bin/serverless").exists():
        sys.exit("Serverless Framework is not installed: run `npm ci` in benches/peer first")
    emulator = emulator_endpoint()
    layer = subprocess.Popen([sys.executable, str(ROOT / "tests/support/realism.py"), emulator],
                             stdout=subprocess.PIPE, text=True)
    port = int(layer.stdout.readline().strip())
    endpoint = f"http://127.0.0.1:{port}"
    cloud = Cloud(emulator)
    work = pathlib.Path(tempfile.mkdtemp(prefix="sls-rs-peer-"))
    rows, helps = [], {}
    try:
        for n in args.functions:
            results = {}
            for rep in range(args.repeat):
                tag = f"{os.getpid() % 10000}{rep}"
                tools = [Serverless(work, f"pv3n{n}r{tag}", n, port),
                         SlsRs(binary, work, f"prs{n}r{tag}", n, endpoint)]
                if rep % 2:
                    tools.reverse()
                for tool in tools:
                    print(f"  N={n} run {rep + 1}/{args.repeat}: {tool.label}", file=sys.stderr, flush=True)
                    cycle(tool, cloud, endpoint, results)
                    helps.setdefault(tool.label, tool.help())
            for scenario in SCENARIOS:
                sls = results[("Serverless v3", scenario)]
                ours = results[("sls-rs", scenario)]
                med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
                rows.append((scenario, n, med(sls, 0), med(ours, 0), med(sls, 2), med(ours, 2),
                             max(x[1] for x in sls), max(x[1] for x in ours)))
    finally:
        layer.kill()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "?")
    print(f"\nSame service for both (N functions, prebuilt artifacts, one DynamoDB table, read/write "
          f"grants), one moto, one run, median of {args.repeat}; {os.cpu_count()} cores ({cpu}); "
          f"sls-rs {binary}\n")
    print("| scenario | N | Serverless v3 | sls-rs | ratio | HTTP requests (Serverless / sls-rs) "
          "| peak RSS (Serverless / sls-rs) |")
    print("|---|---|---|---|---|---|---|")
    for scenario, n, ts, to, rs, ro, ms, mo in rows:
        print(f"| {scenario} | {n} | {ts:.2f} s | {to:.2f} s | {ts / to:.1f}× | {rs:.0f} / {ro:.0f} "
              f"| {ms:.0f} / {mo:.0f} MB |")
    hs = {label: help_time(*cmd) for label, cmd in helps.items()}
    print(f"| `--help` | | {hs['Serverless v3']:.3f} s | {hs['sls-rs']:.3f} s "
          f"| {hs['Serverless v3'] / hs['sls-rs']:.0f}× | | |")


if __name__ == "__main__":
    main()
