"""`?`: the keys of the screen below, generated from its bindings (and the app's)."""
from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def _declared_actions(node) -> set[str]:
    """Actions bound by cfy-local's own classes (not Textual's generic focus/copy keys)."""
    actions = set()
    for cls in type(node).__mro__:
        if cls.__module__.startswith("cfy_local"):
            for binding in cls.__dict__.get("BINDINGS", []):
                actions.add(binding.action if isinstance(binding, Binding) else binding[1])
    return actions


def binding_rows(app, screen: Screen) -> list[tuple[str, str]]:
    """(key, description) for the keys active on ``screen``: the screen's own first, then
    the focused widget's, then the app's; generated from the binding tables themselves."""
    rank = {screen: 0, app: 2}
    declared: dict[int, set[str]] = {}
    found = []
    for key, active in screen.active_bindings.items():
        binding: Binding = active.binding
        node = active.node
        actions = declared.setdefault(id(node), _declared_actions(node))
        if not binding.description or binding.action not in actions:
            continue
        found.append((rank.get(node, 1), app.get_key_display(binding), binding.description))
    # Keys the screen hides for the row under the cursor (resume of a running run) are
    # still the screen's keys: listed, marked.
    shown = {description for _, _, description in found}
    for cls in type(screen).__mro__:
        if not cls.__module__.startswith("cfy_local"):
            continue
        for binding in cls.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.description and binding.description not in shown:
                shown.add(binding.description)
                found.append((0, app.get_key_display(binding), f"{binding.description} (not now)"))
    found.sort(key=lambda row: row[0])
    return [(key, description) for _, key, description in found]


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
