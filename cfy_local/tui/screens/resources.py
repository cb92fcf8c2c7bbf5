"""k9s-like resource screens: every deployment, one deployment (its node instances with
their runtime properties, its inputs and outputs, its executions and schedules) and every
node instance. They read through ``cfy_local.deployments.api`` (what `cfy deployments` and
`cfy node-instances` print), re-read on each tick only while shown."""
from __future__ import annotations

import json
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from cfy_local.deployments import api as deployments
from cfy_local.errors import CfyLocalError
from cfy_local.tui import model
from cfy_local.tui.screens import BaseScreen
from cfy_local.tui.table import Column, VirtualTable
from cfy_local.tui.widgets import CLASS_STYLES

DEPLOYMENT_COLUMNS = [
    Column("id", "deployment", min_width=10),
    Column("blueprint_id", "blueprint", min_width=8),
    Column("installation_status", "installed", width=10),
    Column("deployment_status", "status", width=18),
    Column("executions", "runs", width=5),
    Column("created_at", "created", width=19, min_screen=90),
]
INSTANCE_COLUMNS = [
    Column("id", "node instance", min_width=14),
    Column("deployment_id", "deployment", min_width=8),
    Column("node_id", "node", min_width=8),
    Column("state", "state", width=12),
    Column("host_id", "host", min_width=8, min_screen=100),
]
STATE_CLASS = {"started": "ok", "deleted": "cancelled", "uninitialized": "plain"}


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


class DeploymentsScreen(BaseScreen):
    """`:deployments` — every deployment; Enter opens one."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open"),
    ]

    def __init__(self):
        super().__init__()
        self.records: dict[str, dict[str, Any]] = {}
        self.error = ""

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static(" deployments — Enter opens, x its executions, S its schedules", id="info")
        yield VirtualTable(DEPLOYMENT_COLUMNS, self.row_cells, id="deployments")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.query_one(VirtualTable).focus()
        self.app.show_command(self.app.cfy_command("deployments", "list"))

    @property
    def table(self) -> VirtualTable:
        return self.query_one(VirtualTable)

    def row_cells(self, key: str):
        record = self.records.get(key) or {}
        runs = sum(1 for r in self.app.executions.index.values() if r.get("deployment_id") == key)
        values = {"id": key, "blueprint_id": record.get("blueprint_id") or "",
                  "installation_status": record.get("installation_status") or "",
                  "deployment_status": record.get("deployment_status") or "",
                  "executions": str(runs), "created_at": model.short_time(record.get("created_at"))}
        status = record.get("deployment_status")
        styles = {"deployment_status": CLASS_STYLES["ok" if status == "good" else
                                                    "failed" if status == "requires_attention" else "active"]}
        return values, None, styles

    def refresh_view(self) -> None:
        if not self.app.paused:
            try:
                listed = deployments.list_deployments(self.app.home, with_status=True)
                self.error = ""
            except CfyLocalError as exc:
                listed, self.error = [], str(exc)
            if self.app.deployment_id:
                listed = [r for r in listed if r["id"] == self.app.deployment_id]
            self.records = {r["id"]: r for r in listed}
        table = self.table
        table.empty_text = self.error or "no deployments (cfy deployments create DEP -b BLUEPRINT)"
        table.set_rows(list(self.records))

    def on_virtual_table_selected(self, message: VirtualTable.Selected) -> None:
        self.app.push_screen(DeploymentScreen(message.key))

    def action_open(self) -> None:
        if self.table.cursor_key:
            self.app.push_screen(DeploymentScreen(self.table.cursor_key))

    def action_back(self) -> None:
        self.app.pop_screen()


class NodesScreen(BaseScreen):
    """`:nodes` — node instances (of one deployment, or all) and the highlighted one's
    runtime properties."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("tab", "switch_pane", "Pane", show=False),
    ]

    def __init__(self, deployment_id: str | None = None):
        super().__init__()
        self.deployment_id = deployment_id
        self.instances: dict[str, dict[str, Any]] = {}
        self.error = ""

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield from self.compose_header()
        yield VirtualTable(INSTANCE_COLUMNS, self.row_cells, id="instances")
        with VerticalScroll(id="properties-box"):
            yield Static(id="properties")
        yield from self.compose_bottom()

    def compose_header(self):
        yield Static(" node instances" + (f" of {self.deployment_id}" if self.deployment_id else ""), id="info")

    def on_mount(self) -> None:
        self.query_one(VirtualTable).focus()
        self.app.show_command(self.app.cfy_command(*self.equivalent()))

    def equivalent(self) -> list[str]:
        return ["node-instances", "list"] + (["-d", self.deployment_id] if self.deployment_id else [])

    @property
    def table(self) -> VirtualTable:
        return self.query_one(VirtualTable)

    def row_cells(self, key: str):
        record = self.instances.get(key) or {}
        state = record.get("state") or ""
        values = {"id": key, "deployment_id": record.get("deployment_id") or "", "node_id": record.get("node_id") or "",
                  "state": state, "host_id": record.get("host_id") or ""}
        return values, None, {"state": CLASS_STYLES[STATE_CLASS.get(state, "active")]}

    def load(self) -> None:
        dep = self.deployment_id or self.app.deployment_id
        try:
            listed = deployments.list_node_instances(self.app.home, dep)
            self.error = ""
        except CfyLocalError as exc:
            listed, self.error = [], str(exc)
        self.instances = {r["id"]: r for r in listed}

    def refresh_view(self) -> None:
        if not self.app.paused:
            self.load()
        table = self.table
        table.empty_text = self.error or "no node instances"
        table.set_rows(list(self.instances))
        self.show_properties(table.cursor_key)

    def on_virtual_table_highlighted(self, message: VirtualTable.Highlighted) -> None:
        self.show_properties(message.key)

    def show_properties(self, key: str | None) -> None:
        record = self.instances.get(key or "")
        box = self.query_one("#properties", Static)
        if record is None:
            box.update("")
            return
        text = Text()
        text.append(f"{record['id']}", style="bold")
        text.append(f"  {record.get('state')}  node {record.get('node_id')}  host {record.get('host_id') or '-'}\n")
        relationships = record.get("relationships") or []
        if relationships:
            text.append("relationships ", style="bold")
            text.append(", ".join(f"{r.get('type', '').rsplit('.', 1)[-1]} → {r.get('target_id')}"
                                  for r in relationships) + "\n")
        text.append("runtime properties\n", style="bold")
        text.append(_json(record.get("runtime_properties") or {}))
        box.update(text)

    def action_switch_pane(self) -> None:
        box = self.query_one("#properties-box")
        (box if self.table.has_focus else self.table).focus()

    def action_back(self) -> None:
        self.app.pop_screen()


class DeploymentScreen(NodesScreen):
    """One deployment: status, inputs and outputs, its node instances with their runtime
    properties; `x` its executions, `S` its schedules."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("x", "executions", "Executions"),
        Binding("S", "schedules", "Schedules"),
        Binding("tab", "switch_pane", "Pane", show=False),
    ]

    def __init__(self, deployment_id: str):
        super().__init__(deployment_id)
        self.summary = Text()

    def compose_header(self):
        yield Static(id="deployment-summary")

    def equivalent(self) -> list[str]:
        return ["deployments", "get", self.deployment_id]

    def refresh_view(self) -> None:
        if not self.app.paused:
            self.summary = self.describe()
        self.query_one("#deployment-summary", Static).update(self.summary)
        super().refresh_view()

    def describe(self) -> Text:
        text = Text()
        try:
            record = deployments.load_deployment(self.app.home, self.deployment_id)
        except CfyLocalError as exc:
            return Text(str(exc), style="red")
        text.append(f"{self.deployment_id}", style="bold")
        text.append(f"  blueprint {record.get('blueprint_id')}  created {model.short_time(record.get('created_at'))}")
        runs = [r for r in self.app.executions.index.values() if r.get("deployment_id") == self.deployment_id]
        latest = max(runs, key=lambda r: (r.get("created_at") or "", r.get("created_ns") or 0), default=None)
        if latest is not None:
            text.append(f"  last run {latest.get('workflow_id')} ")
            text.append(latest.get("status_display") or latest["status"],
                        style=CLASS_STYLES[model.status_class(latest["status"])])
        text.append(f"  runs {len(runs)}\n")
        inputs = record.get("inputs") or {}
        text.append("inputs  ", style="bold")
        text.append(json.dumps(inputs, sort_keys=True, default=str) if inputs else "{}")
        text.append("\noutputs ", style="bold")
        try:
            outputs = deployments.evaluate_outputs(self.app.home, self.deployment_id)
            text.append(json.dumps({k: v.get("value") for k, v in outputs.items()}, sort_keys=True, default=str)
                        if outputs else "{}")
        except (CfyLocalError, ValueError, KeyError, TypeError) as exc:
            # an output that cannot be evaluated yet (an attribute not set) is said, not fatal
            text.append(f"cannot evaluate: {exc}", style=Style(color="yellow"))
        return text

    def action_executions(self) -> None:
        self.app.open_view("executions", self.deployment_id)

    def action_schedules(self) -> None:
        self.app.open_view("schedules", self.deployment_id)
