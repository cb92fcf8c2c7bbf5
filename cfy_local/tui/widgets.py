"""Small shared widgets: the status bar at the top and the command line at the bottom."""
from __future__ import annotations

import time

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

CLASS_STYLES = {
    "ok": Style(color="green"),
    "failed": Style(color="red", bold=True),
    "cancelled": Style(color="yellow"),
    "active": Style(color="cyan", bold=True),
    "waiting": Style(color="magenta"),
    "plain": Style(),
}


class StatusBar(Static):
    """Maintenance state, scheduler, time since the last refresh, and PAUSED."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $primary-background; color: $text; }
    """

    def update_from(self, app) -> None:
        text = Text()
        if app.paused:
            text.append(" PAUSED ", style="bold reverse yellow")
        elif self.size.width >= 100:
            text.append(" cfy-local ", style="bold")
        maintenance = app.maintenance
        style = "green" if maintenance == "deactivated" else "bold yellow"
        text.append(" maintenance: ")
        text.append(maintenance, style=style)
        scheduler = app.scheduler or {}
        text.append("  scheduler: ")
        if scheduler.get("running"):
            pid = scheduler.get("pid")
            text.append("running" + (f" (pid {pid})" if pid else ""), style="green")
        elif scheduler.get("running") is None:
            text.append("unknown", style="dim")
        else:
            text.append("stopped", style="yellow")
        text.append(f"  refreshed {app.seconds_since_refresh()}s ago")
        self.update(text)


class CommandLine(Static):
    """The equivalent `cfy` command of the last action and what it did."""

    DEFAULT_CSS = """
    CommandLine { height: auto; max-height: 2; color: $text-muted; }
    """
    # An error stays this long, then the line keeps only the command: an old error read
    # as if the current state were failing.
    ERROR_SECONDS = 15.0

    shown_at = 0.0
    has_error = False
    command = ""

    def show(self, command: str, outcome: str = "", *, error: bool = False) -> None:
        self.shown_at, self.has_error, self.command = time.monotonic(), error, command
        text = Text()
        if command:
            text.append("$ ", style="dim")
            text.append(command, style="bold")
        if outcome:
            text.append("  → " if command else "", style="dim")
            text.append(outcome, style="red" if error else "green")
        self.update(text)

    def expire(self) -> None:
        if self.has_error and time.monotonic() - self.shown_at > self.ERROR_SECONDS:
            self.show(self.command)
