"""Engine test helpers: real blueprints with a plugin folder, real deployments through the
deployments API, ``run_workflow`` in-process with a real EventWriter."""
from __future__ import annotations

import textwrap
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cfy_local.store.event_log import EventWriter, read_from
from cfy_local.store.paths import Home


HEADER = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
plugins:
  p:
    executor: central_deployment_agent
    source: plugin
"""


@dataclass
class Outcome:
    execution_id: str
    result: object = None
    error: str | None = None
    cancelled: bool = False
    events: list = field(default_factory=list)

    def texts(self, event_type: str | None = None) -> list[str]:
        return [e["message"]["text"] for e in self.events
                if event_type is None or e.get("event_type") == event_type]

    def ops_started(self, operation_suffix: str | None = None) -> list[tuple[str, str]]:
        """(instance id or source->target, operation) of each task_started of an operation, in order."""
        out = []
        for event in self.events:
            ctx = event["context"]
            if event.get("event_type") == "task_started" and ctx.get("operation"):
                who = ctx.get("node_id") or f"{ctx.get('source_id')}->{ctx.get('target_id')}"
                if operation_suffix is None or ctx["operation"].endswith(operation_suffix):
                    out.append((who, ctx["operation"]))
        return out


class EngineEnv:
    def __init__(self, root: Path, home: Home):
        self.root = root
        self.home = home
        self.pkg = "pkg_" + uuid.uuid4().hex[:10]  # unique: modules stay cached per process

    def deploy(self, body: str, code: str = "", *, dep: str = "dep", inputs: dict | None = None,
               files: dict | None = None) -> str:
        from cfy_local.deployments import api

        folder = self.root / f"bp-{dep}"
        pkg_dir = folder / "plugin" / self.pkg
        pkg_dir.mkdir(parents=True, exist_ok=True)
        (pkg_dir / "__init__.py").write_text("")
        (pkg_dir / "ops.py").write_text(textwrap.dedent(code).replace("PKG", self.pkg))
        for name, text in (files or {}).items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (folder / "blueprint.yaml").write_text(HEADER + textwrap.dedent(body).replace("PKG", self.pkg))
        api.upload_blueprint(self.home, str(folder / "blueprint.yaml"), f"bp-{dep}")
        api.create_deployment(self.home, dep, f"bp-{dep}", inputs or {})
        return dep

    def run(self, workflow: str, params: dict | None = None, *, dep: str = "dep", cancel=None,
            dry_run: bool = False, resume: bool = False, execution_id: str | None = None, retries: int = 0,
            interval: float = 0, pool: int = 4, wait_after_fail: int = 600) -> Outcome:
        from cfy_local.engine.exceptions import WorkflowCancelled, WorkflowRunFailed
        from cfy_local.engine.workflow_run import run_workflow

        execution = {"id": execution_id or str(uuid.uuid4()), "workflow_id": workflow, "deployment_id": dep,
                     "blueprint_id": f"bp-{dep}", "parameters": params or {}, "is_dry_run": dry_run,
                     "resume": resume, "wait_after_fail": wait_after_fail}
        outcome = Outcome(execution["id"])
        path = self.home.events_file(execution["id"])
        _, offset = read_from(path)
        writer = EventWriter(path)
        try:
            outcome.result = run_workflow(self.home, execution, events=writer, cancel=cancel or threading.Event(),
                                          task_retries=retries, task_retry_interval=interval, thread_pool_size=pool)
        except WorkflowRunFailed as exc:
            outcome.error = exc.error
        except WorkflowCancelled:
            outcome.cancelled = True
        finally:
            writer.close()
        outcome.events, _ = read_from(path, offset)
        return outcome

    def instances(self, dep: str = "dep") -> dict[str, dict]:
        from cfy_local.deployments import api

        return {i["id"]: i for i in api.list_node_instances(self.home, dep)}

    def by_node(self, node_id: str, dep: str = "dep") -> list[dict]:
        return sorted((i for i in self.instances(dep).values() if i["node_id"] == node_id), key=lambda i: i["id"])


@pytest.fixture
def env(tmp_path, home) -> EngineEnv:
    return EngineEnv(tmp_path, Home.open(str(home)))
