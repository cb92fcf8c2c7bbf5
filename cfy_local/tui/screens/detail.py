"""One execution: parameters, timings, error, worker, and its events as they arrive."""
from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import RichLog, Static

from cfy_local import clock
from cfy_local.executions import lifecycle
from cfy_local.executions.events import is_log, render_line
from cfy_local.tui import model
from cfy_local.tui.actions import ExecutionActions
from cfy_local.tui.screens import BaseScreen
from cfy_local.tui.widgets import CLASS_STYLES


# The pane keeps the newest lines only; `cfy events list` prints a whole history.
MAX_LINES = 5000


class EventLog(RichLog):
    """Follows new events while at the bottom; scrolling up stops following; End (or
    scrolling back down to the bottom) resumes."""

    BINDINGS = [Binding("end,G", "follow", "Follow", key_display="End")]

    def __init__(self, **kwargs):
        super().__init__(wrap=True, markup=False, highlight=False, max_lines=MAX_LINES, **kwargs)
        self.following = True

    def _stop_following(self) -> None:
        if self.following:
            self.following = False
            self.screen.update_badge()

    def action_follow(self) -> None:
        self.following = True
        self.scroll_end(animate=False, immediate=True)
        self.screen.update_badge()

    def action_scroll_up(self) -> None:
        self._stop_following()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._stop_following()
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._stop_following()
        super().action_scroll_home()

    def _on_mouse_scroll_up(self, event) -> None:
        self._stop_following()
        super()._on_mouse_scroll_up(event)


def _details(record: dict, progress: tuple[int, int] | None, now) -> Text:
    text = Text()

    def row(label: str, value, style: str = "") -> None:
        text.append(f"{label:<11}", style="bold")
        text.append(f"{value}\n", style=style)

    status = record["status"]
    row("execution", record["id"])
    row("workflow", f"{record.get('workflow_id')} on {record.get('deployment_id') or '(system)'}")
    text.append(f"{'status':<11}", style="bold")
    text.append(record.get("status_display") or lifecycle.display(status),
                style=CLASS_STYLES[model.status_class(status)])
    flags = [name for name in ("forced", "is_dry_run", "resume") if record.get(name)]
    if flags:
        text.append("  (" + ", ".join(flags) + ")", style="dim")
    text.append("\n")
    created = model.short_time(record.get("created_at"))

    def later(value: str | None) -> str:
        # started/ended on the creation day show the time only, so the line fits 80 columns
        stamp = model.short_time(value)
        return stamp[11:] if stamp[:10] == created[:10] else stamp

    duration = model.format_duration(model.duration_seconds(record, now))
    times = created
    if record.get("started_at"):
        times += f"  started {later(record['started_at'])}"
    if record.get("ended_at"):
        times += f"  ended {later(record['ended_at'])}"
    if duration:
        times += f"  ({duration})"
    row("created", times)
    if record.get("scheduled_for"):
        row("scheduled", model.short_time(record.get("scheduled_for")))
    worker = record.get("worker_pid")
    row("worker pid", f"{worker if worker else '-'}   progress {model.progress_text(progress) or '-'}")
    parameters = record.get("parameters") or {}
    row("parameters", json.dumps(parameters, sort_keys=True, default=str) if parameters else "{}")
    if record.get("error"):
        text.append(f"{'error':<11}", style="bold")
        text.append(str(record["error"]).rstrip() + "\n", style="red")
    text.rstrip()
    return text


class ExecutionScreen(ExecutionActions, BaseScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("l", "toggle_logs", "Logs"),
        Binding("c", "cancel", "Cancel"),
        Binding("f", "force_cancel", "Force-cancel", show=False),
        Binding("k", "kill", "Kill", show=False),
        Binding("r", "resume", "Resume"),
    ]

    def __init__(self, execution_id: str):
        super().__init__()
        self.execution_id = execution_id
        self.show_logs = True
        self.tail: model.EventTail | None = None
        self.visible_count = 0

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with VerticalScroll(id="details-box"):
            yield Static(id="details")
        yield Static(id="events-title")
        yield EventLog(id="events")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.tail = model.EventTail(self.app.home.events_file(self.execution_id))
        self.query_one(EventLog).focus()
        super().on_mount()

    def current_execution_id(self) -> str | None:
        return self.execution_id

    def refresh_view(self) -> None:
        record = self.app.executions.index.get(self.execution_id)
        details = self.query_one("#details", Static)
        if record is None:
            details.update(Text(f"Execution {self.execution_id} is gone from the state directory", style="red"))
        else:
            details.update(_details(record, self.app.executions.index.progress(record), clock.now()))
        log = self.query_one(EventLog)
        if not log.following and log.scroll_y >= log.max_scroll_y:
            log.following = True  # the user scrolled back down to the bottom: follow again
        if not self.app.paused:
            self.write_events(self.tail.poll())
        self.update_badge()

    def _visible(self, event: dict) -> bool:
        if not is_log(event):
            return True
        return self.show_logs and (event.get("level") or "").lower() != "debug"

    def write_events(self, events: list[dict]) -> None:
        log = self.query_one(EventLog)
        visible = [e for e in events if self._visible(e)]
        self.visible_count += len(visible)
        for event in visible[-MAX_LINES:]:
            log.write(Text(render_line(event), style=CLASS_STYLES[model.event_class(event)]),
                      scroll_end=log.following)

    def update_badge(self) -> None:
        log = self.query_one(EventLog)
        text = Text(f" events {self.visible_count}", style="bold")
        if self.tail.skipped_bytes:
            text.append(f" (+{self.tail.skipped_bytes // 1024} KiB earlier: cfy events list)", style="dim")
        text.append(f"  logs {'on' if self.show_logs else 'off'} (l)")
        if log.following:
            text.append("  FOLLOWING", style="bold reverse green")
        else:
            text.append("  paused scroll — End follows", style="yellow")
        self.query_one("#events-title", Static).update(text)

    def action_toggle_logs(self) -> None:
        self.show_logs = not self.show_logs
        log = self.query_one(EventLog)
        log.clear()
        self.visible_count = 0
        self.write_events(self.tail.events)
        self.update_badge()

    def action_back(self) -> None:
        self.app.pop_screen()
