"""`?`: the keys of the screen below, generated from its bindings (and the app's)."""
from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def binding_rows(app, screen: Screen) -> list[tuple[str, str]]:
    """(key, description) for every binding active on ``screen`` — the focused widget's, the
    screen's and the app's — in that order, each key once."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        binding: Binding = active.binding
        if not binding.description or key in seen:
            continue
        seen.add(key)
        rows.append((app.get_key_display(binding), binding.description))
    return rows


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, below: Screen):
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        table = Table(title=f"Keys — {self.below.__class__.__name__.removesuffix('Screen').lower()}",
                      show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, description in binding_rows(self.app, self.below):
            table.add_row(key, description)
        with VerticalScroll(id="help-box"):
            yield Static(table)
            yield Static("Esc closes this help", classes="dim")

    def action_close(self) -> None:
        self.dismiss()
