"""Waiting for an execution: its events as a person reads them (one line per retry, one
line for the final error), the live status line, and the result a waited command ends
with. Shared by ``executions start``, ``executions wait``, ``events list --tail``,
``install`` and ``uninstall``."""
from __future__ import annotations

import re
import sys
import time
from typing import Callable

from cfy_local import clock
from cfy_local.engine import graphstate
from cfy_local.cli import render
from cfy_local.cli.result import Message, Result, Stream, exit_code_for
from cfy_local.config import load_config
from cfy_local.errors import ExitCode
from cfy_local.executions import api, records
from cfy_local.executions import event_stream as execution_events

UNINSTALL_HINT = (
    "Note that, for the uninstall workflow, you can use the 'ignore_failure' parameter to ignore operation "
    "failures and continue the execution (for example: 'cfy executions start uninstall -d {dep} -p "
    "ignore_failure=true'). If your blueprint imports Cloudify's global definitions (types.yaml) of a version "
    "prior to 4.0, you will also need to include '--allow-custom-parameters' in the command line.")
FAIL_FAST_HINT = ("Failed operations are retried up to {total} time(s), {interval} s apart. "
                  "To fail fast: --task-retries 0, or `task_retries: 0` in config.yaml.")
# Errors that the engine never retries, whatever the retry budget.
NOT_RETRIED = frozenset({"NonRecoverableError"})
_EXIT_CODE = re.compile(r"exit_code: (-?\d+)")
_COMMAND = re.compile(r"^command: (.*?), exit_code:")
_STDERR = re.compile(r", stderr: (.*)\Z", re.S)


def short_cause(cause: dict | None) -> str:
    """One line for an operation's error: for a script its path, exit code and last line
    of stderr; else the error type and the first line of its message."""
    if not isinstance(cause, dict):
        return ""
    text = str(cause.get("message") or "")
    kind = cause.get("type") or "Error"
    exit_code = _EXIT_CODE.search(text)
    if kind == "ProcessExecutionError" and exit_code:
        command = _COMMAND.search(text)
        stderr = _STDERR.search(text)
        last = next((line.strip() for line in reversed(stderr.group(1).splitlines()) if line.strip()), "") \
            if stderr else ""
        shown = f"{command.group(1)}: " if command else ""
        return f"{shown}exit code {exit_code.group(1)}" + (f": {last}" if last else "")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{kind}: {first}" if first else kind


def _prefix(event: dict) -> str:
    """``<timestamp>  CFY <dep> [<instance>.<op>] `` — the line's start, without its text."""
    bare = dict(event, message={"text": ""}, context=dict(event.get("context") or {}, task_error_causes=None))
    return execution_events.render_line(bare)


class EventPrinter:
    """Turns events into the lines a person sees while waiting, and remembers what the
    status line and the final message need (running operations, retries, last failure)."""

    def __init__(self, keep, *, verbose: int, retry_interval: float):
        self.keep, self.verbose, self.retry_interval = keep, verbose, retry_interval
        self.running: dict[str, str] = {}
        self.retries = 0
        self.hinted = False
        self.last_failure: dict | None = None

    def observe(self, event: dict) -> None:
        ctx = event.get("context") or {}
        kind = event.get("event_type")
        task = ctx.get("task_id")
        if kind == "task_started" and task:
            self.running[task] = f"{ctx.get('node_id')}.{str(ctx.get('operation') or '').rsplit('.', 1)[-1]}"
        elif kind in ("task_succeeded", "task_failed", "task_rescheduled") and task:
            self.running.pop(task, None)
        if kind == "task_failed" and ctx.get("task_error_causes") and ctx.get("node_id"):
            self.last_failure = event

    def will_retry(self, event: dict) -> bool:
        ctx = event.get("context") or {}
        causes = ctx.get("task_error_causes") or [{}]
        if event.get("event_type") == "task_failed" and causes[-1].get("type") in NOT_RETRIED:
            return False
        total, current = ctx.get("task_total_retries"), ctx.get("task_current_retries") or 0
        return total == -1 or (isinstance(total, int) and current < total)

    def __call__(self, event: dict) -> str | None:
        return self.line(event) if self.keep(event) else None

    def line(self, event: dict) -> str:
        """The line of an event already kept by the filter."""
        kind = event.get("event_type")
        if not self.verbose and kind == "workflow_failed":
            # The run's error may hold a script's whole output: its first line says it; the
            # final message and `cfy events list` give the rest.
            text = str((event.get("message") or {}).get("text") or "")
            event = dict(event, message={"text": text.splitlines()[0] if text else "", "arguments": None})
        if self.verbose or kind not in ("task_failed", "task_rescheduled"):
            return self._colour(execution_events.render_line(event), event)
        ctx = event.get("context") or {}
        causes = ctx.get("task_error_causes") or []
        cause = short_cause(causes[-1] if causes else None)
        name = ctx.get("task_name")
        if name is None:  # a subgraph's failure: its own first words, then the cause
            text = str((event.get("message") or {}).get("text") or "")
            return render.paint(f"{_prefix(event)}{text.split(' -> ', 1)[0]}: {cause}", "red")
        if not self.will_retry(event):
            return render.paint(f"{_prefix(event)}Task failed '{name}': {cause}", "red")
        self.retries += 1
        total = ctx.get("task_total_retries")
        attempt = (ctx.get("task_current_retries") or 0) + 1
        counter = f"[retry {attempt}/{total}]" if total != -1 else f"[retry {attempt}]"
        word = "rescheduled" if kind == "task_rescheduled" else "failed"
        wait = f" in {self.retry_interval:g} s" if kind == "task_failed" else ""
        line = render.paint(f"{_prefix(event)}Task {word} '{name}', retrying{wait} {counter}: {cause}", "yellow")
        if not self.hinted and kind == "task_failed":
            self.hinted = True
            total_text = "unlimited" if total == -1 else str(total)
            line += "\n" + FAIL_FAST_HINT.format(total=total_text, interval=f"{self.retry_interval:g}")
        return line

    @staticmethod
    def _colour(line: str, event: dict) -> str:
        if execution_events.is_log(event):
            colour = render.LEVEL_COLOURS.get(str(event.get("level") or "").upper())
            return render.paint(line, colour) if colour else line
        if event.get("event_type") in ("workflow_failed", "task_failed"):
            return render.paint(line, "red")
        if event.get("event_type") == "workflow_succeeded":
            return render.paint(line, "green")
        return line

    def failure_line(self, record: dict) -> str:
        """The one-line cause of a failed run: node instance, operation, cause."""
        event = self.last_failure
        if event is not None:
            ctx = event.get("context") or {}
            causes = ctx.get("task_error_causes") or []
            return (f"{ctx.get('node_id')} {ctx.get('operation')} ({ctx.get('task_name')}): "
                    f"{short_cause(causes[-1] if causes else None)}")
        error = (record.get("error") or "").strip()
        return error.splitlines()[0] if error else "no error recorded"


def _retry_interval(home, record: dict) -> float:
    value = record.get("task_retry_interval")
    return float(value) if value is not None else float(load_config(home).task_retry_interval)


def wait_result(home, record: dict, *, keep, verbose: int, timeout: int | None = None,
                before: list[Message] | None = None, tail: bool = False,
                then: Callable[[int], Result | None] | None = None) -> Result:
    """Follow ``record``'s execution until it ends: events while it runs, then cfy's closing
    lines and the exit code of its end status (``then`` may add steps after a success).
    ``tail`` words the messages for ``events list --tail``."""
    execution_id, workflow_id, dep = record["id"], record["workflow_id"], record.get("deployment_id")
    printer = EventPrinter(keep, verbose=verbose, retry_interval=_retry_interval(home, record))
    deadline = None if timeout is None else clock.monotonic() + timeout
    started = time.monotonic()
    events_hint = f"* Run 'cfy events list {execution_id}' to retrieve the execution's events/logs"

    def stream():
        watcher = api.record_watcher(home, execution_id)
        for event in execution_events.follow(home, execution_id, watcher, deadline=deadline):
            if event is None:
                yield None
                continue
            printer.observe(event)
            if keep(event):
                yield event

    def status() -> str:
        total, finished = graphstate.progress(home, execution_id)
        parts = [f"{workflow_id} on {dep}" if dep else workflow_id,
                 f"{finished}/{total} operations" if total else "preparing"]
        if printer.running:
            running = sorted(printer.running.values())
            parts.append("running " + ", ".join(running[:3]) + (f" +{len(running) - 3}" if len(running) > 3 else ""))
        if printer.retries:
            parts.append(f"{printer.retries} retries")
        parts.append(f"{int(time.monotonic() - started)} s")
        return " · ".join(parts)

    def finish(outcome: str) -> Result:
        if outcome == "timeout":
            return Result(exit_code=ExitCode.TIMEOUT, after=[Message(
                f"Timed out waiting for workflow '{workflow_id}' of deployment '{dep}' to end. The execution may "
                f"still be running properly; however, the command-line utility was instructed to wait up to "
                f"{timeout} seconds for its completion.\n\n* Run 'cfy executions list' to determine the "
                f"execution's status.\n* Run 'cfy executions cancel {execution_id}' to cancel the running "
                f"workflow.\n* Run 'cfy events list --tail {execution_id}' to retrieve the execution's events/logs",
                err=True)])
        if outcome == "interrupted":
            return Result(exit_code=ExitCode.INTERRUPTED, after=[Message(
                f"\nStopped waiting; execution {execution_id} keeps running.\n"
                f"* Run 'cfy events list {execution_id} --tail' to follow it\n"
                f"* Run 'cfy executions cancel {execution_id}' to cancel it", err=True)])
        final = records.load(home, execution_id)
        code = exit_code_for(final["status"])
        result = Result(exit_code=code)
        if final["status"] == "failed":
            if verbose:
                result.warn(f"Execution of workflow {workflow_id} for deployment {dep} failed. "
                            f"[error={final.get('error') or ''}]")
            else:
                result.warn(render.paint(f"Execution of workflow {workflow_id} for deployment {dep} failed. "
                                         f"[error={printer.failure_line(final)}]", "red", sys.stderr))
            result.warn(events_hint + ("" if verbose else " (-v shows the whole error)"))
            if not tail and workflow_id == "uninstall" and \
                    str((final.get("parameters") or {}).get("ignore_failure")).lower() != "true":
                result.warn(UNINSTALL_HINT.format(dep=dep))
        elif final["status"] == "cancelled":
            result.warn(f"Execution of workflow {workflow_id} for deployment {dep} was cancelled.")
            if not tail:
                result.warn(events_hint)
        else:
            result.say(f"Finished executing workflow {workflow_id} on deployment {dep}")
            if not tail:
                result.say(events_hint)
            if then is not None:
                more = then(code)
                if more is not None:
                    result.after.extend(more.before + more.after)
                    result.exit_code = more.exit_code
        return result

    return Result(before=list(before or []), stream=Stream(stream(), finish, format=printer.line, status=status))
