"""Where everything lives in the state directory (docs/state.md has the picture).

``Home`` only computes paths (after validating ids) and creates the root; reading and
writing goes through ``store.atomic`` / ``store.records`` / ``store.events``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from cfy_local.ids import validate_id, validate_lookup_id
from cfy_local.store.atomic import ensure_dir, register_root

ENV_HOME = "CFY_LOCAL_HOME"
DEFAULT_HOME = "~/.cfy-local"


def resolve_home(explicit: str | None = None) -> str:
    """``--home``, else ``$CFY_LOCAL_HOME``, else ``~/.cfy-local`` — as an absolute path."""
    raw = explicit or os.environ.get(ENV_HOME) or DEFAULT_HOME
    return os.path.abspath(os.path.expanduser(raw))


@dataclass(frozen=True)
class Home:
    root: str

    def __post_init__(self) -> None:
        # Folders inside this root are never followed if they are symlinks (store.atomic).
        register_root(self.root)

    @classmethod
    def open(cls, explicit: str | None = None, *, create: bool = True) -> "Home":
        home = cls(resolve_home(explicit))
        if create:
            ensure_dir(home.root)
        return home

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    # settings and singletons
    @property
    def config_file(self) -> str:
        return self.path("config.yaml")

    @property
    def maintenance_file(self) -> str:
        return self.path("maintenance.json")

    @property
    def scheduler_status_file(self) -> str:
        return self.path("scheduler", "status.json")

    @property
    def scheduler_log_file(self) -> str:
        return self.path("scheduler", "scheduler.log")

    @property
    def cache_dir(self) -> str:
        return self.path("cache")

    # blueprints
    @property
    def blueprints_dir(self) -> str:
        return self.path("blueprints")

    def blueprint_dir(self, blueprint_id: str) -> str:
        return self.path("blueprints", validate_id(blueprint_id, "blueprint_id"))

    def blueprint_file(self, blueprint_id: str) -> str:
        return os.path.join(self.blueprint_dir(blueprint_id), "blueprint.json")

    def blueprint_resources(self, blueprint_id: str) -> str:
        """The uploaded copy of the blueprint's folder."""
        return os.path.join(self.blueprint_dir(blueprint_id), "resources")

    # deployments
    @property
    def deployments_dir(self) -> str:
        return self.path("deployments")

    def deployment_dir(self, deployment_id: str) -> str:
        return self.path("deployments", validate_id(deployment_id, "deployment_id"))

    def deployment_file(self, deployment_id: str) -> str:
        return os.path.join(self.deployment_dir(deployment_id), "deployment.json")

    def deployment_deleting_marker(self, deployment_id: str) -> str:
        """Present while ``deployments delete -f`` stops the deployment's runs: no new run
        of it may be admitted."""
        return os.path.join(self.deployment_dir(deployment_id), ".deleting")

    def nodes_file(self, deployment_id: str) -> str:
        return os.path.join(self.deployment_dir(deployment_id), "nodes.json")

    def node_instances_dir(self, deployment_id: str) -> str:
        return os.path.join(self.deployment_dir(deployment_id), "node-instances")

    def instance_states_file(self, deployment_id: str) -> str:
        """Current lifecycle states of the deployment's instances (store/instance_states.py)."""
        return os.path.join(self.deployment_dir(deployment_id), "instance-states.json")

    def node_instance_file(self, deployment_id: str, instance_id: str) -> str:
        return os.path.join(self.node_instances_dir(deployment_id), validate_id(instance_id, "node_instance_id") + ".json")

    def modifications_dir(self, deployment_id: str) -> str:
        """The deployment's modification records (scale and ``start_modification``)."""
        return os.path.join(self.deployment_dir(deployment_id), "modifications")

    def modification_file(self, deployment_id: str, modification_id: str) -> str:
        return os.path.join(self.modifications_dir(deployment_id),
                            validate_lookup_id(modification_id, "modification_id") + ".json")

    # executions: one record file each (fast to scan), one run folder each for artefacts
    @property
    def executions_dir(self) -> str:
        return self.path("executions")

    def execution_file(self, execution_id: str) -> str:
        return self.path("executions", validate_lookup_id(execution_id, "execution_id") + ".json")

    def run_dir(self, execution_id: str) -> str:
        return self.path("runs", validate_lookup_id(execution_id, "execution_id"))

    def events_file(self, execution_id: str) -> str:
        return os.path.join(self.run_dir(execution_id), "events.ndjson")

    def worker_log_file(self, execution_id: str) -> str:
        return os.path.join(self.run_dir(execution_id), "worker.log")

    def graph_file(self, execution_id: str) -> str:
        """Persisted task states of the run, read by resume."""
        return os.path.join(self.run_dir(execution_id), "graph.json")

    def cancel_request_file(self, execution_id: str) -> str:
        return os.path.join(self.run_dir(execution_id), "cancel.json")

    # schedules
    @property
    def schedules_dir(self) -> str:
        return self.path("schedules")

    def deployment_schedules_dir(self, deployment_id: str) -> str:
        return self.path("schedules", validate_id(deployment_id, "deployment_id"))

    def schedule_file(self, deployment_id: str, schedule_id: str) -> str:
        return os.path.join(self.deployment_schedules_dir(deployment_id), validate_id(schedule_id, "schedule_id") + ".json")

    def schedule_history_file(self, deployment_id: str, schedule_id: str) -> str:
        return os.path.join(self.deployment_schedules_dir(deployment_id), validate_id(schedule_id, "schedule_id") + ".history.ndjson")

    # secrets and snapshots
    def secret_file(self, key: str) -> str:
        return self.path("secrets", validate_id(key, "secret_key") + ".json")

    @property
    def snapshots_dir(self) -> str:
        return self.path("snapshots")

    def snapshot_file(self, snapshot_id: str) -> str:
        return self.path("snapshots", validate_id(snapshot_id, "snapshot_id") + ".json")

    def snapshot_archive(self, snapshot_id: str) -> str:
        return self.path("snapshots", validate_id(snapshot_id, "snapshot_id") + ".tar.gz")
