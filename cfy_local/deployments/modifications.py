"""Deployment modifications: how a deployment's node instances are added and removed.

A manager changes a deployment's instances in three steps, and the built-in ``scale``
workflow and a custom workflow's ``ctx.deployment.start_modification(nodes)`` both go
through them:

- **start** ``{<node or scaling group>: {instances: N, removed_ids_include_hint: [...],
  removed_ids_exclude_hint: [...]}}``: new instances are created at once (state
  ``uninitialized``) and wired to the existing ones; instances to remove are only chosen
  and stay until finish. The record keeps ``added_and_related`` and
  ``removed_and_related`` (the changed instances, marked ``modification: added/removed``,
  plus the instances related to them, whose ``relationships`` hold only the edges to the
  changed ones) and ``before_modification`` (every instance as it was). Only one
  modification of a deployment may be started at a time. The planned counts change now.
- **finish**: removed instances are deleted (with the relationships pointing at them);
  the current counts become the planned ones.
- **rollback**: the instances are put back as they were before the start (added ones
  deleted, the others' relationships, runtime properties and states restored); the
  planned counts go back to the current ones.

Records live in ``deployments/<dep>/modifications/<id>.json`` with Cloudify's fields
(``id``, ``deployment_id``, ``status`` started/finished/rolledback, ``created_at``,
``ended_at``, ``modified_nodes``, ``node_instances``, ``context``). Instance files change
under the deployment's lock; the deployment record's scaling groups under the state lock,
after it (the lock order).
"""
from __future__ import annotations

import copy
import os
import uuid
from typing import Any

from cfy_local import clock
from cfy_local.deployments.instances import (CONTAINED_IN, add_group_instances_locked, add_instances_locked,
                                             contained_closure, remove_instances_locked, update_counts)
from cfy_local.deployments.records import (deployment_exists, list_node_instances, load_deployment, load_nodes,
                                           scan_ids, update_deployment)
from cfy_local.errors import (ExistingStartedModificationError, ModificationAlreadyEndedError, ValidationError,
                              not_found)
from cfy_local.ids import validate_lookup_id
from cfy_local.store import instance_states
from cfy_local.store.atomic import ensure_dir
from cfy_local.store.locks import deployment_lock_name, lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record, save_record
from cfy_local.timefmt import iso

STARTED, FINISHED, ROLLEDBACK = "started", "finished", "rolledback"
END_STATES = (FINISHED, ROLLEDBACK)


def _now() -> str:
    return iso(clock.now())


def _save(home: Home, record: dict) -> None:
    ensure_dir(home.modifications_dir(record["deployment_id"]))
    save_record(home.modification_file(record["deployment_id"], record["id"]), record)


def list_modifications(home: Home, deployment_id: str | None = None, status: str | None = None) -> list[dict]:
    """Modification records, oldest first (all deployments unless one is given)."""
    if deployment_id is not None:
        if not deployment_exists(home, deployment_id):
            raise not_found("Deployment", deployment_id)
        deployment_ids = [deployment_id]
    else:
        deployment_ids = scan_ids(home.deployments_dir, "deployment.json")
    out = []
    for dep in deployment_ids:
        folder = home.modifications_dir(dep)
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            continue
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                record = load_record(os.path.join(folder, name), "deployment_modification")
            except FileNotFoundError:
                continue
            if status is None or record.get("status") == status:
                out.append(record)
    out.sort(key=lambda r: (r.get("created_at") or "", r["id"]))
    return out


def get_modification(home: Home, modification_id: str) -> dict:
    validate_lookup_id(modification_id, "modification_id")
    for dep in scan_ids(home.deployments_dir, "deployment.json"):
        path = home.modification_file(dep, modification_id)
        if os.path.isfile(path):
            return load_record(path, "deployment_modification")
    raise not_found("DeploymentModification", modification_id)


# --- start ---------------------------------------------------------------------------

def _container_id(node: dict) -> str | None:
    return next((r["target_id"] for r in node.get("relationships") or []
                 if CONTAINED_IN in (r.get("type_hierarchy") or [r.get("type")])), None)


def as_list(value) -> list:
    """A hint given as one id, a list of ids, or nothing, as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _planned(name: str, spec: Any) -> int:
    raw = spec.get("instances") if isinstance(spec, dict) else None
    try:
        planned = int(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"Modified node {name}: `instances` must be a number, got {raw!r}") from None
    if planned < 0:
        raise ValidationError(f"Modified node {name}: `instances` must not be negative, got {planned}")
    return planned


def _removal_units(name: str, is_group: bool, instances: list[dict]) -> list[tuple[str, set[str]]]:
    """What can be removed for ``name``, newest first: (unit id, the instance ids it is
    made of). A node's unit is one of its instances; a group's, one group instance (all
    member instances that carry its id)."""
    if not is_group:
        mine = [i for i in instances if i["node_id"] == name]
        mine.sort(key=lambda i: (i.get("index") or 0, i["id"]), reverse=True)
        return [(i["id"], {i["id"]}) for i in mine]
    units: dict[str, set[str]] = {}
    newest: dict[str, tuple] = {}
    for inst in instances:
        for entry in inst.get("scaling_groups") or []:
            if entry.get("name") == name:
                units.setdefault(entry["id"], set()).add(inst["id"])
                key = (inst.get("index") or 0, entry["id"])
                newest[entry["id"]] = max(newest.get(entry["id"], key), key)
    return sorted(units.items(), key=lambda item: newest[item[0]], reverse=True)


def _choose_removed(name: str, is_group: bool, count: int, include: list, exclude: list,
                    instances: list[dict], node_map: dict) -> set[str]:
    """Which instances go: those touching the include hint first, never those touching
    the exclude hint, then the newest."""
    units = _removal_units(name, is_group, instances)
    closures = {uid: contained_closure(node_map, instances, members) for uid, members in units}
    known = {i["id"] for i in instances}
    errors = []
    missing = [i for i in include if i not in known]
    if missing:
        errors.append(f"The following included instances did not exist: {', '.join(missing)}")
    both = sorted(set(include) & set(exclude))
    if both:
        errors.append(f"The following instances were both excluded and included: {', '.join(both)}")
    if errors:
        available = ", ".join(sorted(uid for uid, _ in units))
        raise ValidationError("\n".join(errors) + f"\nAvailable instances were: {available}")
    chosen = [uid for uid, _ in units if (closures[uid] | {uid}) & set(include)]
    chosen += [uid for uid, _ in units if uid not in chosen and not (closures[uid] | {uid}) & set(exclude)]
    if len(chosen) < count:
        raise ValidationError(f"Target number of instances is less than excluded instance count for {name}")
    out: set[str] = set()
    for uid in chosen[:count]:
        out |= closures[uid]
    return out


def _current_count(name: str, is_group: bool, deployment: dict, instances: list[dict]) -> int:
    if is_group:
        props = (deployment.get("scaling_groups") or {})[name].get("properties") or {}
        return int(props.get("current_instances", 1))
    return sum(1 for i in instances if i["node_id"] == name)


def _related(changed: set[str], instances: list[dict], mark: str) -> list[dict]:
    """The changed instances (marked) and those related to them (their relationships cut
    to the edges towards changed instances), as a manager reports them."""
    out = []
    targets = set()
    for inst in instances:
        if inst["id"] in changed:
            out.append(dict(copy.deepcopy(inst), modification=mark))
            targets |= {r["target_id"] for r in inst.get("relationships") or []}
    for inst in instances:
        if inst["id"] in changed:
            continue
        edges = [copy.deepcopy(r) for r in inst.get("relationships") or [] if r["target_id"] in changed]
        if edges or inst["id"] in targets:
            view = copy.deepcopy(inst)
            view["relationships"] = edges
            view.pop("modification", None)
            out.append(view)
    return out


def start_modification(home: Home, deployment_id: str, modified_nodes: dict,
                       context: dict | None = None) -> dict:
    """Start a modification of ``deployment_id``'s instances; return its record."""
    if not isinstance(modified_nodes, dict) or not modified_nodes:
        raise ValidationError("The modified nodes must be a mapping of node or scaling group ids to "
                              "{instances: N}")
    deployment = load_deployment(home, deployment_id)
    groups = deployment.get("scaling_groups") or {}
    nodes = load_nodes(home, deployment_id)
    node_map = {n["id"]: n for n in nodes}
    for name, spec in modified_nodes.items():
        if name not in groups and name not in node_map:
            raise ValidationError(f"No node or scaling group named {name} in deployment {deployment_id}")
        _planned(name, spec)
    with lock(home.root, deployment_lock_name(deployment_id)):
        started = [m["id"] for m in list_modifications(home, deployment_id, STARTED)]
        if started:
            raise ExistingStartedModificationError(
                "Cannot start deployment modification while there are existing started deployment "
                f"modifications. Currently started deployment modifications: {started}")
        before = list_node_instances(home, deployment_id)
        added_ids: list[str] = []
        removed: set[str] = set()
        current = before
        for name, spec in modified_nodes.items():
            is_group = name in groups
            planned = _planned(name, spec)
            delta = planned - _current_count(name, is_group, deployment, current)
            if delta > 0:
                if is_group:
                    new = add_group_instances_locked(home, deployment_id, name, delta)
                else:
                    new = add_instances_locked(home, deployment_id, name, delta)
                added_ids += [i["id"] for i in new]
                current = list_node_instances(home, deployment_id)
            elif delta < 0:
                include = as_list(spec.get("removed_ids_include_hint"))
                exclude = as_list(spec.get("removed_ids_exclude_hint"))
                alive = [i for i in current if i["id"] not in removed]
                removed |= _choose_removed(name, is_group, -delta, include, exclude, alive, node_map)
        after = list_node_instances(home, deployment_id)
        record = {
            "id": str(uuid.uuid4()), "deployment_id": deployment_id, "status": STARTED,
            "created_at": _now(), "ended_at": None,
            "modified_nodes": copy.deepcopy(modified_nodes),
            "node_instances": {
                "added_and_related": _related(set(added_ids), after, "added") if added_ids else [],
                "removed_and_related": _related(removed, after, "removed") if removed else [],
                "before_modification": before,
            },
            "context": dict(context or {}),
            "tenant_name": "default_tenant", "created_by": "admin", "visibility": "tenant",
        }
        _save(home, record)
    _set_group_counts(home, deployment_id, modified_nodes, groups, planned=True)
    return record


def _set_group_counts(home: Home, deployment_id: str, modified_nodes: dict, groups: dict, *,
                      planned: bool = False, current: bool = False, restore: bool = False) -> None:
    touched = [name for name in modified_nodes if name in groups]
    if not touched:
        return

    def change(record: dict) -> None:
        for name in touched:
            props = ((record.get("scaling_groups") or {}).get(name) or {}).setdefault("properties", {})
            if restore:
                props["planned_instances"] = props.get("current_instances", 1)
                continue
            count = _planned(name, modified_nodes[name])
            if planned:
                props["planned_instances"] = count
            if current:
                props["current_instances"] = count

    update_deployment(home, deployment_id, change)


# --- finish / rollback -----------------------------------------------------------------

def _load_started(home: Home, modification_id: str, verb: str) -> dict:
    record = get_modification(home, modification_id)
    if record.get("status") in END_STATES:
        raise ModificationAlreadyEndedError(
            f"Cannot {verb} deployment modification: {modification_id}. It is already in "
            f"{record['status']} status.")
    return record


def finish_modification(home: Home, modification_id: str) -> dict:
    """Finish a started modification: the instances chosen for removal go."""
    record = _load_started(home, modification_id, "finish")
    dep = record["deployment_id"]
    groups = load_deployment(home, dep).get("scaling_groups") or {}
    with lock(home.root, deployment_lock_name(dep)):
        record = _load_started(home, modification_id, "finish")
        doomed = [i["id"] for i in record["node_instances"].get("removed_and_related") or []
                  if i.get("modification") == "removed"]
        present = {i["id"] for i in list_node_instances(home, dep)}
        doomed = [i for i in doomed if i in present]
        if doomed:
            remove_instances_locked(home, dep, doomed)
        record["status"] = FINISHED
        record["ended_at"] = _now()
        _save(home, record)
    _set_group_counts(home, dep, record["modified_nodes"], groups, planned=True, current=True)
    return record


def rollback_modification(home: Home, modification_id: str) -> dict:
    """Roll a started modification back: the instances are as they were before it."""
    record = _load_started(home, modification_id, "rollback")
    dep = record["deployment_id"]
    groups = load_deployment(home, dep).get("scaling_groups") or {}
    with lock(home.root, deployment_lock_name(dep)):
        record = _load_started(home, modification_id, "rollback")
        now = {i["id"]: i for i in list_node_instances(home, dep)}
        before = {i["id"]: i for i in record["node_instances"].get("before_modification") or []}
        states_file = home.instance_states_file(dep)
        state_changes: dict[str, str | None] = {}
        for iid in now:
            if iid not in before:
                try:
                    os.unlink(home.node_instance_file(dep, iid))
                except FileNotFoundError:
                    pass
                state_changes[iid] = None
        for iid, old in before.items():
            current = now.get(iid)
            version = max(int((current or {}).get("version") or 1), int(old.get("version") or 1)) + 1
            save_record(home.node_instance_file(dep, iid), dict(copy.deepcopy(old), version=version))
            if old.get("state") and (current or {}).get("state") != old.get("state"):
                state_changes[iid] = old["state"]
        if state_changes:
            instance_states.update(states_file, state_changes)
        update_counts(home, dep, load_nodes(home, dep), list(before.values()))
        record["node_instances"]["before_rollback"] = list(now.values())
        record["status"] = ROLLEDBACK
        record["ended_at"] = _now()
        _save(home, record)
    _set_group_counts(home, dep, record["modified_nodes"], groups, restore=True)
    return record


def changed_ids(record: dict, mark: str) -> list[str]:
    """Ids of the instances a modification added (``mark="added"``) or removes."""
    key = "added_and_related" if mark == "added" else "removed_and_related"
    return [i["id"] for i in record["node_instances"].get(key) or [] if i.get("modification") == mark]

