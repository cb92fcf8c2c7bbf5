"""The ``cfy`` console command's entry point (``cfy`` and ``cfy-local`` in pyproject.toml).

A command that starts a run and follows it (``cfy executions start`` without
``--no-wait``, ``cfy install``) gets its worker from a *standby*: a fork of the command that
loads the worker and the engine while the command itself imports click, parses its
options and decides admission (``executions/spawn.py``). The earlier the fork, the sooner
the worker is ready: forked here, before click is imported, the standby has the engine
loaded by the time admission has written the record, instead of making the run wait
~30 ms for its imports. The command line is only glanced at: a guess that misses means the
command forks its standby later itself, and a standby nobody takes exits at once.
"""
from __future__ import annotations

import sys

# Global options of the root group that take a value (``cfy --home PATH …``).
_VALUED_ROOT_OPTIONS = frozenset({"--home"})
# Any of these means no run is followed: nothing waits, or click only prints something.
_NO_RUN_OPTIONS = frozenset({"--no-wait", "--schedule", "-h", "--help", "-V", "--version"})


def follows_a_run(argv: list[str]) -> bool:
    """Whether the command line is a start of a run that the command then follows."""
    if any(arg in _NO_RUN_OPTIONS or arg.startswith("--schedule=") for arg in argv):
        return False
    words: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            if words:
                break  # the command's own options: the words so far name it
            skip = arg in _VALUED_ROOT_OPTIONS  # --json, -v and --home=PATH take no next word
            continue
        words.append(arg)
        if len(words) == 2:
            break
    if words[:1] == ["install"]:
        return True
    # cfy's groups take unique prefixes: "ex" and longer name `executions` alone.
    return len(words) == 2 and len(words[0]) >= 2 and "executions".startswith(words[0]) and words[1] == "start"


def _load_worker() -> None:
    from cfy_local import worker_process

    worker_process.preload()


def _run_worker(argv: list[str]) -> int:
    from cfy_local import worker_process

    return worker_process.main(argv)


def main() -> None:
    if follows_a_run(sys.argv[1:]):
        from cfy_local.executions import spawn

        spawn.fork_standby(_load_worker, _run_worker)
    from cfy_local.cli import main as run_cli

    run_cli()
