"""``cfy tui``: the Textual application (screens in this package).

One timer drives everything: each tick re-reads what changed in the state dir (a stat scan
of the execution records, the maintenance record, the scheduler status) and asks the screen
on top to redraw. Actions (cancel, resume, start, enable a schedule) run in worker threads
through the same core functions the CLI calls, and each shows its equivalent `cfy` command
on the command line at the bottom.
"""
from __future__ import annotations

import shlex
import time
from datetime import datetime
from typing import Any, Callable

from textual.app import App
from textual.binding import Binding

from cfy_local import clock
from cfy_local.errors import CfyLocalError
from cfy_local.executions import statuses
from cfy_local.store.paths import Home, resolve_home
from cfy_local.tui import model
from cfy_local.tui.screens import resources
from cfy_local.tui.screens.executions import ExecutionsScreen
from cfy_local.tui.screens.goto import GotoScreen
from cfy_local.tui.screens.schedules import SchedulesScreen

# Check for dead workers at most this often (the check itself is cheap; the reconcile it
# may trigger takes the state lock).
RECONCILE_EVERY = 2.0


class CfyTui(App):
    """Watch and steer executions."""

    TITLE = "cfy-local"
    ENABLE_COMMAND_PALETTE = False
    CSS_PATH = "tui.tcss"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("colon", "goto", "Go to", key_display=":"),
        Binding("space", "refresh_now", "Refresh", show=False),
    ]

    def __init__(self, home: Home, *, deployment_id: str | None = None, refresh_interval: float = 1.0,
                 live: bool = True, explicit_home: bool = False):
        super().__init__()
        self.home = home
        self.deployment_id = deployment_id
        self.refresh_interval = refresh_interval
        self.live = live
        self.explicit_home = explicit_home
        self.executions = model.ExecutionsModel(home, model.TableView(deployment_id=deployment_id))
        self.paused = False
        self.maintenance = "deactivated"
        self.scheduler: dict[str, Any] = {}
        self.last_refresh: datetime | None = None
        self._last_reconcile = float("-inf")
        self.last_command: tuple[str, str, bool] | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def on_mount(self) -> None:
        self.refresh_state()
        self.push_screen(ExecutionsScreen())
        if self.live:
            self.set_interval(self.refresh_interval, self.tick)

    def tick(self) -> None:
        if not self.paused:
            self.refresh_state()
        self.redraw()

    def refresh_state(self) -> None:
        """Re-read what changed. Measured by bench/bench_tui_refresh.py."""
        self.executions.tick()
        if self.reconcile_dead_workers():
            self.executions.tick()
        self.maintenance = model.maintenance_status(self.home)
        self.scheduler = model.scheduler_status(self.home)
        self.last_refresh = clock.now()

    def redraw(self) -> None:
        screen = self.screen
        on_tick = getattr(screen, "on_tick", None)
        if on_tick is not None:
            on_tick()

    def seconds_since_refresh(self) -> int:
        if self.last_refresh is None:
            return 0
        return max(0, int((clock.now() - self.last_refresh).total_seconds()))

    def reconcile_dead_workers(self) -> bool:
        """A refresh reconciles, as every reader of executions does. Only when an active execution's worker is provably
        gone is the executions API asked to reconcile (it decides again, under the state
        lock). True if it failed any execution."""
        now = time.monotonic()
        if now - self._last_reconcile < RECONCILE_EVERY:
            return False
        self._last_reconcile = now
        from cfy_local.executions import api
        from cfy_local.executions.reconcile import worker_alive

        if not any(worker_alive(r.get("worker_pid"), r.get("worker_create_time")) is False
                   for r in self.executions.index.values() if statuses.is_active(r["status"])):
            return False
        try:
            return bool(api.reconcile(self.home))
        except CfyLocalError as exc:
            self.show_command("", f"reconcile: {exc}", error=True)
            return False

    # --- actions -----------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.redraw()

    def action_refresh_now(self) -> None:
        self.refresh_state()
        self.redraw()

    def action_help(self) -> None:
        from cfy_local.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def action_goto(self) -> None:
        if isinstance(self.screen, GotoScreen):
            return
        self.push_screen(GotoScreen(), self.open_view)

    def open_view(self, view: str | None, deployment_id: str | None = None) -> None:
        """Push the screen named by `:view` — of one deployment when ``deployment_id`` is
        given (Esc comes back to where it was opened). Screens go to each other through
        here, so no screen module imports another."""
        if not view:
            return
        if view == "executions" and deployment_id is None:
            # the executions list is the first screen: go back to it
            while len(self.screen_stack) > 2 and not isinstance(self.screen, ExecutionsScreen):
                self.pop_screen()
            return
        screens = {"deployments": lambda: resources.DeploymentsScreen(),
                   "deployment": lambda: resources.DeploymentScreen(deployment_id),
                   "nodes": lambda: resources.NodesScreen(deployment_id),
                   "schedules": lambda: SchedulesScreen(deployment_id=deployment_id),
                   "executions": lambda: ExecutionsScreen(deployment_id=deployment_id)}
        self.push_screen(screens[view]())

    def cfy_command(self, *args: str) -> str:
        """The `cfy` command line equivalent to an action (with --home when not the default)."""
        words = ["cfy"]
        if self.explicit_home and self.home.root != resolve_home(None):
            words += ["--home", self.home.root]
        words += list(args)
        return " ".join(shlex.quote(w) for w in words)

    def perform(self, command: str, call: Callable[[], Any], describe: Callable[[Any], str],
                on_done: Callable[[Any], None] | None = None) -> None:
        """Run ``call`` (a core API call) in a worker thread; show ``command`` and the outcome."""
        self.show_command(command, "running…")

        def work() -> None:
            try:
                result = call()
            except CfyLocalError as exc:
                self.call_from_thread(self.show_command, command, str(exc), error=True)
                return
            except (ImportError, AttributeError) as exc:
                self.call_from_thread(self.show_command, command, f"not available: {exc}", error=True)
                return
            self.call_from_thread(self._action_done, command, describe(result), result, on_done)

        self.run_worker(work, thread=True, group="actions", name=command)

    def _action_done(self, command: str, outcome: str, result: Any, on_done) -> None:
        self.show_command(command, outcome)
        if on_done is not None:
            on_done(result)
        self.refresh_state()
        self.redraw()

    def show_command(self, command: str, outcome: str = "", *, error: bool = False) -> None:
        from cfy_local.tui.widgets import CommandLine

        self.last_command = (command, outcome, error)
        if error:
            self._error_at = time.monotonic()
        own_line = getattr(self.screen, "show_command_line", None)
        if own_line is not None:  # a form shows the outcome inside itself
            own_line(command, outcome, error=error)
        for screen in self.screen_stack:  # the screens below a form show it when it closes
            for line in screen.query(CommandLine):
                line.show(command, outcome, error=error)

