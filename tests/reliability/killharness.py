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

``storm HOME PROCS COMMANDS SEED DEPLOYMENTS_JSON LOG_DIR``
    PROCS driver processes each run COMMANDS random ``cfy`` commands (each in a forked
    child) against one home; every command's exit code and stderr file are logged in
    ``LOG_DIR/driver-<n>.json`` for the concurrency test to check.
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
    return _kill_after_timed(pid, delay)[0]


def _kill_after_timed(pid: int, delay: float) -> tuple[str, float]:
    """``_kill_after``, and how long the process ran (when it finished on its own)."""
    # The delay is the random kill moment under test, not a synchronisation wait.
    began = time.monotonic()
    deadline = began + delay
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "finished", time.monotonic() - began
        time.sleep(min(0.001, max(0.0, deadline - time.monotonic())))
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, status = os.waitpid(pid, 0)
    return ("killed" if os.WIFSIGNALED(status) else "finished"), time.monotonic() - began


# --- atomic ---------------------------------------------------------------------------------

ATOMIC_SIZES = [10, 1_000, 60_000, 700_000, 2_000_000]
ATOMIC_FILES = ["a.json", "b.json", "c.json"]


def _atomic_writer(folder: str, seed: int) -> None:
    from cfy_local.store.versioned import save_record

    rng = random.Random(seed)
    n = 0
    while True:
        size = rng.choice(ATOMIC_SIZES)
        name = rng.choice(ATOMIC_FILES)
        save_record(os.path.join(folder, name), {"n": n, "size": size, "pad": "x" * size},
                    durable=bool(n % 2))
        n += 1


def run_atomic(folder: str, kills: int, seed: int) -> dict:
    from cfy_local.store.versioned import save_record

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
        # Measure unkilled runs of each command to draw kill moments across its span: the
        # fastest of three (and faster finished runs later lower it further), since a slow
        # moment of a loaded machine would put most kill moments after the command ended.
        spans = []
        for repeat in range(3):
            args = [a.replace("{n}", f"m{index}r{repeat}") for a in command]
            start = time.monotonic()
            pid = _fork(lambda a=args: _run_cfy(home, a))
            os.waitpid(pid, 0)
            spans.append(time.monotonic() - start)
        durations[index] = max(0.005, min(spans))
    outcome = {"killed": 0, "finished": 0, "per_command": {}}
    for attempt in range(kills):
        index = attempt % len(commands)
        args = [a.replace("{n}", str(attempt)) for a in commands[index]]
        pid = _fork(lambda a=args: _run_cfy(home, a))
        result, ran = _kill_after_timed(pid, rng.uniform(0.0, durations[index] * 1.2))
        if result == "finished":
            # Commands get faster once caches are warm: keep the kill moments inside them.
            durations[index] = max(0.005, min(durations[index], ran))
        outcome[result] += 1
        key = " ".join(commands[index][:3])
        outcome["per_command"].setdefault(key, {"killed": 0, "finished": 0})[result] += 1
    outcome["durations"] = {" ".join(commands[i][:3]): round(d, 4) for i, d in durations.items()}
    return outcome


# --- storm ----------------------------------------------------------------------------------

def _known_ids(home: str, folder: str, suffix: str) -> list[str]:
    try:
        names = os.listdir(os.path.join(home, folder))
    except FileNotFoundError:
        return []
    return [n[: -len(suffix)] for n in names if n.endswith(suffix) and not n.startswith(".")]


def _known_schedules(home: str, deployments: list[str]) -> list[tuple[str, str]]:
    out = []
    for dep in deployments:
        for sched in _known_ids(home, os.path.join("schedules", dep), ".json"):
            if not sched.startswith("fixed"):  # the test's own schedules stay as created
                out.append((dep, sched))
    return out


def _storm_command(home: str, rng: random.Random, driver: int, step: int, deployments: list[str]) -> tuple[str, list[str]]:
    """One random command of the mix (issue 9 point 2)."""
    from datetime import datetime, timedelta, timezone

    kind = rng.choices(
        ["start", "start_queue", "start_force", "cancel", "resume", "schedule_create", "schedule_update",
         "schedule_delete", "maintenance_on", "maintenance_off", "scheduler_pass", "list"],
        weights=[14, 14, 4, 8, 5, 6, 5, 3, 2, 3, 5, 4])[0]
    dep = rng.choice(deployments)
    seconds = f"seconds={rng.choice(['0.02', '0.1', '0.3'])}"
    if kind.startswith("start"):
        args = ["executions", "start", "pause", "-d", dep, "--no-wait", "-p", seconds]
        if kind == "start_queue":
            args.append("--queue")
        elif kind == "start_force":
            args.append("--force")
        return kind, args
    if kind in ("cancel", "resume"):
        ids = _known_ids(home, "executions", ".json")
        if not ids:
            return "list", ["executions", "list"]
        target = rng.choice(ids)
        if kind == "cancel":
            return kind, ["executions", "cancel", target] + rng.choice([[], [], ["-f"], ["-k"]])
        return kind, ["executions", "resume", target]
    if kind == "schedule_create":
        return kind, ["deployments", "schedule", "create", dep, "pause", "-n", f"s{driver}x{step}",
                      "-s", "+1min", "-r", rng.choice(["1min", "2min", "1h"]), "-p", "seconds=0.02"]
    if kind in ("schedule_update", "schedule_delete"):
        known = _known_schedules(home, deployments)
        if not known:
            return "list", ["deployments", "schedule", "list"]
        sdep, sched = rng.choice(known)
        if kind == "schedule_delete":
            return kind, ["deployments", "schedule", "delete", sdep, sched]
        return kind, ["deployments", "schedule", "update", sdep, sched, "-r", rng.choice(["1min", "3min", "1d"])]
    if kind == "maintenance_on":
        return kind, ["maintenance-mode", "activate"]
    if kind == "maintenance_off":
        return kind, ["maintenance-mode", "deactivate"]
    if kind == "scheduler_pass":
        at = datetime.now(timezone.utc) + timedelta(minutes=rng.randint(1, 4), seconds=rng.randint(0, 59))
        return kind, ["scheduler", "run", "--once", "--at", at.strftime("%Y-%m-%d %H:%M:%S")]
    return "list", ["executions", "list"]


def _storm_driver(home: str, driver: int, commands: int, seed: int, deployments: list[str], log_dir: str) -> None:
    rng = random.Random(seed * 1_000_003 + driver)
    log = []
    for step in range(commands):
        kind, args = _storm_command(home, rng, driver, step, deployments)
        err_path = os.path.join(log_dir, f"d{driver}-{step}.err")
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)
                os.dup2(devnull, 1)
                os.dup2(fd, 2)
                _run_cfy(home, args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001
                import traceback

                traceback.print_exc()
                code = 70
            sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        log.append({"kind": kind, "args": args, "exit": os.waitstatus_to_exitcode(status), "stderr": err_path})
    with open(os.path.join(log_dir, f"driver-{driver}.json"), "w") as fh:
        json.dump(log, fh)


def run_storm(home: str, procs: int, commands: int, seed: int, deployments: list[str], log_dir: str) -> dict:
    import cfy_local.cli  # noqa: F401

    for module in ("cfy_local.cli.executions", "cfy_local.cli.schedules", "cfy_local.cli.maintenance",
                   "cfy_local.cli.scheduler", "cfy_local.cli.deployments"):
        __import__(module)
    os.makedirs(log_dir, exist_ok=True)
    started = time.monotonic()
    pids = []
    for driver in range(procs):
        pid = os.fork()
        if pid == 0:
            _child_exit(lambda d=driver: _storm_driver(home, d, commands, seed, deployments, log_dir))
        pids.append(pid)
    failures = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        failures += os.waitstatus_to_exitcode(status) != 0
    return {"procs": procs, "commands": commands, "driver_failures": failures,
            "seconds": round(time.monotonic() - started, 2)}


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "atomic":
        summary = run_atomic(argv[1], int(argv[2]), int(argv[3]))
    elif mode == "storm":
        summary = run_storm(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), json.loads(argv[5]), argv[6])
    elif mode == "cli":
        summary = run_cli(argv[1], int(argv[2]), int(argv[3]), json.loads(argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
