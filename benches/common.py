"""What the benchmarks share: the sls-rs binary to measure, the emulator's
endpoint, and running a command for its time and peak RSS."""
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def sls_rs_binary(explicit=None):
    """`--bin`, else $SLS_RS_BIN, else the release build, else the debug build."""
    binary = explicit or os.environ.get("SLS_RS_BIN") or str(ROOT / "target/release/sls-rs")
    if not os.path.exists(binary):
        binary = str(ROOT / "target/debug/sls-rs")
    return binary


def emulator_endpoint():
    """The running moto's endpoint (localstack/emulator, SLS_RS_EMULATOR_PORT)."""
    return subprocess.run([str(ROOT / "localstack/emulator"), "endpoint"], check=True,
                          capture_output=True, text=True).stdout.strip()


def run_measured(cmd, env, cwd=None):
    """(seconds, peak RSS in MB, output) of one command; its own RSS, from wait4.
    Exits the benchmark with the command's output when it fails."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    took = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        where = f" in {cwd}" if cwd else ""
        sys.exit(f"`{' '.join(map(str, cmd))}`{where} failed ({code}):\n"
                 f"{out.decode(errors='replace')[-3000:]}")
    return took, usage.ru_maxrss / 1024, out
