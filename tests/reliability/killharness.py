"""Kill things at random moments, many times, cheaply.

Run as a script by the reliability tests (never imported by pytest): the parent is a
single-threaded process that has already imported cfy-local, so ``os.fork`` gives a child
that runs the real code at once — a kill costs about a millisecond instead of an
interpreter start, which is what lets the suite afford hundreds of kills.

Modes (the last line printed is a JSON summary):

``atomic DIR KILLS SEED``
    The child rewrites a few records forever (sizes from 10 bytes to 2 MB, durable and
    not); the parent SIGKILLs it after a random delay, KILLS times. Afterwards every
    record must parse and be internally consistent (checked by the caller).

``cli HOME KILLS SEED COMMANDS_JSON``
    COMMANDS_JSON is a list of argument lists for ``cfy``; ``{n}`` in an argument is
    replaced by the attempt number. Each attempt forks a child running ``cfy`` in-process
    (``cfy_local.cli.main``), and SIGKILLs it after a random delay drawn between 0 and the
    duration of an unkilled run of the same command.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sys
import time


def _child_exit(fn) -> None:
    """Run ``fn`` in a forked child and leave without running the parent's atexit hooks."""
    code = 0
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        fn()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - a child must never return into the parent's loop
        code = 70
    os._exit(code)


def _fork(fn) -> int:
    pid = os.fork()
    if pid == 0:
        _child_exit(fn)
    return pid


def _kill_after(pid: int, delay: float) -> str:
    """SIGKILL ``pid`` after ``delay`` seconds unless it already ended; say which happened."""
    # The delay is the random kill moment under test, not a synchronisation wait.
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "finished"
        time.sleep(min(0.001, max(0.0, deadline - time.monotonic())))
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, status = os.waitpid(pid, 0)
    return "killed" if os.WIFSIGNALED(status) else "finished"


# --- atomic ---------------------------------------------------------------------------------

ATOMIC_SIZES = [10, 1_000, 60_000, 700_000, 2_000_000]
ATOMIC_FILES = ["a.json", "b.json", "c.json"]


def _atomic_writer(folder: str, seed: int) -> None:
    from cfy_local.store.records import save_record

    rng = random.Random(seed)
    n = 0
    while True:
        size = rng.choice(ATOMIC_SIZES)
        name = rng.choice(ATOMIC_FILES)
        save_record(os.path.join(folder, name), {"n": n, "size": size, "pad": "x" * size},
                    durable=bool(n % 2))
        n += 1


def run_atomic(folder: str, kills: int, seed: int) -> dict:
    from cfy_local.store.records import save_record

    os.makedirs(folder, exist_ok=True)
    for name in ATOMIC_FILES:
        save_record(os.path.join(folder, name), {"n": -1, "size": 0, "pad": ""})
    rng = random.Random(seed)
    outcome = {"killed": 0, "finished": 0}
    for attempt in range(kills):
        pid = _fork(lambda a=attempt: _atomic_writer(folder, seed * 100_003 + a))
        outcome[_kill_after(pid, rng.uniform(0.0, 0.03))] += 1
    return outcome


# --- cli ------------------------------------------------------------------------------------

def _run_cfy(home: str, args: list[str]) -> None:
    os.environ["CFY_LOCAL_HOME"] = home
    from cfy_local.cli import main

    main(["--home", home, *args])


def run_cli(home: str, kills: int, seed: int, commands: list[list[str]]) -> dict:
    import cfy_local.cli  # noqa: F401 - import once in the parent so children start warm

    for module in ("cfy_local.cli.deployments", "cfy_local.cli.executions", "cfy_local.cli.schedules",
                   "cfy_local.cli.blueprints"):
        try:
            __import__(module)
        except ImportError:
            pass
    rng = random.Random(seed)
    durations: dict[int, float] = {}
    for index, command in enumerate(commands):
        # Measure an unkilled run of each command to draw kill moments across its span.
        args = [a.replace("{n}", f"m{index}") for a in command]
        start = time.monotonic()
        pid = _fork(lambda a=args: _run_cfy(home, a))
        os.waitpid(pid, 0)
        durations[index] = max(0.005, time.monotonic() - start)
    outcome = {"killed": 0, "finished": 0, "per_command": {}}
    for attempt in range(kills):
        index = attempt % len(commands)
        args = [a.replace("{n}", str(attempt)) for a in commands[index]]
        pid = _fork(lambda a=args: _run_cfy(home, a))
        result = _kill_after(pid, rng.uniform(0.0, durations[index] * 1.2))
        outcome[result] += 1
        key = " ".join(commands[index][:3])
        outcome["per_command"].setdefault(key, {"killed": 0, "finished": 0})[result] += 1
    outcome["durations"] = {" ".join(commands[i][:3]): round(d, 4) for i, d in durations.items()}
    return outcome


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "atomic":
        summary = run_atomic(argv[1], int(argv[2]), int(argv[3]))
    elif mode == "cli":
        summary = run_cli(argv[1], int(argv[2]), int(argv[3]), json.loads(argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
