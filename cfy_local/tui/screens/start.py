"""Start a workflow: pick a deployment and a workflow, fill its declared parameters."""
from __future__ import annotations

import json
from typing import Any

import yaml
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from cfy_local.errors import CfyLocalError, ValidationError


def default_text(spec: dict[str, Any]) -> str:
    """A declared default as the form shows it: strings as typed, anything else as JSON."""
    if "default" not in spec:
        return ""
    value = spec["default"]
    if isinstance(value, str):
        return value
    return json.dumps(value)


def parse_value(name: str, spec: dict[str, Any], text: str) -> Any:
    """The typed value of a field: strings (declared, or untyped with a string default)
    stay strings; anything else is read as YAML (``3`` an integer, ``[a, b]`` a list). The
    core then checks types and constraints with Cloudify's messages."""
    if spec.get("type") == "string" or (spec.get("type") is None and isinstance(spec.get("default"), str)):
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"Parameter `{name}`: cannot read {text!r}: {exc.__class__.__name__}") from None


def changed_parameters(declared: dict[str, dict], texts: dict[str, str]) -> dict[str, Any]:
    """Only the fields that differ from their defaults (or have no default): what
    `cfy executions start -p` would need to say."""
    out = {}
    for name, spec in declared.items():
        text = texts.get(name, "")
        if text == default_text(spec) and "default" in spec:
            continue
        if text == "" and "default" not in spec:
            continue  # left empty: the core reports the missing required parameter
        out[name] = parse_value(name, spec, text)
    return out


class StartScreen(ModalScreen[dict | None]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("ctrl+s", "submit", "Start")]

    def __init__(self, deployment_id: str | None = None):
        super().__init__()
        self.initial_deployment = deployment_id
        self.deployments: dict[str, dict] = {}
        self.declared: dict[str, dict] = {}
        self.error = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="start-box"):
            yield Static(Text("Start a workflow", style="bold"))
            yield Select([], prompt="deployment", id="deployment", compact=True)
            yield Select([], prompt="workflow", id="workflow", compact=True)
            yield VerticalScroll(id="parameters")
            with Horizontal(id="start-flags"):
                yield Checkbox("queue", id="queue", compact=True)
                yield Checkbox("force", id="force", compact=True)
            yield Static(id="start-command")
            with Horizontal(id="start-buttons"):
                yield Button("Start (ctrl+s)", id="start", variant="primary", compact=True)
                yield Button("Close (esc)", id="close", compact=True)

    def on_mount(self) -> None:
        try:
            from cfy_local.deployments import api

            listed = api.list_deployments(self.app.home)
        except (ImportError, AttributeError) as exc:
            self.show_error(f"deployments are not available: {exc}")
            return
        except CfyLocalError as exc:
            self.show_error(str(exc))
            return
        self.deployments = {d["id"]: d for d in listed}
        select = self.query_one("#deployment", Select)
        select.set_options([(d, d) for d in sorted(self.deployments)])
        if self.initial_deployment in self.deployments:
            select.value = self.initial_deployment
        elif len(self.deployments) == 1:
            select.value = next(iter(self.deployments))
        if not self.deployments:
            self.show_error("no deployments yet: cfy deployments create DEP -b BP")

    def show_error(self, message: str) -> None:
        self.error = message
        self.query_one("#start-command", Static).update(Text(message, style="red"))

    def show_command_line(self, command: str, outcome: str, *, error: bool = False) -> None:
        self.query_one("#start-command", Static).update(Text.assemble(
            ("$ ", "dim"), (command, "bold"), ("  → ", "dim"), (outcome, "red" if error else "green")))

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "deployment":
            self.fill_workflows()
        elif event.select.id == "workflow":
            self.fill_parameters()
        self.update_command()

    def selected(self, select_id: str) -> str | None:
        value = self.query_one(f"#{select_id}", Select).value
        return value if isinstance(value, str) else None

    def fill_workflows(self) -> None:
        deployment = self.deployments.get(self.selected("deployment") or "")
        workflows = sorted((deployment or {}).get("workflows") or {})
        select = self.query_one("#workflow", Select)
        select.set_options([(w, w) for w in workflows])
        if "install" in workflows:
            select.value = "install"

    def fill_parameters(self) -> None:
        box = self.query_one("#parameters", VerticalScroll)
        box.remove_children()
        deployment = self.deployments.get(self.selected("deployment") or "") or {}
        workflow = (deployment.get("workflows") or {}).get(self.selected("workflow") or "") or {}
        self.declared = dict(workflow.get("parameters") or {})
        widgets = []
        for name, spec in self.declared.items():
            spec = spec or {}
            hint = spec.get("type") or "any"
            if "default" not in spec:
                hint += ", required"
            label = f"{name} ({hint})"
            if spec.get("description"):
                label += f" — {spec['description']}"
            widgets.append(Horizontal(
                Label(label, classes="param-label"),
                Input(value=default_text(spec), placeholder="required" if "default" not in spec else "",
                      id=f"param-{name}", name=name, compact=True),
                classes="param-row"))
        if not widgets:
            widgets.append(Label("(this workflow declares no parameters)"))
        box.mount_all(widgets)

    def field_texts(self) -> dict[str, str]:
        return {field.name: field.value for field in self.query("#parameters Input").results(Input) if field.name}

    def on_input_changed(self, event: Input.Changed) -> None:
        self.update_command()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.update_command()

    def request(self) -> tuple[str, str, dict[str, Any], bool, bool]:
        deployment, workflow = self.selected("deployment"), self.selected("workflow")
        if not deployment or not workflow:
            raise ValidationError("Pick a deployment and a workflow")
        parameters = changed_parameters(self.declared, self.field_texts())
        return (deployment, workflow, parameters, self.query_one("#queue", Checkbox).value,
                self.query_one("#force", Checkbox).value)

    def command_for(self, deployment: str, workflow: str, parameters: dict, queue: bool, force: bool) -> str:
        args = ["executions", "start", workflow, "-d", deployment]
        if parameters:
            args += ["-p", json.dumps(parameters, sort_keys=True)]
        if queue:
            args.append("--queue")
        if force:
            args.append("--force")
        return self.app.cfy_command(*args)

    def update_command(self) -> None:
        try:
            command = self.command_for(*self.request())
        except ValidationError as exc:
            self.query_one("#start-command", Static).update(Text(str(exc), style="yellow"))
            return
        self.query_one("#start-command", Static).update(Text.assemble(("$ ", "dim"), (command, "bold")))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_submit()
        else:
            self.action_close()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        try:
            deployment, workflow, parameters, queue, force = self.request()
        except ValidationError as exc:
            self.show_error(str(exc))
            return
        command = self.command_for(deployment, workflow, parameters, queue, force)
        home = self.app.home

        def call():
            from cfy_local.executions import api

            return api.start(home, workflow, deployment, parameters, queue=queue, force=force)

        def describe(record) -> str:
            return f"execution {record['id']} is {record.get('status_display') or record['status']}"

        self.app.perform(command, call, describe, on_done=self._started)

    def _started(self, record) -> None:
        if self.is_current:
            self.dismiss(record)
