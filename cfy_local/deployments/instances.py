"""Node instances: building them at deployment create, adding/removing them for scale.

Ids are ``<node>_<6 lowercase alphanumerics>``. A node contained in another gets its
instances per instance of its container (so 2 hosts × 3 apps = 6 app instances); scaling
groups multiply their top-level members (members whose container is outside the group), and
every instance records the group instances it belongs to. ``host_id`` follows the
contained_in chain to the ``cloudify.nodes.Compute`` instance. Relationship instances:
contained_in → the container instance the instance was created under; ``all_to_one`` → the
target's first instance; ``all_to_all`` → every target instance, narrowed to those sharing
a scaling-group instance when some do (Cloudify's rule for members of one group).
"""
from __future__ import annotations

import os
import random
import string
from typing import Iterable

from cfy_local.deployments.records import list_node_instances, load_deployment, load_nodes
from cfy_local.errors import ValidationError, not_found
from cfy_local.store import instance_states
from cfy_local.store.locks import deployment_lock_name, lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record, save_record

CONTAINED_IN = "cloudify.relationships.contained_in"
COMPUTE = "cloudify.nodes.Compute"
_ALPHABET = string.ascii_lowercase + string.digits
# What ``secrets.choice`` is, without the ``secrets`` import (hmac, hashlib and OpenSSL:
# ~5 ms of every worker's start, for six random letters).
_choice = random.SystemRandom().choice


def new_instance_id(node_id: str, taken: set[str]) -> str:
    while True:
        candidate = f"{node_id}_{''.join(_choice(_ALPHABET) for _ in range(6))}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _container(node: dict) -> str | None:
    return next((r["target_id"] for r in node["relationships"] if CONTAINED_IN in r["type_hierarchy"]), None)


def _group_members(groups: dict, name: str, seen=None) -> set[str]:
    """Node ids in a group, groups of groups flattened."""
    seen = seen or set()
    if name in seen:
        return set()
    seen.add(name)
    out = set()
    for member in (groups.get(name) or {}).get("members") or []:
        if member in groups:
            out |= _group_members(groups, member, seen)
        else:
            out.add(member)
    return out


class _Builder:
    def __init__(self, nodes: list[dict], deployment_id: str, scaling_groups: dict, groups: dict,
                 taken: set[str] | None = None):
        self.nodes = {n["id"]: n for n in nodes}
        self.order = [n["id"] for n in nodes]
        self.deployment_id = deployment_id
        self.scaling_groups = scaling_groups
        self.members = {g: _group_members(groups, g) for g in scaling_groups}
        self.taken = taken if taken is not None else set()
        self.children: dict[str, list[str]] = {}
        for nid in self.order:
            parent = _container(self.nodes[nid])
            if parent:
                self.children.setdefault(parent, []).append(nid)
        self.instances: list[dict] = []
        self.index: dict[str, int] = {}
        self._group_ids: dict[tuple, list[str]] = {}

    def _top_groups(self, node_id: str) -> list[str]:
        parent = _container(self.nodes[node_id])
        return [g for g, members in self.members.items()
                if node_id in members and (parent is None or parent not in members)]

    def _group_instance_ids(self, group: str, parent_key: str | None, count: int) -> list[str]:
        key = (group, parent_key)
        if key not in self._group_ids:
            self._group_ids[key] = [new_instance_id(group, self.taken) for _ in range(count)]
        return self._group_ids[key]

    def expand(self, node_id: str, parent: dict | None, count: int | None = None,
               context: list[dict] | None = None) -> list[dict]:
        """Instances of ``node_id`` under ``parent`` (and what they contain). ``count``
        overrides the node's own count and skips group multiplication; ``context`` places
        them in given scaling-group instances."""
        node = self.nodes[node_id]
        per_context = node["number_of_instances"] if count is None else count
        contexts: list[list[dict]] = [list(context or [])]
        for group in self._top_groups(node_id) if count is None and context is None else []:
            size = self.scaling_groups[group]["properties"]["current_instances"]
            ids = self._group_instance_ids(group, parent["id"] if parent else None, size)
            contexts = [c + [{"name": group, "id": gid}] for c in contexts for gid in ids]
        created = []
        for context in contexts:
            for _ in range(per_context):
                instance = self._new(node, parent, context)
                created.append(instance)
                for child in self.children.get(node_id, []):
                    created.extend(self.expand(child, instance))
        return created

    def _new(self, node: dict, parent: dict | None, context: list[dict]) -> dict:
        instance_id = new_instance_id(node["id"], self.taken)
        self.index[node["id"]] = self.index.get(node["id"], 0) + 1
        if COMPUTE in node["type_hierarchy"]:
            host_id = instance_id
        else:
            host_id = parent["host_id"] if parent else None
        groups = list(parent["scaling_groups"]) if parent else []
        groups.extend(g for g in context if g not in groups)
        instance = {"id": instance_id, "node_id": node["id"], "deployment_id": self.deployment_id,
                    "host_id": host_id, "state": "uninitialized", "runtime_properties": {}, "version": 1,
                    "relationships": [], "scaling_groups": groups, "index": self.index[node["id"]],
                    "_parent": parent["id"] if parent else None}
        self.instances.append(instance)
        return instance


def _connect(nodes: dict, instances: Iterable[dict], all_instances: list[dict]) -> None:
    """Fill ``relationships`` of ``instances`` from their nodes' relationships."""
    by_node: dict[str, list[dict]] = {}
    for inst in all_instances:
        by_node.setdefault(inst["node_id"], []).append(inst)
    for inst in instances:
        rels = []
        for rel in nodes[inst["node_id"]]["relationships"]:
            targets = by_node.get(rel["target_id"], [])
            if CONTAINED_IN in rel["type_hierarchy"]:
                chosen = [t for t in targets if t["id"] == inst.get("_parent")] or targets[:1]
            elif (rel.get("properties") or {}).get("connection_type") == "all_to_one":
                chosen = targets[:1]
            else:
                own = {g["id"] for g in inst["scaling_groups"]}
                shared = [t for t in targets if own & {g["id"] for g in t["scaling_groups"]}]
                chosen = shared or targets
            for target in chosen:
                rels.append({"type": rel["type"], "target_id": target["id"], "target_name": rel["target_id"]})
        inst["relationships"] = rels


def build_instances(nodes: list[dict], deployment_id: str, scaling_groups: dict, groups: dict) -> list[dict]:
    builder = _Builder(nodes, deployment_id, scaling_groups, groups)
    for node_id in builder.order:
        if _container(builder.nodes[node_id]) is None:
            builder.expand(node_id, None)
    _connect(builder.nodes, builder.instances, builder.instances)
    for inst in builder.instances:
        inst.pop("_parent", None)
    return builder.instances


# --- scale ---------------------------------------------------------------------------------

def _parent_instance(inst: dict, by_id: dict, node_map: dict) -> dict | None:
    container = _container(node_map[inst["node_id"]]) if inst["node_id"] in node_map else None
    if container is None:
        return None
    for rel in inst.get("relationships") or []:
        if rel.get("target_name") == container:
            return by_id.get(rel["target_id"])
    return None


def _builder_over(nodes: list[dict], deployment: dict, existing: list[dict]) -> "_Builder":
    """A builder that continues after the deployment's existing instances: their ids are
    taken and each node's instance index carries on from its highest one."""
    builder = _Builder(nodes, deployment["id"], deployment.get("scaling_groups") or {},
                       deployment.get("groups") or {}, taken={i["id"] for i in existing})
    for inst in existing:
        builder.index[inst["node_id"]] = max(builder.index.get(inst["node_id"], 0), inst.get("index") or 0)
    return builder


def add_instances(home: Home, deployment_id: str, node_id: str, count: int) -> list[dict]:
    """Add ``count`` instances of ``node_id`` (with what they contain) under each instance
    of its container, wire relationships both ways; return the new instance records."""
    with lock(home.root, deployment_lock_name(deployment_id)):
        return add_instances_locked(home, deployment_id, node_id, count)


def add_instances_locked(home: Home, deployment_id: str, node_id: str, count: int) -> list[dict]:
    """:func:`add_instances` for a caller that holds the deployment's lock."""
    if not isinstance(count, int) or count < 1:
        raise ValidationError(f"count must be a positive integer, got {count!r}")
    deployment = load_deployment(home, deployment_id)
    nodes = load_nodes(home, deployment_id)
    node_map = {n["id"]: n for n in nodes}
    if node_id not in node_map:
        raise not_found("Node", node_id)
    existing = list_node_instances(home, deployment_id)
    builder = _builder_over(nodes, deployment, existing)
    parent_node = _container(node_map[node_id])
    parents = [i for i in existing if i["node_id"] == parent_node] if parent_node else [None]
    for parent in parents:
        if parent is not None:
            parent = dict(parent, _parent=None)
        builder.expand(node_id, parent, count)
    new = builder.instances
    _store_added(home, deployment_id, node_map, nodes, existing, new)
    return new


def add_group_instances(home: Home, deployment_id: str, group: str, count: int) -> list[dict]:
    """Scale a scaling group up by ``count`` group instances: each new group instance gets
    its own id and a full set of the group's members (their own counts, per container
    outside the group), wired to each other within the group instance."""
    with lock(home.root, deployment_lock_name(deployment_id)):
        return add_group_instances_locked(home, deployment_id, group, count)


def add_group_instances_locked(home: Home, deployment_id: str, group: str, count: int) -> list[dict]:
    """:func:`add_group_instances` for a caller that holds the deployment's lock."""
    if not isinstance(count, int) or count < 1:
        raise ValidationError(f"count must be a positive integer, got {count!r}")
    deployment = load_deployment(home, deployment_id)
    if group not in (deployment.get("scaling_groups") or {}):
        raise ValidationError(f"No scaling group named {group} in deployment {deployment_id}")
    nodes = load_nodes(home, deployment_id)
    node_map = {n["id"]: n for n in nodes}
    existing = list_node_instances(home, deployment_id)
    builder = _builder_over(nodes, deployment, existing)
    members = builder.members[group]
    tops = [n for n in builder.order if n in members and (_container(node_map[n]) not in members)]
    for _ in range(count):
        group_ids: dict = {}
        for node_id in tops:
            container = _container(node_map[node_id])
            parents = [i for i in existing if i["node_id"] == container] if container else [None]
            for parent in parents:
                key = parent["id"] if parent else None
                if key not in group_ids:
                    group_ids[key] = new_instance_id(group, builder.taken)
                context = [{"name": group, "id": group_ids[key]}]
                builder.expand(node_id, dict(parent, _parent=None) if parent else None, context=context)
    new = builder.instances
    _store_added(home, deployment_id, node_map, nodes, existing, new)
    return new


def _store_added(home: Home, deployment_id: str, node_map: dict, nodes: list, existing: list, new: list) -> None:
    everything = existing + new
    _connect(node_map, new, everything)
    new_ids = {i["id"] for i in new}
    by_id = {i["id"]: i for i in existing}
    changed = []
    for inst in existing:  # sources that connect to the grown nodes gain the new targets
        parent = _parent_instance(inst, by_id, node_map)
        probe = dict(inst, relationships=[], _parent=parent["id"] if parent else None)
        _connect(node_map, [probe], everything)
        added = [r for r in probe["relationships"] if r["target_id"] in new_ids]
        if added:
            changed.append(dict(inst, relationships=list(inst.get("relationships") or []) + added,
                                version=(inst.get("version") or 1) + 1))
    for inst in new:
        inst.pop("_parent", None)
        save_record(home.node_instance_file(deployment_id, inst["id"]), inst)
    states_file = home.instance_states_file(deployment_id)
    if new_ids & instance_states.read(states_file).keys():  # a left-over state of a reused id
        instance_states.update(states_file, {iid: None for iid in new_ids})
    for inst in changed:
        save_record(home.node_instance_file(deployment_id, inst["id"]), inst)
    update_counts(home, deployment_id, nodes, everything)


def remove_instances(home: Home, deployment_id: str, instance_ids: list[str]) -> list[str]:
    """Remove the given instances and everything contained in them; drop relationships that
    pointed at them. Returns the removed ids."""
    with lock(home.root, deployment_lock_name(deployment_id)):
        return remove_instances_locked(home, deployment_id, instance_ids)


def contained_closure(node_map: dict, existing: list[dict], instance_ids: Iterable[str]) -> set[str]:
    """The given instances and every instance contained in them, transitively."""
    by_id = {i["id"]: i for i in existing}
    doomed = set(instance_ids)
    grew = True
    while grew:
        grew = False
        for inst in existing:
            parent = _parent_instance(inst, by_id, node_map)
            if inst["id"] not in doomed and parent is not None and parent["id"] in doomed:
                doomed.add(inst["id"])
                grew = True
    return doomed


def remove_instances_locked(home: Home, deployment_id: str, instance_ids: list[str]) -> list[str]:
    """:func:`remove_instances` for a caller that holds the deployment's lock."""
    nodes = load_nodes(home, deployment_id)
    existing = list_node_instances(home, deployment_id)
    by_id = {i["id"]: i for i in existing}
    node_map = {n["id"]: n for n in nodes}
    for iid in instance_ids:
        if iid not in by_id:
            raise ValidationError(f"Node instance {iid} not found in deployment {deployment_id}")
    doomed = contained_closure(node_map, existing, instance_ids)
    for inst in existing:
        if inst["id"] in doomed:
            continue
        rels = inst.get("relationships") or []
        kept = [r for r in rels if r["target_id"] not in doomed]
        if len(kept) != len(rels):
            save_record(home.node_instance_file(deployment_id, inst["id"]),
                        dict(inst, relationships=kept, version=(inst.get("version") or 1) + 1))
    for iid in doomed:
        try:
            os.unlink(home.node_instance_file(deployment_id, iid))
        except FileNotFoundError:
            pass
    states_file = home.instance_states_file(deployment_id)
    if doomed & instance_states.read(states_file).keys():
        instance_states.update(states_file, {iid: None for iid in doomed})
    update_counts(home, deployment_id, nodes, [i for i in existing if i["id"] not in doomed])
    return sorted(doomed)


def update_counts(home: Home, deployment_id: str, nodes: list[dict], instances: list[dict]) -> None:
    counts: dict[str, int] = {}
    for inst in instances:
        counts[inst["node_id"]] = counts.get(inst["node_id"], 0) + 1
    record = load_record(home.nodes_file(deployment_id), "nodes")
    for node in record["nodes"]:
        node["number_of_instances"] = counts.get(node["id"], 0)
    save_record(home.nodes_file(deployment_id), record)
