"""Reading blueprint, plan, deployment, node and node-instance records.

The record-access layer of deployments: every module that needs a deployment's stored
records (execution start, schedules, the engine's scale workflow, node-instance changes)
reads them here, below the operations of ``deployments.api`` that create and delete them.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from cfy_local.errors import CorruptRecordError, not_found
from cfy_local.ids import validate_id
from cfy_local.secrets import get_secret_value
from cfy_local.store import instance_states
from cfy_local.store.locks import STATE_LOCK, lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record, save_record


def load_blueprint(home: Home, blueprint_id: str) -> dict[str, Any]:
    validate_id(blueprint_id, "blueprint_id")
    try:
        return load_record(home.blueprint_file(blueprint_id), "blueprint")
    except FileNotFoundError:
        raise not_found("Blueprint", blueprint_id) from None


def load_plan(home: Home, blueprint_id: str) -> dict[str, Any]:
    load_blueprint(home, blueprint_id)
    return load_record(os.path.join(home.blueprint_dir(blueprint_id), "plan.json"), "plan")


def scan_ids(folder: str, record_name: str) -> list[str]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not n.startswith(".") and os.path.isfile(os.path.join(folder, n, record_name)))


def list_blueprints(home: Home) -> list[dict[str, Any]]:
    out = []
    for blueprint_id in scan_ids(home.blueprints_dir, "blueprint.json"):
        try:
            out.append(load_record(home.blueprint_file(blueprint_id), "blueprint"))
        except (FileNotFoundError, CorruptRecordError):
            continue
    out.sort(key=lambda r: r.get("created_at") or "")
    return out


def load_deployment(home: Home, deployment_id: str) -> dict[str, Any]:
    validate_id(deployment_id, "deployment_id")
    try:
        return load_record(home.deployment_file(deployment_id), "deployment")
    except FileNotFoundError:
        raise not_found("Deployment", deployment_id) from None


def update_deployment(home: Home, deployment_id: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply ``change`` to the stored deployment record in place and save it, under the
    ``state`` lock (deployment.json's writers all hold it); return the saved record."""
    with lock(home.root, STATE_LOCK):
        record = load_deployment(home, deployment_id)
        change(record)
        save_record(home.deployment_file(deployment_id), record)
    return record


def deployment_exists(home: Home, deployment_id: str) -> bool:
    return os.path.isfile(home.deployment_file(deployment_id))


def load_nodes(home: Home, deployment_id: str) -> list[dict[str, Any]]:
    load_deployment(home, deployment_id)
    return load_record(home.nodes_file(deployment_id), "nodes")["nodes"]


def _with_state(home: Home, deployment_id: str, record: dict[str, Any]) -> dict[str, Any]:
    return instance_states.apply(record, instance_states.read(home.instance_states_file(deployment_id)))


def load_node_instance(home: Home, deployment_id: str, instance_id: str) -> dict[str, Any]:
    try:
        record = load_record(home.node_instance_file(deployment_id, instance_id), "node_instance")
    except FileNotFoundError:
        raise _instance_not_found(instance_id) from None
    return _with_state(home, deployment_id, record)


def _instance_not_found(instance_id: str):
    return not_found("NodeInstance", instance_id)


def find_node_instance(home: Home, instance_id: str) -> dict[str, Any]:
    """Look an instance up by id alone (ids are unique across deployments)."""
    validate_id(instance_id, "node_instance_id")
    for deployment_id in scan_ids(home.deployments_dir, "deployment.json"):
        path = home.node_instance_file(deployment_id, instance_id)
        if os.path.exists(path):
            return _with_state(home, deployment_id, load_record(path, "node_instance"))
    raise _instance_not_found(instance_id)


def list_node_instances(home: Home, deployment_id: str | None = None, node_id: str | None = None) -> list[dict]:
    if deployment_id is None:
        deployment_ids = scan_ids(home.deployments_dir, "deployment.json")
    else:
        if not deployment_exists(home, deployment_id):
            raise not_found("Deployment", deployment_id)
        deployment_ids = [deployment_id]
    out = []
    for dep in deployment_ids:
        folder = home.node_instances_dir(dep)
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            continue
        states = instance_states.read(home.instance_states_file(dep))
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            if node_id and not name.startswith(node_id + "_"):
                continue
            try:
                record = load_record(os.path.join(folder, name), "node_instance")
            except (FileNotFoundError, CorruptRecordError):
                continue
            if node_id and record.get("node_id") != node_id:
                continue
            out.append(instance_states.apply(record, states))
    return out


def deployment_inputs(home: Home, deployment_id: str) -> dict[str, Any]:
    return load_deployment(home, deployment_id).get("inputs") or {}


class StoredDeployment:
    """A deployment as stored, read the way runtime evaluation of intrinsic functions and
    workflow parameter checks read it (``dsl.functions.DeploymentData``); nodes are loaded
    on first use, instances and secrets fresh on each call."""

    def __init__(self, home: Home, deployment: dict[str, Any]):
        self.home = home
        self.deployment = deployment
        self._nodes: dict[str, dict] | None = None

    def node_map(self) -> dict[str, dict]:
        if self._nodes is None:
            self._nodes = {n["id"]: n for n in load_nodes(self.home, self.deployment["id"])}
        return self._nodes

    def instance_ids(self) -> list[str]:
        return [i["id"] for i in list_node_instances(self.home, self.deployment["id"])]

    def instances_of(self, node_id: str) -> list[dict]:
        return list_node_instances(self.home, self.deployment["id"], node_id)

    def instance(self, instance_id: str) -> dict:
        return load_node_instance(self.home, self.deployment["id"], instance_id)

    def secret(self, key: str) -> Any:
        return get_secret_value(self.home, key)


def runtime_data(home: Home, deployment_id: str) -> StoredDeployment:
    """The deployment as stored, in the form runtime evaluation of intrinsic functions reads it."""
    return StoredDeployment(home, load_deployment(home, deployment_id))
