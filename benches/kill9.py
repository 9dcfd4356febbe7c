"""kill -9 at random moments during deploys of examples/order-workflow, under the
realism layer (tests/support/realism.py: throttling, IAM delay, asynchronous
states, faults), then checks that sls-rs recovers from whatever was left:

  - the next deploy (not killed) converges: exit 0;
  - no resource named for the service's stage is left outside the state
    (read back from the emulator directly, not through the layer);
  - after the last run, one more deploy makes zero mutating calls.

The kill time is drawn at random (seeded) up to the length of a recent whole
deploy; it is not synchronised with any progress line. Each run changes the
code of one or two functions (and every third run a setting) so every deploy
has work to be killed in. Functions are fake zips: the emulator never runs code.

Usage (from the repository, moto running: localstack/emulator start):
  .venv/bin/python benches/kill9.py [--runs 20] [--seed N] [--bin PATH]
                                     [--layer '--all --scale 0.2'] [--keep]
Prints a table (run, kill time, step reached, converged, orphans); exits 1 when
any run did not converge, left an orphan, or the final deploy changed anything.
"""
import argparse
import json
import os
import pathlib
import random
import re
import signal
import shlex
import subprocess
import sys
import time

import boto3

import fake_package

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUNCTIONS = ["validate", "charge", "ship"]
STAGE = "local"


def sh(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def write_package(d, service, tag):
    """A fake zip per function; `tag` maps function -> content version."""
    fake_package.write(d, service, {f: f"\x7fELF {service} {f} {tag[f]}" for f in FUNCTIONS})


def write_manifest(d, service, timeout):
    text = (ROOT / "examples/order-workflow/serverless.yaml").read_text()
    text = re.sub(r"(?m)^service: .*$", f"service: {service}", text, count=1)
    text = re.sub(r"(?m)^  timeout: \d+$", f"  timeout: {timeout}", text, count=1)
    (d / "serverless.yaml").write_text(text)


class Clients:
    """boto3 straight at the emulator: the read-back must not go through the layer."""

    def __init__(self, endpoint):
        kw = dict(endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
        for attr, name in [("s3", "s3"), ("iam", "iam"), ("lambda_", "lambda"), ("sqs", "sqs"),
                           ("logs", "logs"), ("sfn", "stepfunctions"), ("sts", "sts")]:
            setattr(self, attr, boto3.client(name, **kw))
        self.account = self.sts.get_caller_identity()["Account"]

    def state(self, service):
        bucket = f"sls-rs-deployments-{self.account}-us-east-1"
        key = f"services/{service}/{STAGE}/state.json"
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return {"resources": {}}
        return json.loads(body)

    def orphans(self, service):
        """Everything named `{service}-{stage}-…` the state does not record."""
        prefix = f"{service}-{STAGE}-"
        recorded = {}
        for r in self.state(service)["resources"].values():
            recorded.setdefault(r["kind"], set()).add(r["physical"])
        found = []

        def check(kind, name):
            if name not in recorded.get(kind, set()):
                found.append(f"{kind}:{name}")

        functions = [f["FunctionName"]
                     for page in self.lambda_.get_paginator("list_functions").paginate()
                     for f in page["Functions"] if f["FunctionName"].startswith(prefix)]
        for name in functions:
            check("function", name)
            mappings = self.lambda_.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
            by_source = {}
            for m in mappings:
                by_source.setdefault(m["EventSourceArn"], []).append(m["UUID"])
            for source, uuids in by_source.items():
                queue = source.rsplit(":", 1)[-1]
                want = f"{queue} → {name}:live"
                if want not in recorded.get("eventSourceMapping", set()):
                    found.extend(f"eventSourceMapping:{u}" for u in uuids)
                elif len(uuids) > 1:
                    found.extend(f"eventSourceMapping:{u} (duplicate)" for u in uuids[1:])
        for page in self.iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                if role["RoleName"].startswith(prefix):
                    check("role", role["RoleName"])
        for url in self.sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
            check("queue", url.rsplit("/", 1)[-1])
        for group_prefix in [f"/aws/lambda/{prefix}", f"/aws/vendedlogs/states/{prefix}"]:
            for g in self.logs.describe_log_groups(logGroupNamePrefix=group_prefix)["logGroups"]:
                check("logGroup", g["logGroupName"])
        for m in self.sfn.list_state_machines()["stateMachines"]:
            if m["name"].startswith(prefix):
                check("stateMachine", m["name"])
        return found


def last_step(stderr_text):
    lines = [l.strip() for l in stderr_text.splitlines() if l.strip()]
    return lines[-1][:60] if lines else "(nothing printed)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--bin", default=os.environ.get("SLS_RS_BIN"))
    ap.add_argument("--layer", default="--all --scale 0.2",
                    help="flags for tests/support/realism.py ('' = no layer)")
    ap.add_argument("--keep", action="store_true", help="do not remove the service at the end")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    binary = args.bin or str(ROOT / "target/debug/sls-rs")
    emulator = sh(str(ROOT / "localstack/emulator"), "endpoint")
    aws = Clients(emulator)

    layer = None
    endpoint = emulator
    if args.layer is not None and args.layer.strip() != "none":
        cmd = [sys.executable, str(ROOT / "tests/support/realism.py"), emulator,
               "--seed", str(seed), *shlex.split(args.layer)]
        layer = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        endpoint = f"http://127.0.0.1:{layer.stdout.readline().strip()}"

    service = f"k9-{os.getpid():x}"
    work = ROOT / "target/bench-kill9" / service
    work.mkdir(parents=True, exist_ok=True)
    versions = {f: 0 for f in FUNCTIONS}
    timeout = 10
    write_manifest(work, service, timeout)
    write_package(work, service, versions)
    env = dict(os.environ, SLS_RS_ENDPOINT=endpoint)
    for var in ["AWS_ENDPOINT_URL", "AWS_PROFILE"]:
        env.pop(var, None)
    deploy = [binary, "deploy", "-c", str(work), "--package", str(work / ".sls-rs"), "--json"]

    print(f"kill -9 during deploys of examples/order-workflow as {service}; seed {seed}; "
          f"layer: {args.layer or 'none'}; endpoint {endpoint}", flush=True)
    estimate = 3.0  # seconds; replaced by the length of each whole deploy
    rows, failed = [], False
    try:
        for run in range(1, args.runs + 1):
            if run > 1:
                for f in rng.sample(FUNCTIONS, rng.choice([1, 2])):
                    versions[f] += 1
                if run % 3 == 0:
                    timeout = 21 - timeout  # 10 <-> 11
                    write_manifest(work, service, timeout)
                write_package(work, service, versions)
            delay = rng.uniform(0.02, estimate)
            err_path = work / f"run{run}.stderr"
            with open(err_path, "w") as err:
                p = subprocess.Popen(deploy, stdout=subprocess.DEVNULL, stderr=err, env=env)
                try:
                    p.wait(timeout=delay)
                    killed = False
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                    killed = True
            step = last_step(err_path.read_text()) if killed else f"finished (exit {p.returncode})"
            start = time.monotonic()
            out = subprocess.run(deploy, capture_output=True, text=True, env=env)
            took = time.monotonic() - start
            converged = out.returncode == 0
            if converged:
                estimate = max(0.5, took)
            else:
                (work / f"run{run}.converge.stderr").write_text(out.stderr)
            orphans = aws.orphans(service)
            failed |= not converged or bool(orphans)
            rows.append((run, f"{delay:.2f} s" + ("" if killed else " (not killed)"), step,
                         "yes" if converged else f"NO (see {work.name}/run{run}.converge.stderr)",
                         ", ".join(orphans) or "0"))
            print(f"  run {run}: {'killed' if killed else 'not killed'} at {delay:.2f} s, "
                  f"converged={converged} in {took:.1f} s, orphans={len(orphans)}", flush=True)
        final = subprocess.run(deploy, capture_output=True, text=True, env=env)
        writes = json.loads(final.stdout)["apiCalls"]["writes"] if final.returncode == 0 else None
        failed |= writes != 0
    finally:
        if not args.keep:
            subprocess.run([binary, "remove", "--force", "-c", str(work)], capture_output=True,
                           env=dict(env, SLS_RS_ENDPOINT=emulator))
        if layer:
            layer.kill()

    print()
    print(f"| run | kill time | step reached | converged | orphans |")
    print(f"|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(c).replace("|", "/") for c in r) + " |")
    print()
    print(f"final deploy: {'exit ' + str(final.returncode) if writes is None else f'{writes} mutating calls'}"
          f" (seed {seed}; replay with --seed {seed})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
