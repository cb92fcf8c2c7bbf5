"""The TUI's screens. Each one composes the status bar, its content, the command line and
the footer, and redraws from the app's latest data on every tick (``on_tick``)."""
from __future__ import annotations

import time

from textual.screen import Screen
from textual.widgets import Footer

from cfy_local.tui.widgets import CommandLine, StatusBar


class BaseScreen(Screen):
    def compose_top(self):
        yield StatusBar()

    def compose_bottom(self):
        yield CommandLine()
        yield Footer()

    def on_mount(self) -> None:
        last = self.app.last_command
        if last:
            stale = last[2] and time.monotonic() - getattr(self.app, "_error_at", 0.0) > CommandLine.ERROR_SECONDS
            self.query_one(CommandLine).show(last[0], "" if stale else last[1], error=last[2] and not stale)
        self.on_tick()

    def on_screen_resume(self) -> None:
        self.on_tick()

    def on_tick(self) -> None:
        self.query_one(StatusBar).update_from(self.app)
        for line in self.query(CommandLine):
            line.expire()
        self.refresh_view()  # each screen redraws its own content from the app's data
