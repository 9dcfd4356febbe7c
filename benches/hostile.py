"""Hostile manifests against `sls-rs validate`: each input is built to exhaust the
reader (its stack, its memory or its time) and must end with exit 2 and a message
naming the limit that stopped it, in well under a second and 100 MB.

The inputs are the ones of tests/manifest_corpus.rs
(`hostile_input_ends_with_exit_2_naming_the_limit_quickly`), which checks exit
code and message on every test run; this script measures time and peak memory.

Usage (from the repository):
  python3 benches/hostile.py [--bin PATH] [--keep DIR]
--bin defaults to the release binary of $CARGO_TARGET_DIR (or target/), else the
debug one. Prints a table: input, size, exit code, first line of the message,
seconds, peak RSS in MB (the child's own, from wait4). Exits 1 when any input
does not end with exit 2 within 1 s and 100 MB.
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEAD = "service: todo\nprovider:\n  name: aws\nfunctions:\n  hello:\n    handler: hello\n"
MAX_SECONDS = 1.0
MAX_MB = 100


def lines(n, line):
    return "".join(line(i) + "\n" for i in range(n))


def inputs():
    laughs = "  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, 10):
        laughs += f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    return [
        ("deep block list (10,000)", f"{HEAD}custom:\n  x:\n    " + "- " * 10_000 + "a\n"),
        ("deep flow list (10,000)", f"{HEAD}custom:\n  x: " + "[" * 10_000 + "]" * 10_000 + "\n"),
        ("nested ${…} (2,000)", f"{HEAD}  description: " + "${self:" * 2_000 + "a" + "}" * 2_000 + "\n"),
        ("alias bomb (9 levels of 9)", f"{HEAD}custom:\n{laughs}"),
        ("string doubling (40 levels)", f"{HEAD}custom:\n  s0: {'x' * 32}\n"
         + lines(40, lambda i: f"  s{i + 1}: ${{self:custom.s{i}}}${{self:custom.s{i}}}")),
        ("list doubling (40 levels)", f"{HEAD}custom:\n  l0: [x]\n"
         + lines(40, lambda i: f"  l{i + 1}: ['${{self:custom.l{i}}}', '${{self:custom.l{i}}}']")),
        ("200,000-key mapping", f"{HEAD}custom:\n" + lines(200_000, lambda i: f"  key{i}: v")),
        ("49,000 keys, one twice", f"{HEAD}custom:\n" + lines(49_000, lambda i: f"  key{i}: v") + "  key0: again\n"),
        ("reference chain (10,000)", f"{HEAD}custom:\n"
         + lines(10_000, lambda i: f"  a{i}: ${{self:custom.a{i + 1}}}") + "  a10000: end\n"),
        ("nesting by variables (300)", f"{HEAD}custom:\n  a0: leaf\n"
         + lines(300, lambda i: f"  a{i + 1}: {{ x: '${{self:custom.a{i}}}' }}")),
        ("NUL in a value", f'{HEAD}    description: "before\\0after"\n'),
    ]


def default_binary():
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("release", "debug"):
        candidate = target / profile / "sls-rs"
        if candidate.exists():
            return candidate
    sys.exit(f"no sls-rs binary under {target}; build one or pass --bin")


def measure(binary, path):
    """Runs validate on one file: exit code, first line of stderr, seconds, peak RSS in MB."""
    started = time.monotonic()
    child = subprocess.Popen([str(binary), "validate", "-c", str(path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = child.stderr.read()
    # wait4 gives this child's own resource usage (ru_maxrss in KiB on Linux).
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    first = stderr.decode(errors="replace").strip().splitlines()[:1]
    return child.returncode, (first[0] if first else ""), seconds, usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=pathlib.Path, default=None)
    parser.add_argument("--keep", type=pathlib.Path, default=None,
                        help="write the inputs into this directory and keep them")
    args = parser.parse_args()
    binary = args.bin or default_binary()
    out_dir = args.keep or pathlib.Path(tempfile.mkdtemp(prefix="sls-rs-hostile-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"binary: {binary}")
    rows, bad = [], 0
    for i, (name, text) in enumerate(inputs()):
        path = out_dir / f"{i:02d}.yaml"
        path.write_text(text)
        code, message, seconds, mb = measure(binary, path)
        ok = code == 2 and seconds < MAX_SECONDS and mb < MAX_MB
        bad += not ok
        rows.append((name, f"{len(text.encode()):,} B", str(code), message[:90],
                     f"{seconds:.3f}", f"{mb:.1f}", "" if ok else "FAIL"))
    header = ("input", "size", "exit", "message (first line)", "seconds", "peak RSS MB", "")
    widths = [max(len(r[c]) for r in rows + [header]) for c in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if args.keep is None:
        for f in out_dir.iterdir():
            f.unlink()
        out_dir.rmdir()
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
