"""CLI cold start: `cfy --help` and `cfy blueprints list` as fresh processes.

Prints the median of 20 runs of each against its target on this 2-core machine
(`--help` <= 100 ms, `blueprints list` <= 150 ms), the ratio to the target, and whether
textual, yaml or dateutil were imported.
Usage: .venv/bin/python bench/bench_cli.py [runs]
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

TARGETS_MS = {"--help": 100.0, "blueprints list": 150.0}
CFY = [sys.executable, "-m", "cfy_local"]


def measure(args: list[str], env: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(CFY + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append((time.perf_counter() - start) * 1000)
        if proc.returncode != 0:
            raise SystemExit(f"cfy {' '.join(args)} failed: {proc.stderr.decode()[-500:]}")
    return statistics.median(times)


def baseline(code: str, env: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def heavy_imports(args: list[str], env: dict) -> list[str]:
    probe = ("import sys, runpy; sys.argv=['cfy'] + %r\n"
             "try:\n    runpy.run_module('cfy_local', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print(','.join(m for m in ('textual', 'yaml', 'dateutil') if m in sys.modules), file=sys.stderr)") % args
    proc = subprocess.run([sys.executable, "-c", probe], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines = proc.stderr.decode().splitlines()
    return [m for m in lines[-1].split(",") if m] if lines else []


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, CFY_LOCAL_HOME=home)
        # Measure cfy as users run it: with bytecode caches (some sandboxes set
        # PYTHONDONTWRITEBYTECODE, which makes every process recompile every module).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        example = os.path.join(os.path.dirname(__file__), "..", "examples", "hello-world", "blueprint.yaml")
        subprocess.run(CFY + ["blueprints", "upload", example], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)  # warm the OS caches
        bare = baseline("pass", env, runs)
        click_only = baseline("import click", env, runs)
        print(f"baseline: python -c pass {bare:.1f} ms, python -c 'import click' {click_only:.1f} ms "
              f"(load average {os.getloadavg()[0]:.1f}: figures scale with machine load)")
        for args in (["--help"], ["blueprints", "list"]):
            median = measure(args, env, runs)
            target = TARGETS_MS[" ".join(args)]
            loaded = heavy_imports(args, env)
            print(f"cfy {' '.join(args):<16} median {median:7.1f} ms over {runs} runs; target {target:.0f} ms; "
                  f"ratio {median / target:.2f}; over bare python +{median - bare:.0f} ms; heavy modules imported: {', '.join(loaded) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
