"""Every execution schedule: next occurrence, enabled, last result; enable/disable; the next
occurrences and the scheduler's recent decisions for the highlighted one."""
from __future__ import annotations

import os
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from cfy_local import clock
from cfy_local.errors import CfyLocalError
from cfy_local.timefmt import parse_iso
from cfy_local.tui import model
from cfy_local.tui.screens import BaseScreen
from cfy_local.tui.table import Column, VirtualTable
from cfy_local.tui.widgets import CLASS_STYLES

COLUMNS = [
    Column("deployment_id", "deployment", min_width=8),
    Column("id", "schedule", min_width=8),
    Column("workflow_id", "workflow", min_width=8, min_screen=100),
    Column("enabled", "enabled", width=7),
    Column("next_occurrence", "next occurrence", width=16),
    Column("latest", "last result", width=11),
    Column("rule", "recurrence", width=10, min_screen=90),
]
PREVIEW = 5
HISTORY = 6


def key_of(schedule: dict[str, Any]) -> str:
    return f"{schedule['deployment_id']}/{schedule['id']}"


def local_time(value: str | None, tz_name: str | None) -> str:
    """A UTC occurrence in the schedule's own time zone (``2026-11-28 09:00 CET``)."""
    if not value:
        return ""
    moment = parse_iso(value)
    try:
        zone = ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local: datetime = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M %Z")


class SchedulesScreen(BaseScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("e", "toggle_enabled", "Enable/disable"),
    ]

    def __init__(self, deployment_id: str | None = None):
        super().__init__()
        self.deployment_id = deployment_id
        self.schedules: dict[str, dict[str, Any]] = {}
        self.load_error = ""
        self._detail_signature: tuple | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield VirtualTable(COLUMNS, self.row_cells, id="schedules")
        with VerticalScroll(id="schedule-box"):
            yield Static(id="schedule-detail")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.query_one(VirtualTable).focus()
        super().on_mount()

    @property
    def table(self) -> VirtualTable:
        return self.query_one(VirtualTable)

    def row_cells(self, key: str):
        schedule = self.schedules.get(key) or {}
        latest = schedule.get("latest_execution_status") or ""
        values = {
            "deployment_id": schedule.get("deployment_id", ""),
            "id": schedule.get("id", ""),
            "workflow_id": schedule.get("workflow_id", ""),
            "enabled": "yes" if schedule.get("enabled") else "no",
            "next_occurrence": model.short_time(schedule.get("next_occurrence"))[:16] if schedule.get("enabled") else "",
            "latest": {"terminated": "completed"}.get(latest, latest),
            "rule": (schedule.get("rule") or {}).get("recurrence") or ("rrule" if (schedule.get("rule") or {}).get("rrule") else "once"),
        }
        styles = {"enabled": CLASS_STYLES["ok" if schedule.get("enabled") else "cancelled"]}
        if latest:
            styles["latest"] = CLASS_STYLES[model.status_class(latest)]
        return values, None, styles

    def load(self) -> None:
        try:
            from cfy_local.schedules import api

            listed = api.list_schedules(self.app.home, self.deployment_id or self.app.deployment_id)
        except (ImportError, AttributeError) as exc:
            self.load_error = f"schedules are not available: {exc}"
            return
        except CfyLocalError as exc:
            self.load_error = str(exc)
            return
        self.load_error = ""
        self.schedules = {key_of(s): s for s in listed}

    def refresh_view(self) -> None:
        if not self.app.paused:
            self.load()
        table = self.table
        table.empty_text = self.load_error or "no schedules (cfy deployments schedule create DEP WORKFLOW)"
        ordered = sorted(self.schedules.values(),
                         key=lambda s: (not s.get("enabled"), s.get("next_occurrence") or "~", key_of(s)))
        table.set_rows([key_of(s) for s in ordered])
        self.show_detail(table.cursor_key)

    def on_virtual_table_highlighted(self, message: VirtualTable.Highlighted) -> None:
        self.show_detail(message.key)

    def show_detail(self, key: str | None) -> None:
        detail = self.query_one("#schedule-detail", Static)
        schedule = self.schedules.get(key or "")
        if schedule is None:
            self._detail_signature = None
            detail.update("")
            return
        from cfy_local.schedules import api

        home, dep, sched = self.app.home, schedule["deployment_id"], schedule["id"]
        # Redraw only when the schedule, its history or the minute changed: histories grow
        # without bound and are read whole by the schedules API.
        try:
            history_size = os.stat(home.schedule_history_file(dep, sched)).st_size
        except FileNotFoundError:
            history_size = 0
        signature = (key, repr(sorted(schedule.items())), history_size, clock.now().replace(second=0, microsecond=0))
        if signature == self._detail_signature:
            return
        self._detail_signature = signature
        rule = schedule.get("rule") or {}
        text = Text()
        text.append(f"{dep}/{sched}", style="bold")
        text.append(f"  {schedule.get('workflow_id')}  tz {schedule.get('timezone') or 'UTC'}"
                    f"  slip {schedule.get('slip', 0)}min"
                    + ("  stop-on-fail" if schedule.get("stop_on_fail") else "") + "\n")
        text.append("rule ", style="bold")
        text.append(", ".join(f"{k}={v}" for k, v in rule.items() if v not in (None, [], "")) + "\n")
        text.append("next ", style="bold")
        try:
            upcoming = api.preview(home, dep, sched, PREVIEW)
            text.append("  ".join(local_time(o, schedule.get("timezone")) for o in upcoming) or "none")
        except CfyLocalError as exc:
            text.append(str(exc), style="yellow")
        text.append("\n")
        text.append("history\n", style="bold")
        try:
            decisions = api.history(home, dep, sched)[-HISTORY:]
        except CfyLocalError as exc:
            decisions = []
            text.append(str(exc) + "\n", style="yellow")
        if not decisions:
            text.append("  no decisions yet\n", style="dim")
        for decision in reversed(decisions):
            action = decision.get("action") or ""
            style = {"fired": "green", "skipped": "yellow", "disabled": "red"}.get(action, "")
            text.append(f"  {model.short_time(decision.get('occurrence'))}  ")
            text.append(f"{action:<8}", style=style)
            reason = decision.get("reason") or ""
            execution = decision.get("execution_id") or ""
            text.append(f" {reason}{'  ' + execution[:8] if execution else ''}\n")
        detail.update(text)

    def action_toggle_enabled(self) -> None:
        schedule = self.schedules.get(self.table.cursor_key or "")
        if schedule is None:
            return
        enable = not schedule.get("enabled")
        dep, sched = schedule["deployment_id"], schedule["id"]
        command = self.app.cfy_command("deployments", "schedule", "enable" if enable else "disable", dep, sched)
        home = self.app.home

        def call():
            from cfy_local.schedules import api

            return api.set_enabled(home, dep, sched, enable)

        def describe(view) -> str:
            return f"schedule {sched} {'enabled' if view.get('enabled') else 'disabled'}"

        self.app.perform(command, call, describe, on_done=lambda _: self.refresh_view())

    def action_back(self) -> None:
        self.app.pop_screen()
