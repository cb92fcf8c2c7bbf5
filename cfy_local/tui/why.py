"""The why-line of the executions list: for the highlighted run, what it waits for or why
it is slow (a retrying operation, wait_after_fail, its place in the queue) or what failed.

The facts come from ``executions.insight``; this module only keeps, for the few runs last
highlighted, the run's tracker fed incrementally from its events and graph.json, so moving
the cursor over the list re-reads nothing that did not change.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

from cfy_local import clock
from cfy_local.config import load_config
from cfy_local.errors import CfyLocalError
from cfy_local.executions import insight, statuses
from cfy_local.tui import model, runview

KEEP = 32  # runs whose trackers are kept (the highlighted one and the active rows on screen)


class _Run:
    def __init__(self, app, execution_id: str):
        self.tail = model.EventTail(app.home.events_file(execution_id))
        self.tracker = insight.RunTracker()
        self.graph_signature: tuple | None = None
        self.retry_interval = None

    def update(self, app, record: dict[str, Any]) -> insight.RunTracker:
        new = self.tail.poll()
        if new:
            self.tracker.feed(new)
        try:
            st = os.stat(app.home.graph_file(record["id"]), follow_symlinks=False)
            signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        except (FileNotFoundError, CfyLocalError):
            signature = None
        if signature is not None and signature != self.graph_signature:
            self.graph_signature = signature
            self.tracker.set_graph(insight.load_graph(app.home, record["id"]))
        if self.retry_interval is None:
            self.retry_interval = insight.retry_intervals(app.home, record)
        return self.tracker


_runs: "OrderedDict[tuple[str, str], _Run]" = OrderedDict()


def _run_of(app, record: dict[str, Any]) -> _Run:
    key = (app.home.root, record["id"])
    run = _runs.get(key)
    if run is None:
        run = _runs[key] = _Run(app, record["id"])
        while len(_runs) > KEEP:
            _runs.popitem(last=False)
    _runs.move_to_end(key)
    return run


def retrying_now(app, record: dict[str, Any]) -> bool:
    """Is an operation of this active run waiting to be retried (the list marks it ↻)?"""
    if not statuses.is_active(record["status"]):
        return False
    tracker = _run_of(app, record).update(app, record)
    return any(op.shown_state == insight.RESCHEDULED for op in tracker.operations.values())


def lines(app, record: dict[str, Any]) -> list[tuple[str, str]]:
    """(text, class) lines for one execution of the list."""
    status = record["status"]
    tracker = None
    run = None
    if statuses.is_active(status) or status == "failed":
        run = _run_of(app, record)
        tracker = run.update(app, record)
    cap = None
    others = ()
    if status == "queued":
        others = app.executions.index.values()
        try:
            cap = load_config(app.home).max_concurrent_workflows
        except (OSError, ValueError, CfyLocalError):
            cap = None
    return runview.why_lines(record, tracker, others=others, maintenance=app.maintenance, max_concurrent=cap,
                             retry_interval=run.retry_interval if run else None, now=clock.now())
