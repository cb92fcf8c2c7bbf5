"""Run every benchmark script in bench/ in turn and print their figures.

Usage: .venv/bin/python bench/run_all.py [name-substring ...]
Each bench_*.py prints its own figures, targets and ratios; this only runs them.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.name for a in argv)]
    failed = 0
    for script in scripts:
        print(f"==> {script.name}", flush=True)
        start = time.monotonic()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"<== {script.name}: exit {rc} in {time.monotonic() - start:.1f} s\n", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
