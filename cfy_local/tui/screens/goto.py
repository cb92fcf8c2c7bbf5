"""`:` — go to a resource list, as k9s does: `:deployments`, `:executions`, `:schedules`,
`:nodes` (any unambiguous prefix). The screen is pushed, so Esc comes back."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

VIEWS = ("deployments", "executions", "schedules", "nodes")
ALIASES = {"dep": "deployments", "deps": "deployments", "ex": "executions", "exec": "executions",
           "sched": "schedules", "ni": "nodes", "node-instances": "nodes", "instances": "nodes"}


def resolve(text: str) -> str | None:
    word = text.strip().lstrip(":").lower()
    if not word:
        return None
    if word in ALIASES:
        return ALIASES[word]
    matches = [view for view in VIEWS if view.startswith(word)]
    return matches[0] if len(matches) == 1 else None


class GotoScreen(ModalScreen):
    BINDINGS = [Binding("escape", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-box"):
            yield Input(placeholder="deployments | executions | schedules | nodes", id="goto")
            yield Static(":" + "  :".join(VIEWS), id="goto-help", classes="dim")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        view = resolve(message.value)
        if view is None:
            self.query_one("#goto-help", Static).update(f"unknown view {message.value!r}: " + ", ".join(VIEWS))
            return
        self.dismiss(view)

    def action_close(self) -> None:
        self.dismiss(None)
