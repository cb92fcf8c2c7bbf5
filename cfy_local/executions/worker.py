"""The detached worker process that runs one execution.

``python -m cfy_local.executions.worker <home> <execution_id>`` — started by
:func:`cfy_local.executions.spawn.spawn` in a new session (so it is its own process group: operation processes it
starts run in that group and ``cancel --kill`` reaches them all), stdin closed, stdout and
stderr appended to ``runs/<id>/worker.log``, with the environment of the command that
started it.

The worker sets ``started``, runs the workflow through ``cfy_local.engine.workflow_run.run_workflow``,
and records the end status in a ``finally`` path whatever happened — a workflow error,
a cancel, or SIGTERM (which means force-cancel). Its last step drains the queue.

Start-up is kept light: the engine (or the snapshot code) is imported only once the record
says the run may start.
"""
from __future__ import annotations

import gc
import json
import os
import signal
import sys
import traceback
from typing import Any

from cfy_local.engine.exceptions import WorkflowCancelled, WorkflowRunFailed
from cfy_local.engine.graphstate import progress
from cfy_local.errors import NotFoundError, StorageError
from cfy_local.executions import statuses, records
from cfy_local.executions.event_stream import make_event
from cfy_local.executions.statuses import Status
from cfy_local.executions.queue import drain
from cfy_local.store.atomic import check_folders
from cfy_local.store.event_log import EventWriter
from cfy_local.store.paths import Home

SNAPSHOT_WORKFLOWS = frozenset({"create_snapshot", "restore_snapshot"})
FINAL_EVENT_TYPES = frozenset({"workflow_succeeded", "workflow_failed", "workflow_cancelled"})
# Space set aside at start (runs/<id>/.reserve) and given back before the end is recorded,
# so a run stopped by a full disk can still write its final event and its status.
RESERVE_BYTES = 64 * 1024
RESERVE_NAME = ".reserve"
DISK_FULL = "No space left on device"


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, StorageError) and DISK_FULL in str(exc)


def _reserve_space(path: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.posix_fallocate(fd, 0, RESERVE_BYTES)
    except OSError:  # no room even for the reserve, or no fallocate here: run without it
        pass
    finally:
        os.close(fd)


def _size(path: str) -> int:
    """Where this attempt's events begin in the log (a resumed run appends to the same file):
    reconcile trusts only a final event written after it."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _release_space(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM: stop now, record ``cancelled``."""


class CancelFlag:
    """What the engine polls between tasks: a cancel request file written by ``cancel``."""

    def __init__(self, path: str, writer: "TrackingWriter | None" = None):
        self.path = path
        self._writer = writer

    def is_set(self) -> bool:
        # A full disk stops the run like a cancel would (between tasks); the worker then
        # records it as failed, naming the full disk.
        if self._writer is not None and self._writer.disk_full:
            return True
        return os.path.exists(self.path)


class TrackingWriter:
    """Wraps the run's EventWriter and holds back the workflow's final event
    (``workflow_succeeded``/``failed``/``cancelled``) until the end status is decided under
    the state lock, so the log's last word and the recorded status always agree — even when
    a cancel request lands after the last task. If the engine wrote no final event (it
    crashed, or the process was terminated), the worker supplies one."""

    def __init__(self, writer):
        self._writer = writer
        self.held_final: dict[str, Any] | None = None
        # The first "No space left on device" met while writing events: the events are
        # dropped from then on (the engine is not interrupted mid-task) and the run stops.
        self.disk_full: str | None = None

    def _guarded(self, call, *args, **kwargs) -> None:
        try:
            call(*args, **kwargs)
        except StorageError as exc:
            if not _is_disk_full(exc):
                raise
            self.disk_full = self.disk_full or str(exc)

    def flush(self, *, durable: bool = False) -> None:
        self._guarded(self._writer.flush, durable=durable)

    @property
    def final_written(self) -> bool:
        return self.held_final is not None

    def write(self, event: dict[str, Any]) -> None:
        if event.get("event_type") in FINAL_EVENT_TYPES:
            self.held_final = event
            return
        self._guarded(self._writer.write, event)

    def write_lines(self, items: list[tuple[str, str]]) -> None:
        kept = []
        for event_type, line in items:
            if event_type in FINAL_EVENT_TYPES:
                self.held_final = json.loads(line)
            else:
                kept.append((event_type, line))
        if kept:
            self._guarded(self._writer.write_lines, kept)

    def release_final(self, record: dict[str, Any], status: str, error: str) -> None:
        """Write the held final event — or, if it disagrees with ``status``, the one that
        matches (a missing final event is supplied the same way)."""
        wanted = {"terminated": "workflow_succeeded", "failed": "workflow_failed",
                  "cancelled": "workflow_cancelled"}[status]
        event = self.held_final
        if event is None or event.get("event_type") != wanted:
            wf = record["workflow_id"]
            lines = (error or "").strip().splitlines()
            text = {"workflow_succeeded": f"'{wf}' workflow execution succeeded",
                    "workflow_failed": f"'{wf}' workflow execution failed: {lines[-1] if lines else ''}",
                    "workflow_cancelled": f"'{wf}' workflow execution cancelled"}[wanted]
            event = make_event(record, wanted, text)
        self.held_final = None
        try:
            self._writer.write(event)
            self._writer.flush(durable=True)
        except StorageError:
            pass  # still no room: the status below is the record of the end

    def __getattr__(self, name: str):
        return getattr(self._writer, name)


def _on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    # Only the first SIGTERM interrupts; the finally path must be allowed to finish.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def _final_event(writer: TrackingWriter, record: dict[str, Any], event_type: str, text: str) -> None:
    if writer.final_written:
        return
    writer.write(make_event(record, event_type, text))


def _record_end(home: Home, execution_id: str, status: str, *, error: str, result: Any,
                writer: TrackingWriter) -> dict[str, Any]:
    """Write the final event and the end status together under the state lock. A workflow
    that finished while being cancelled is recorded ``cancelled`` (the table forbids
    cancelling → terminated) and its final event says so."""
    updates: dict[str, Any] = {"result": result}
    try:
        total, finished = progress(home, execution_id)
        updates.update(total_operations=total, finished_operations=finished)
    except Exception:  # no graph (nothing ran, engine absent): leave the counters unset
        pass
    with records.state_lock(home):
        current = records.load(home, execution_id)
        if statuses.is_end(current["status"]) or current.get("worker_pid") != os.getpid():
            # Already ended (a kill recorded it, with its own final event), or resumed
            # meanwhile under a new worker: this worker has nothing left to record.
            return current
        target = status
        if not statuses.can_transition(current["status"], target):
            target = Status.CANCELLED.value
        if not statuses.can_transition(current["status"], target):
            target = Status.FAILED.value
            error = error or "worker ended"
        writer.release_final(current, target, error)
        return records.set_status(home, execution_id, target, error=error, updates=updates, locked=True)


def run(home: Home, execution_id: str) -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with records.state_lock(home):
            # The starter saves the record naming this process only after the spawn, under
            # this lock. A record that is missing or names another worker means the starter
            # died in between (or this is a stray start): leave everything untouched.
            try:
                record = records.load(home, execution_id)
            except NotFoundError:
                record = None
            if record is None or record.get("worker_pid") != os.getpid() or statuses.is_end(record["status"]):
                return 1
    except Terminated:
        return 1
    writer = TrackingWriter(EventWriter(home.events_file(execution_id)))
    reserve = os.path.join(home.run_dir(execution_id), RESERVE_NAME)
    _reserve_space(reserve)
    outcome, error, result = Status.FAILED.value, "", None
    try:
        with records.state_lock(home):
            current = records.load(home, execution_id)
            if current["status"] != Status.PENDING.value:
                # Cancelled (or force-cancelled) before it could start: nothing runs.
                record = current
                outcome = Status.CANCELLED.value
                _final_event(writer, record, "workflow_cancelled",
                             f"'{record['workflow_id']}' workflow execution cancelled")
                return 0
            record = records.set_status(home, execution_id, Status.STARTED.value, locked=True,
                                        updates={"worker_pid": os.getpid(),
                                                 "events_offset": _size(home.events_file(execution_id))})
        if record["workflow_id"] in SNAPSHOT_WORKFLOWS:
            from cfy_local.executions import snapshots

            result = snapshots.run_system_workflow(home, record, events=writer)
            outcome = Status.TERMINATED.value
            return 0
        # the engine loads once the run may start
        from cfy_local.engine.collector import collect_less_often
        from cfy_local.engine.workflow_run import run_workflow

        collect_less_often()
        try:
            result = run_workflow(
                home, record, events=writer, cancel=CancelFlag(home.cancel_request_file(execution_id), writer),
                task_retries=record.get("task_retries"), task_retry_interval=record.get("task_retry_interval"),
                thread_pool_size=record.get("task_thread_pool_size"))
            outcome = Status.TERMINATED.value
        except WorkflowRunFailed as exc:
            outcome, error = Status.FAILED.value, exc.error or str(exc)
            _final_event(writer, record, "workflow_failed",
                         f"'{record['workflow_id']}' workflow execution failed: {error.splitlines()[0] if error else ''}")
        except WorkflowCancelled:
            outcome = Status.CANCELLED.value
            _final_event(writer, record, "workflow_cancelled", f"'{record['workflow_id']}' workflow execution cancelled")
    except Terminated:
        outcome, error = Status.CANCELLED.value, ""
        _final_event(writer, record, "workflow_cancelled", f"'{record['workflow_id']}' workflow execution cancelled")
    except Exception as exc:  # the engine itself broke: the run failed, say why
        outcome = Status.FAILED.value
        error = "".join(traceback.format_exception(exc))
        full = next((e for e in (exc, exc.__cause__, exc.__context__) if e is not None and _is_disk_full(e)), None)
        if full is not None:
            writer.disk_full = writer.disk_full or str(full)
        _final_event(writer, record, "workflow_failed",
                     f"'{record['workflow_id']}' workflow execution failed: {type(exc).__name__}: {exc}")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # The run's objects are garbage now: collecting them would only delay the recorded
        # end, and this process leaves right after (os._exit).
        gc.disable()
        try:
            writer.flush(durable=True)
        finally:
            _release_space(reserve)
            if not writer.disk_full and DISK_FULL in (error or ""):
                writer.disk_full = next(line.strip() for line in error.splitlines() if DISK_FULL in line)
            if writer.disk_full:
                # Whatever the engine made of it (a cancel, a failed task), the run stopped
                # because the disk is full: say so.
                outcome, error = Status.FAILED.value, f"{writer.disk_full}: the run was stopped"
            _record_end(home, execution_id, outcome, error=error, result=_jsonable(result), writer=writer)
            try:
                writer.close()
            except StorageError:
                pass
    return 0


def _jsonable(value: Any) -> Any:
    import json

    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m cfy_local.worker_process <home> <execution_id>\n")
        return 2
    home = Home(argv[0])
    execution_id = argv[1]
    try:
        try:
            # Where relative paths of operations land (posix_spawn has no cwd to set);
            # never into a folder reached through a planted symlink.
            check_folders(home.run_dir(execution_id), include_last=True)
            os.chdir(home.run_dir(execution_id))
        except OSError:
            pass
        run(home, execution_id)
    finally:
        try:
            drain(home)
        except Exception:
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
    # Leave at once: threads of a force-cancelled workflow must not keep the process alive.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
