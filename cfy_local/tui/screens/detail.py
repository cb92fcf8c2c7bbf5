"""One execution: a header that says how far it got and why it is slow, stuck or waiting,
its operations as a tree (node → instance → operation) with a timeline, and the events of
the operation under the cursor. A finished run can be replayed."""
from __future__ import annotations

import json
import os
from bisect import bisect_right
from datetime import datetime, timedelta

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from cfy_local import clock
from cfy_local.config import load_config
from cfy_local.errors import CfyLocalError
from cfy_local.executions import insight, statuses
from cfy_local.executions.event_stream import is_log
from cfy_local.tui import model, runview
from cfy_local.tui.actions import ExecutionActions
from cfy_local.tui.eventpane import EventPane
from cfy_local.tui.screens import BaseScreen
from cfy_local.tui.table import Column, VirtualTable, fit, layout
from cfy_local.tui.widgets import CLASS_STYLES

# "All events" shows the newest this many; an operation's own events are always all shown.
ALL_EVENTS_MAX = 2000
LEVELS = ("info", "debug", "warning", "error")     # `L` cycles; info hides debug logs
SPEEDS = (1, 10, 100)
PLAY_TICK = 0.1

STATE_STYLES = {
    insight.PENDING: Style(color="bright_black"),
    insight.SENDING: Style(color="cyan"),
    insight.STARTED: Style(color="cyan", bold=True),
    insight.SUCCEEDED: Style(color="green"),
    insight.FAILED: Style(color="red", bold=True),
    insight.RESCHEDULED: Style(color="yellow", bold=True),
}
SLOWEST_STYLE = Style(bold=True, underline=True)
ROW_STYLES = {insight.FAILED: Style(color="red"), insight.RESCHEDULED: Style(color="yellow")}

TREE_COLUMNS = [
    Column("label", "operation", min_width=16),
    Column("state", "state", width=11),
    Column("retry", "retry", width=5),
    Column("start", "start", width=8, min_screen=70),
    Column("duration", "took", width=7),
    Column("timeline", "timeline", min_width=10, min_screen=120),
]
TIMELINE_COLUMNS = [
    Column("label", "operation", min_width=14),
    Column("duration", "took", width=7),
    Column("timeline", "timeline", min_width=10),
]


def progress_bar(done: int, total: int, failed: int, width: int) -> Text:
    """``██████░░░░ 12/30`` — green for done, red share for failed."""
    text = Text()
    if total <= 0:
        text.append("░" * width, style="bright_black")
        return text
    ok_cells = int(width * max(0, done - failed) / total)
    bad_cells = min(width - ok_cells, -(-width * failed // total) if failed else 0)
    text.append("█" * ok_cells, style="green")
    text.append("█" * bad_cells, style="red")
    text.append("░" * (width - ok_cells - bad_cells), style="bright_black")
    return text


def _level_ok(event: dict, level: str) -> bool:
    if level == "debug":
        return True
    if level == "error":
        return insight.is_error_event(event)
    if is_log(event):
        value = (event.get("level") or "info").lower()
        if level == "info":
            return value != "debug"
        return value in ("warning", "error", "critical")
    if level == "warning":
        return event.get("event_type") in ("task_failed", "task_rescheduled", "workflow_failed",
                                           "workflow_cancelled") or insight.is_error_event(event)
    return True


class OpsTable(VirtualTable):
    """The operations tree; its header shows the timeline's time axis."""

    header_labels: dict[str, str] = {}

    def render_line(self, y: int):
        if y == 0 and self.header_labels:
            saved = self.columns
            self.columns = [Column(c.key, self.header_labels.get(c.key, c.label), c.width, c.min_width, c.min_screen)
                            for c in saved]
            try:
                return super().render_line(y)
            finally:
                self.columns = saved
        return super().render_line(y)


class ExecutionScreen(ExecutionActions, BaseScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("e", "first_error", "First error"),
        Binding("E", "errors_only", "Errors only"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("n", "next_hit(1)", "Next hit", show=False),
        Binding("N", "next_hit(-1)", "Previous hit", show=False),
        Binding("t", "timeline", "Timeline"),
        Binding("F", "problems", "Failed/retrying only", show=False),
        Binding("asterisk", "fold_all", "Fold all", key_display="*", show=False),
        Binding("tab", "switch_pane", "Pane", show=False),
        Binding("z", "zoom_pane", "Zoom pane", show=False),
        Binding("x", "expand_frames", "Frames", show=False),
        Binding("L", "level", "Level", show=False),
        Binding("l", "toggle_logs", "Logs", show=False),
        Binding("plus,equals_sign", "zoom(2)", "Zoom in", show=False),
        Binding("minus", "zoom(0.5)", "Zoom out", show=False),
        Binding("less_than_sign", "pan(-1)", "Pan left", show=False),
        Binding("greater_than_sign", "pan(1)", "Pan right", show=False),
        Binding("space", "play", "Replay"),
        Binding("left", "seek(-1)", "Seek back", show=False),
        Binding("right", "seek(1)", "Seek on", show=False),
        Binding("s", "speed", "Speed", show=False),
        Binding("d", "deployment", "Deployment"),
        Binding("c", "cancel", "Cancel"),
        Binding("f", "force_cancel", "Force-cancel", show=False),
        Binding("k", "kill", "Kill", show=False),
        Binding("r", "resume", "Resume"),
    ]

    def __init__(self, execution_id: str, *, jump_to_error: bool = False):
        super().__init__()
        self.execution_id = execution_id
        self.jump_to_error = jump_to_error
        self.tail: model.EventTail | None = None
        self.tracker = insight.RunTracker()
        self._graph_signature: tuple | None = None
        self.rows: list[runview.Row] = []
        self.row_by_key: dict[str, runview.Row] = {}
        self.row_keys: list[str] = []
        self.selected = runview.RUN_KEY
        self.show_logs = True
        self.level = "info"
        self._level_before_errors = "info"
        self.timeline_mode = False
        self.zoom = 1.0
        self.pan_offset = 0.0
        self.pane_zoomed = False
        self.needle = ""
        self.hit_positions: list[int] = []
        self.hit = -1
        self.replay_at: datetime | None = None
        self.playing = False
        self.speed = 1
        self._replay: insight.RunTracker | None = None
        self._replay_fed = 0
        self._play_timer = None
        self._retry_interval = None
        self._scope_signature: tuple | None = None
        self._jumped = False
        self._slowest: str | None = None
        self.all_rows: list[runview.Row] = []
        self.folded: set[str] = set()
        self.problems_only = False

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static(id="details")
        yield OpsTable(TREE_COLUMNS, self.row_cells, id="ops")
        yield Static(id="events-title")
        yield EventPane(id="events")
        yield Input(placeholder="search events (Enter keeps, Esc clears; n/N next/previous)", id="search")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.tail = model.EventTail(self.app.home.events_file(self.execution_id))
        self.query_one("#search", Input).display = False
        self.pane.on_follow_change = self.update_badge
        self.table.focus()
        record = self.record
        if record is not None:
            self._retry_interval = insight.retry_intervals(self.app.home, record)
        # BaseScreen.on_mount (the first draw) runs after this handler: Textual calls the
        # handler of every class in the hierarchy

    # --- data --------------------------------------------------------------------------

    @property
    def record(self) -> dict | None:
        return self.app.executions.index.get(self.execution_id)

    @property
    def table(self) -> OpsTable:
        return self.query_one(OpsTable)

    @property
    def pane(self) -> EventPane:
        return self.query_one(EventPane)

    @property
    def shown(self) -> insight.RunTracker:
        """The tracker drawn: the live one, or the replay's at its moment."""
        return self._replay if self.replay_at is not None and self._replay is not None else self.tracker

    def current_execution_id(self) -> str | None:
        return self.execution_id

    def _read(self) -> bool:
        """Take new events and a changed graph.json. True if anything changed."""
        changed = False
        new = self.tail.poll()
        if new:
            self.tracker.feed(new)
            changed = True
        path = self.app.home.graph_file(self.execution_id)
        try:
            st = os.stat(path, follow_symlinks=False)
            signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        except (FileNotFoundError, CfyLocalError):
            signature = None
        if signature is not None and signature != self._graph_signature:
            self._graph_signature = signature
            self.tracker.set_graph(insight.load_graph(self.app.home, self.execution_id))
            changed = True
        return changed

    def refresh_view(self) -> None:
        changed = False
        if not self.app.paused and self.tail is not None:
            changed = self._read()
        if changed or not self.rows:
            self.rebuild_rows()
        if not self._jumped and self.rows:
            self._jumped = True
            record = self.record or {}
            if self.jump_to_error or record.get("status") == "failed":
                self.action_first_error(quiet=True)
            elif statuses.is_active(record.get("status") or ""):
                # a run retrying an operation opens on it (the first to try again)
                retrying = insight.retrying(self.shown, self._retry_interval)
                if retrying:
                    self.table.move_to_key(retrying[0].operation.key)
                    self.selected = retrying[0].operation.key
        self.update_header()
        self.update_axis()
        self.table.refresh()
        self.update_events(changed)
        self.refresh_bindings()

    def rebuild_rows(self) -> None:
        record = self.record or {}
        label = f"{record.get('workflow_id') or 'workflow'} (all events)"
        self.all_rows = runview.build_rows(self.shown, label)
        self.rows = runview.visible_rows(self.all_rows, self.folded, problems_only=self.problems_only)
        now = self.replay_at or clock.now()
        timed = [(op.duration(now) or 0.0, op.key) for op in self.shown.operations.values() if op.started]
        self._slowest = max(timed)[1] if timed else None
        self.row_by_key = {row.key: row for row in self.all_rows}  # folded ones too
        self.row_keys = [row.key for row in self.rows]
        self.table.empty_text = "no operations"
        if self.selected not in self.row_by_key and self.selected.startswith("~"):
            # an operation known from its events got its graph.json entry: follow it
            task_id = self.selected[1:]
            moved = next((op.key for op in self.shown.operations.values() if op.task_id == task_id), None)
            if moved is not None:
                self.table.rename_cursor_key(moved)
                self.selected = moved
        self.table.set_rows(self.row_keys)

    # --- header ------------------------------------------------------------------------

    def update_header(self) -> None:
        record = self.record
        details = self.query_one("#details", Static)
        if record is None:
            details.update(Text(f"Execution {self.execution_id} is gone from the state directory", style="red"))
            return
        now = clock.now()
        width = max(40, self.size.width or 80)
        status = record["status"]
        text = Text()
        text.append(f"{record.get('workflow_id')} ", style="bold")
        text.append(f"on {record.get('deployment_id') or '(system)'}  ")
        text.append(record.get("status_display") or statuses.display(status),
                    style=CLASS_STYLES[model.status_class(status)])
        flags = [name for name in ("forced", "is_dry_run", "resume") if record.get(name)]
        if flags:
            text.append(" (" + ", ".join(flags) + ")", style="dim")
        started = model.short_time(record.get("started_at"))
        if started:
            text.append(f"  started {started[11:] if width < 100 else started}")
        duration = model.format_duration(model.duration_seconds(record, now))
        if duration:
            text.append(f" ({duration})")
        text.append(f"  {self.execution_id if width >= 100 else self.execution_id[:8]}", style="dim")
        if width < 100 and record.get("worker_pid") and statuses.is_active(status):
            text.append(f"  pid {record['worker_pid']}", style="dim")
        text.append("\n")
        shown = self.shown
        counts = shown.counts()
        total = counts["total"] or (record.get("total_operations") or 0)
        done = counts["done"] if counts["total"] else (record.get("finished_operations") or 0)
        failed = counts[insight.FAILED]
        summary = f" {done}/{total} ops" if counts["known"] or not statuses.is_active(status) else (
            f" {done}/{total or '?'}+ ops (total known once the first one ends)")
        if failed:
            summary += f" ({done - failed} ok, {failed} failed)"
        running = counts[insight.STARTED] + counts[insight.SENDING]
        if running:
            summary += f", {running} running"
        if counts[insight.RESCHEDULED]:
            summary += f", {counts[insight.RESCHEDULED]} retrying"
        if self.replay_at is not None:
            summary += "  " + self.replay_text()
        text.append_text(progress_bar(done, total, failed, max(10, min(40, width - len(summary) - 2))))
        text.append(summary)
        others = self.app.executions.index.values() if status == "queued" else ()
        try:
            cap = load_config(self.app.home).max_concurrent_workflows if status == "queued" else None
        except (OSError, ValueError, CfyLocalError):
            cap = None
        facts_of, moment = record, now
        if self.replay_at is not None:
            # at that moment of the replay the run was still going, and had not failed
            facts_of, moment = dict(record, status="started", error=None, wait_after_fail=None), self.replay_at
        why = runview.why_lines(facts_of, shown, others=others, maintenance=self.app.maintenance,
                                max_concurrent=cap, retry_interval=self._retry_interval, now=moment)
        for number, (line, kind) in enumerate(why[:3]):
            text.append("\n")
            # the first reason may take two rows, the others one: the whole text is in the
            # events pane (e jumps there)
            rows = 2 if number == 0 and len(why) < 3 else 1
            shown_line = line if len(line) <= width * rows else fit(line, width * rows - 4)
            text.append(shown_line.rstrip(), style=CLASS_STYLES.get(kind, Style()))
        worker = record.get("worker_pid")
        parameters = record.get("parameters") or {}
        extra = []
        if worker and statuses.is_active(status) and width >= 100:
            extra.append(f"worker pid {worker}")
        if parameters and width >= 100:
            extra.append("parameters " + json.dumps(parameters, sort_keys=True, default=str))
        if extra:
            text.append("\n" + "  ".join(extra), style="dim")
        details.update(text)

    def replay_text(self) -> str:
        start, end = self._run_span()
        at = self.replay_at
        position = insight.format_seconds((at - start).total_seconds()) if start and at else "0ms"
        length = insight.format_seconds((end - start).total_seconds()) if start and end else "?"
        state = "▶" if self.playing else "⏸"
        return f"REPLAY {state} {position} / {length} ×{self.speed}"

    # --- the table ---------------------------------------------------------------------

    def _run_span(self) -> tuple[datetime | None, datetime | None]:
        record = self.record or {}
        start = model._parse(record.get("started_at")) or self.tracker.started
        end = model._parse(record.get("ended_at"))
        if end is None:
            end = clock.now() if record and statuses.is_active(record["status"]) else self.tracker.last_event
        if start is not None and self.tracker.started is not None and self.tracker.started < start:
            start = self.tracker.started
        return start, end

    def _timeline_width(self) -> int:
        width = self.table.scrollable_content_region.width or self.table.size.width
        for column, size in layout(self.table.columns, width):
            if column.key == "timeline":
                return size
        return 0

    def axis(self) -> runview.Axis | None:
        start, end = self._run_span()
        return runview.make_axis(start, end, self._timeline_width(), zoom=self.zoom, offset=self.pan_offset)

    def update_axis(self) -> None:
        table = self.table
        wide = (table.size.width or 80) >= 120
        table.columns = TIMELINE_COLUMNS if self.timeline_mode and not wide else TREE_COLUMNS
        axis = self.axis()
        labels = {}
        if axis is not None:
            labels["timeline"] = runview.axis_label(axis)
        table.header_labels = labels

    def row_cells(self, key: str):
        row = self.row_by_key.get(key)
        if row is None:
            return {}, None, {}
        now = self.replay_at or clock.now()
        indent = "  " * row.depth
        values: dict[str, str] = {}
        styles: dict[str, Style] = {}
        row_style = None
        if row.kind == "op":
            op = row.op
            state = op.shown_state
            values["label"] = indent + row.label
            values["state"] = state
            values["retry"] = runview.retry_text(op)
            values["start"] = op.started.strftime("%H:%M:%S") if op.started else ""
            values["duration"] = insight.format_seconds(op.duration(now))
            styles["state"] = STATE_STYLES.get(state, Style())
            if op.key == self._slowest:
                styles["duration"] = SLOWEST_STYLE  # the slow operation stands out
            row_style = ROW_STYLES.get(state)
            started, ended = op.started, None
            if op.started is not None:
                ended = op.started + timedelta(seconds=op.duration(now) or 0)
        else:
            summary, state = runview.summary_state(row.ops)
            marker = "" if row.kind == "run" else ("▸ " if row.key in self.folded else "▾ ")
            values["label"] = indent + marker + row.label
            values["state"] = summary
            styles["state"] = STATE_STYLES.get(state, Style())
            styles["label"] = Style(bold=True)
            if row.kind != "run" and state in ROW_STYLES:
                row_style = ROW_STYLES[state]
            started = row.started()
            ended = row.ended(now)
            if started is not None and ended is not None:
                values["duration"] = insight.format_seconds((ended - started).total_seconds())
            values["start"] = started.strftime("%H:%M:%S") if started else ""
        axis = self.axis()
        if axis is not None:
            values["timeline"] = runview.bar(axis, started, ended, self.replay_at)
            styles["timeline"] = STATE_STYLES.get(state, Style()) if row.kind == "op" else Style(color="blue")
        return values, row_style, styles

    def on_virtual_table_highlighted(self, message: VirtualTable.Highlighted) -> None:
        if message.table is self.table and message.key:
            self.selected = message.key
            self.update_events(True)

    def on_virtual_table_selected(self, message: VirtualTable.Selected) -> None:
        """Enter folds or unfolds a node or an instance; on an operation it moves to its
        events."""
        row = self.row_by_key.get(message.key)
        if row is not None and row.kind in ("node", "instance"):
            self.folded.symmetric_difference_update({row.key})
            self.rebuild_rows()
            return
        self.pane.focus()

    def action_fold_all(self) -> None:
        """Fold every node (or unfold all when some are folded)."""
        nodes = {row.key for row in self.all_rows if row.kind == "node"}
        self.folded = set() if self.folded else nodes
        self.rebuild_rows()

    def action_problems(self) -> None:
        self.problems_only = not self.problems_only
        self.rebuild_rows()

    # --- events ------------------------------------------------------------------------

    def scope_entries(self) -> list[int]:
        """The events of the row under the cursor (all events for the run row)."""
        shown = self.shown
        row = self.row_by_key.get(self.selected)
        if row is None or row.kind == "run":
            entries = range(len(shown.events))
        elif row.kind == "op":
            entries = row.op.events
        else:
            instances = {op.instance for op in row.ops}
            wanted = set()
            for op in row.ops:
                wanted.update(op.events)
            for index in shown.workflow_events:
                if (shown.events[index].get("context") or {}).get("node_id") in instances:
                    wanted.add(index)
            entries = sorted(wanted)
        out = []
        events = shown.events
        for index in entries:
            event = events[index]
            if is_log(event) and not self.show_logs and not insight.is_error_event(event):
                continue
            if _level_ok(event, self.level):
                out.append(index)
        return out

    def update_events(self, changed: bool) -> None:
        pane = self.pane
        shown = self.shown
        signature = (self.selected, self.level, self.show_logs, id(shown), self.replay_at is None)
        if signature == self._scope_signature and not changed:
            self.update_badge()
            return
        entries = self.scope_entries()
        capped = 0
        row = self.row_by_key.get(self.selected)
        if (row is None or row.kind == "run") and len(entries) > ALL_EVENTS_MAX:
            capped = len(entries) - ALL_EVENTS_MAX
            entries = entries[-ALL_EVENTS_MAX:]
        self._capped = capped
        same_scope = signature == self._scope_signature and pane.source is shown.events
        if same_scope and entries[: len(pane.entries)] == pane.entries and not capped:
            pane.append(entries[len(pane.entries):])
        else:
            pane.set_entries(shown.events, entries)
        self._scope_signature = signature
        if self.needle:
            self._find(keep=True)
        self.update_badge()

    _capped = 0

    def update_badge(self) -> None:
        pane = self.pane
        row = self.row_by_key.get(self.selected)
        what = "all events" if row is None or row.kind == "run" else (
            row.op.label if row.kind == "op" else row.label)
        text = Text(f" {what}: {len(pane.entries)}", style="bold")
        if self._capped:
            text.append(f" (newest; {self._capped} earlier — pick an operation)", style="dim")
        if self.tail is not None and self.tail.skipped_bytes:
            text.append(f" (+{self.tail.skipped_bytes // 1024} KiB earlier: cfy events list)", style="dim")
        text.append(f"  level {self.level}" + ("" if self.show_logs else " no logs"))
        if self.needle:
            hits = len(self.hit_positions)
            text.append(f"  /{self.needle} {self.hit + 1 if hits else 0}/{hits}", style="bold yellow")
        if pane.following:
            text.append("  FOLLOWING", style="bold reverse green")
        else:
            text.append("  End follows", style="yellow")
        self.query_one("#events-title", Static).update(text)

    # --- failures first ----------------------------------------------------------------

    def action_first_error(self, quiet: bool = False) -> None:
        shown = self.shown
        failed = shown.first_failed()
        if failed is not None:
            unfold = {f"n:{failed.node}", f"i:{failed.instance}"} & self.folded
            if unfold:
                self.folded -= unfold
                self.rebuild_rows()
            self.table.move_to_key(failed.key)
            self.selected = failed.key
            self.update_events(True)
            pane = self.pane
            if failed.error_event is not None and failed.error_event in pane.entries:
                pane.show_entry(pane.entries.index(failed.error_event))
            self.update_badge()
            return
        if shown.first_error is not None:
            self.table.move_to_key(runview.RUN_KEY)
            self.selected = runview.RUN_KEY
            self.update_events(True)
            pane = self.pane
            if shown.first_error in pane.entries:
                pane.show_entry(pane.entries.index(shown.first_error))
            self.update_badge()
            return
        if not quiet:
            self.app.show_command("", "no error in this run")

    def action_errors_only(self) -> None:
        if self.level == "error":
            self.level = self._level_before_errors
        else:
            self._level_before_errors = self.level
            self.level = "error"
        self.update_events(True)

    def action_level(self) -> None:
        self.level = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)]
        self.update_events(True)

    def action_toggle_logs(self) -> None:
        self.show_logs = not self.show_logs
        self.update_events(True)

    def action_expand_frames(self) -> None:
        self.pane.set_expand(not self.pane.expand)

    # --- search ------------------------------------------------------------------------

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.display = True
        box.value = self.needle
        box.focus()

    def on_input_changed(self, message: Input.Changed) -> None:
        if message.input.id == "search":
            self.needle = message.value
            self.pane.needle = self.needle
            self._find(keep=False)

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input.id == "search":
            message.input.display = False
            self.pane.focus()

    def _find(self, *, keep: bool) -> None:
        pane = self.pane
        self.hit_positions = pane.hits()
        if not self.hit_positions:
            self.hit = -1
            pane.current_hit = None
        elif not keep or self.hit < 0 or self.hit >= len(self.hit_positions):
            top = pane.entry_at_top() if not pane.following else 0
            self.hit = next((i for i, pos in enumerate(self.hit_positions) if pos >= top), 0)
            pane.current_hit = self.hit_positions[self.hit]
            pane.show_entry(pane.current_hit)
        pane.refresh()
        self.update_badge()

    def action_next_hit(self, step: int) -> None:
        if not self.hit_positions:
            return
        self.hit = (self.hit + step) % len(self.hit_positions)
        pane = self.pane
        pane.current_hit = self.hit_positions[self.hit]
        pane.show_entry(pane.current_hit)
        self.update_badge()

    def clear_search(self) -> bool:
        box = self.query_one("#search", Input)
        if not self.needle and not box.display:
            return False
        box.value = ""
        box.display = False
        self.needle = ""
        self.pane.needle = ""
        self.pane.current_hit = None
        self.hit_positions = []
        self.pane.refresh()
        self.table.focus()
        self.update_badge()
        return True

    # --- views -------------------------------------------------------------------------

    def action_timeline(self) -> None:
        self.timeline_mode = not self.timeline_mode
        self.update_axis()
        self.table.refresh()

    def action_zoom(self, factor: float) -> None:
        self.zoom = max(1.0, min(64.0, self.zoom * factor))
        self.pan_offset = min(self.pan_offset, 1 - 1 / self.zoom)
        if self._timeline_width() == 0:
            self.timeline_mode = True
        self.update_axis()
        self.table.refresh()

    def action_pan(self, direction: int) -> None:
        step = 0.25 / self.zoom
        self.pan_offset = max(0.0, min(1 - 1 / self.zoom, self.pan_offset + direction * step))
        self.update_axis()
        self.table.refresh()

    def action_switch_pane(self) -> None:
        (self.pane if self.table.has_focus else self.table).focus()

    def action_zoom_pane(self) -> None:
        self.pane_zoomed = not self.pane_zoomed
        self.table.display = not self.pane_zoomed
        if self.pane_zoomed:
            self.pane.focus()
        else:
            self.table.focus()

    # --- replay ------------------------------------------------------------------------

    def _ended(self) -> bool:
        record = self.record
        return record is not None and statuses.is_end(record["status"])

    _times_cache: tuple[int, list[datetime]] = (-1, [])

    def _task_times(self) -> list[datetime]:
        """The moments a task or the workflow changed state: the steps of ←/→."""
        if self._times_cache[0] == len(self.tracker.events):
            return self._times_cache[1]
        times = []
        for event in self.tracker.events:
            if event.get("event_type") in ("workflow_started", "sending_task", "task_started", "task_succeeded",
                                           "task_failed", "task_rescheduled", "workflow_succeeded",
                                           "workflow_failed", "workflow_cancelled"):
                when = insight.event_time(event)
                if when is not None:
                    times.append(when)
        self._times_cache = (len(self.tracker.events), sorted(set(times)))
        return self._times_cache[1]

    def set_replay(self, at: datetime | None) -> None:
        """Show the run as it was at ``at`` (None: leave replay)."""
        if at is None:
            self.replay_at = None
            self._replay = None
            self._stop_timer()
        else:
            start, end = self._run_span()
            if start is not None and at < start:
                at = start
            if end is not None and at > end:
                at = end
            if self._replay is None or self.replay_at is None or at < self.replay_at:
                graph = insight.load_graph(self.app.home, self.execution_id)
                self._replay = insight.RunTracker(graph, until=at)
                self._replay_fed = 0
            self._replay.until = at
            events = self.tracker.events
            feed_to = self._replay_fed
            while feed_to < len(events):
                when = insight.event_time(events[feed_to])
                if when is not None and when > at:
                    break
                feed_to += 1
            self._replay.feed(events[self._replay_fed:feed_to])
            self._replay_fed = feed_to
            self.replay_at = at
            self.pane.following = True  # the newest event at that moment is in view
        self._scope_signature = None
        self.rebuild_rows()
        self.update_header()
        self.update_axis()
        self.table.refresh()
        self.update_events(True)
        self.refresh_bindings()

    def action_play(self) -> None:
        if not self._ended():
            return
        if self.replay_at is None:
            start, _ = self._run_span()
            self.set_replay(start)
        self.playing = not self.playing
        if self.playing:
            _, end = self._run_span()
            if end is not None and self.replay_at is not None and self.replay_at >= end:
                self.set_replay(self._run_span()[0])
            self._play_timer = self.set_interval(PLAY_TICK, self.play_tick)
        else:
            self._stop_timer()
        self.update_header()

    def _stop_timer(self) -> None:
        self.playing = False
        if self._play_timer is not None:
            self._play_timer.stop()
            self._play_timer = None

    def play_tick(self, seconds: float = PLAY_TICK) -> None:
        if self.replay_at is None:
            return
        _, end = self._run_span()
        at = self.replay_at + timedelta(seconds=seconds * self.speed)
        if end is not None and at >= end:
            at = end
            self._stop_timer()
        self.set_replay(at)

    def action_seek(self, direction: int) -> None:
        if not self._ended():
            return
        times = self._task_times()
        if not times:
            return
        if self.replay_at is None:
            self.set_replay(times[0] if direction > 0 else times[-1])
            return
        position = bisect_right(times, self.replay_at)
        if direction > 0:
            target = times[position] if position < len(times) else times[-1]
        else:
            index = position - 2 if position >= 1 and times[position - 1] == self.replay_at else position - 1
            target = times[max(0, index)]
        self.set_replay(target)

    def action_speed(self) -> None:
        self.speed = SPEEDS[(SPEEDS.index(self.speed) + 1) % len(SPEEDS)]
        self.update_header()

    # --- elsewhere ---------------------------------------------------------------------

    def action_deployment(self) -> None:
        record = self.record or {}
        if not record.get("deployment_id"):
            self.app.show_command("", "a system execution has no deployment", error=True)
            return
        self.app.open_view("deployment", record["deployment_id"])

    def check_action(self, action: str, parameters) -> bool | None:
        record = self.record
        if record is None:
            return True
        status = record["status"]
        if action == "resume":
            return status in statuses.RESUMABLE
        if action in ("cancel", "force_cancel", "kill"):
            return not statuses.is_end(status)
        if action in ("seek", "speed", "play"):
            return statuses.is_end(status)  # a live run: space refreshes (the app's key)
        return True

    def action_back(self) -> None:
        if self.clear_search():
            return
        if self.replay_at is not None:
            self.set_replay(None)
            return
        self.app.pop_screen()
