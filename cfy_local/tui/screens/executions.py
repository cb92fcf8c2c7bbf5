"""The executions screen: a live table of every execution (the TUI's home screen)."""
from __future__ import annotations

import time

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from cfy_local import clock
from cfy_local.executions import statuses
from cfy_local.executions.index import order_key
from cfy_local.tui import model, why
from cfy_local.tui.actions import ExecutionActions
from cfy_local.tui.screens import BaseScreen
from cfy_local.tui.table import Column, VirtualTable
from cfy_local.tui.widgets import CLASS_STYLES

COLUMNS = [
    Column("id", "id", width=8),
    Column("deployment_id", "deployment", min_width=8),
    Column("workflow_id", "workflow", min_width=8),
    Column("status", "status", width=16),
    Column("created_at", "created", width=14),
    Column("started_at", "started", width=14, min_screen=110),
    Column("duration", "duration", width=8),
    Column("progress", "progress", width=9),
]
WIDE_COLUMNS = [
    Column("id", "id", width=36),
    Column("deployment_id", "deployment", min_width=10),
    Column("workflow_id", "workflow", min_width=10),
    Column("status", "status", width=16),
    Column("created_at", "created", width=19),
    Column("started_at", "started", width=19),
    Column("duration", "duration", width=9),
    Column("progress", "progress", width=9),
]
WIDE_AT = 150
SORT_LABELS = {"created_at": "created", "started_at": "started", "status": "status",
               "deployment_id": "deployment", "workflow_id": "workflow", "duration": "duration"}


class ExecutionsScreen(ExecutionActions, BaseScreen):
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("e", "open_error", "First error"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("1", "status_filter('active')", "Active", show=False),
        Binding("2", "status_filter('queued')", "Queued", show=False),
        Binding("3", "status_filter('failed')", "Failed", show=False),
        Binding("4", "status_filter('all')", "All", show=False),
        Binding("s", "sort", "Sort"),
        Binding("o", "order", "Reverse order", show=False),
        Binding("y", "system", "System workflows", show=False),
        Binding("n", "start", "Start"),
        Binding("c", "cancel", "Cancel"),
        Binding("f", "force_cancel", "Force-cancel", show=False),
        Binding("k", "kill", "Kill", show=False),
        Binding("r", "resume", "Resume", show=False),
        Binding("S", "schedules", "Schedules"),
    ]

    def __init__(self, deployment_id: str | None = None):
        super().__init__()
        self.deployment_id = deployment_id
        self._saved_deployment: str | None = None
        self._why_signature: tuple | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static(id="info")
        yield VirtualTable(COLUMNS, self.row_cells, id="executions")
        yield Static(id="why")
        yield Input(placeholder="filter by id, deployment or workflow (Enter keeps, Esc clears)", id="filter")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        if self.deployment_id is not None:
            # a deployment's executions: the shared table shows only them until Esc
            self._saved_deployment = self.data.view.deployment_id
            self.data.view.deployment_id = self.deployment_id
            self.data.settings_changed()
            self.app.show_command(self.app.cfy_command("executions", "list", "-d", self.deployment_id))
        self.query_one("#filter", Input).display = False
        self.query_one(VirtualTable).focus()
        super().on_mount()

    @property
    def table(self) -> VirtualTable:
        return self.query_one(VirtualTable)

    @property
    def data(self) -> model.ExecutionsModel:
        return self.app.executions

    def row_cells(self, execution_id: str):
        wide = self.table.size.width >= WIDE_AT
        now = clock.now()
        values = self.data.cells(execution_id, now, wide=wide)
        record = self.data.index.get(execution_id)
        styles = {}
        if record is not None:
            styles["status"] = CLASS_STYLES[model.status_class(record["status"])]
            place = self._queue_places.get(execution_id)
            if place is not None:
                values["status"] += f" #{place}"  # its place in the queue
            if execution_id in self._retrying:
                values["status"] += " ↻"  # an operation waits for its next try
                styles["status"] = CLASS_STYLES["cancelled"]
        return values, None, styles

    def refresh_view(self) -> None:
        table = self.table
        table.columns = WIDE_COLUMNS if table.size.width >= WIDE_AT else COLUMNS
        table.empty_text = ("no executions match (4 shows all, Esc clears the filter)" if len(self.data.index) else
                            "no executions yet: press n to start one, or run "
                            "cfy executions start WORKFLOW -d DEPLOYMENT")
        table.set_rows(self.data.row_ids)
        self.mark_retrying()
        self.query_one("#info", Static).update(self.info_text())
        self.show_why(table.cursor_key)
        self.refresh_bindings()

    def mark_retrying(self) -> None:
        """Which active runs on screen are retrying an operation: once per refresh, for the
        visible rows only (their events are read incrementally)."""
        table = self.table
        top = int(table.scroll_y)
        visible = table.keys[top:top + (table.size.height or 50)]
        found = set()
        for execution_id in visible:
            record = self.data.index.get(execution_id)
            if record is not None and statuses.is_active(record["status"]) and why.retrying_now(self.app, record):
                found.add(execution_id)
        self._retrying = found
        # every queued run's place in the queue (oldest first, as the queue drains): one
        # pass over the records in memory, a millisecond at 10,000
        queued = sorted((r for r in self.data.index.values() if r["status"] == "queued"), key=order_key)
        self._queue_places = {r["id"]: place for place, r in enumerate(queued, start=1)}

    _retrying: set = frozenset()
    _queue_places: dict = {}

    def on_virtual_table_highlighted(self, message: VirtualTable.Highlighted) -> None:
        self.show_why(message.key)
        self.refresh_bindings()

    def show_why(self, execution_id: str | None) -> None:
        """The highlighted run's reason for being slow, stuck or waiting (one or two lines)."""
        box = self.query_one("#why", Static)
        record = self.data.index.get(execution_id) if execution_id else None
        # once per second per version of the record: a queued run's facts scan every record
        signature = (execution_id, id(record), int(time.monotonic()), self.app.maintenance)
        if signature == self._why_signature:
            return
        self._why_signature = signature
        lines = why.lines(self.app, record) if record is not None else []
        text = Text()
        for number, (line, kind) in enumerate(lines[:2]):
            if number:
                text.append("\n")
            text.append(line, style=CLASS_STYLES.get(kind, Style()))
        box.update(text)
        box.display = bool(lines)

    def check_action(self, action: str, parameters) -> bool | None:
        record = self.data.index.get(self.table.cursor_key) if self.table.cursor_key else None
        if record is None:
            return True
        if action == "resume":
            return record["status"] in statuses.RESUMABLE
        if action in ("cancel", "force_cancel", "kill"):
            return not statuses.is_end(record["status"])
        return True

    def info_text(self) -> Text:
        view = self.data.view
        counts = self.data.counts()
        text = Text()
        for number, name in enumerate(("active", "queued", "failed", "all"), start=1):
            style = Style(reverse=True, bold=True) if view.status_filter == name else Style(dim=False)
            text.append(f"{number}:{name} {counts[name]}", style=style)
            text.append(" ")
        arrow = "↓" if view.descending else "↑"
        text.append(f" sort: {SORT_LABELS[view.sort_by]}{arrow}")
        if view.deployment_id:
            text.append(f"  -d {view.deployment_id}", style="bold")
        if view.text:
            text.append("  /", style="bold")
            text.append(view.text, style="bold underline")
        if view.include_system:
            text.append("  +system")
        return text

    def current_execution_id(self) -> str | None:
        return self.table.cursor_key

    # --- keys ----------------------------------------------------------------------------

    def on_virtual_table_selected(self, message: VirtualTable.Selected) -> None:
        self.open_execution(message.key)

    def action_open(self) -> None:
        key = self.table.cursor_key
        if key:
            self.open_execution(key)

    def open_execution(self, execution_id: str, *, jump_to_error: bool = False) -> None:
        from cfy_local.tui.screens.detail import ExecutionScreen

        self.app.push_screen(ExecutionScreen(execution_id, jump_to_error=jump_to_error))

    def action_open_error(self) -> None:
        """Straight to the first failing operation of the highlighted run and its cause."""
        key = self.table.cursor_key
        if key:
            self.open_execution(key, jump_to_error=True)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.data.view.text
        box.focus()

    def on_input_changed(self, message: Input.Changed) -> None:
        if message.input.id != "filter":
            return
        self.data.view.text = message.value.strip()
        self.apply_view()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input.id == "filter":
            message.input.display = False
            self.table.focus()

    def on_unmount(self) -> None:
        if self.deployment_id is not None:
            self.data.view.deployment_id = self._saved_deployment
            self.data.settings_changed()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.display and not self.data.view.text and self.deployment_id is not None:
            self.app.pop_screen()  # Esc goes back along the path
            return
        box.value = ""
        box.display = False
        self.data.view.text = ""
        self.table.focus()
        self.apply_view()

    def action_status_filter(self, name: str) -> None:
        self.data.view.status_filter = name
        table = self.table
        self.data.settings_changed()
        # The cursor goes to the first row of the new list unless its run is in it (it
        # stayed at the same position, on a run the user never picked).
        if table.cursor_key not in set(self.data.row_ids):
            table.cursor, table._cursor_key = 0, None
            table.scroll_to(y=0, animate=False, force=True)
        self.refresh_view()

    def action_sort(self) -> None:
        columns = model.SORT_COLUMNS
        view = self.data.view
        view.sort_by = columns[(columns.index(view.sort_by) + 1) % len(columns)]
        self.apply_view()

    def action_order(self) -> None:
        self.data.view.descending = not self.data.view.descending
        self.apply_view()

    def action_system(self) -> None:
        self.data.view.include_system = not self.data.view.include_system
        self.apply_view()

    def apply_view(self) -> None:
        """Filter/sort changed: recompute the order now (no file is re-read)."""
        self.data.settings_changed()
        self.refresh_view()

    def action_schedules(self) -> None:
        from cfy_local.tui.screens.schedules import SchedulesScreen

        self.app.push_screen(SchedulesScreen())

    def action_start(self) -> None:
        from cfy_local.tui.screens.start import StartScreen

        record = self.data.index.get(self.table.cursor_key) if self.table.cursor_key else None
        deployment = self.data.view.deployment_id or (record or {}).get("deployment_id")
        self.app.push_screen(StartScreen(deployment), self.started)

    def started(self, record) -> None:
        if record:
            self.app.refresh_state()
            self.refresh_view()
            self.table.move_to_key(record["id"])
