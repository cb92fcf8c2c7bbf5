"""The ``scale`` workflow (Cloudify's ``scale_entity``) without a manager.

Cloudify's manager applies a "deployment modification"; here the instances are added or
removed with the deployments engineer's helpers (``cfy_local.deployments.instances``),
then only those instances are installed (scale out) or uninstalled first (scale in),
with the other instances taking part as related ones (establish / unlink).
"""
from __future__ import annotations

import uuid

from cfy_local.deployments.instances import add_instances, remove_instances
from cfy_local.deployments.records import update_deployment
from cfy_local.engine import lifecycle

CONTAINED_IN = "cloudify.relationships.contained_in"


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _top_level_members(ctx, members: list[str]) -> list[str]:
    """Group members whose container is outside the group (their instances carry the rest)."""
    member_set = set(members)
    out = []
    for node_id in members:
        node = ctx.get_node(node_id)
        if node is None:
            continue
        container = next((rel.target_id for rel in node.relationships if rel.is_derived_from(CONTAINED_IN)), None)
        if container not in member_set:
            out.append(node_id)
    return out


def _update_group_count(ctx, group: str, count: int) -> None:
    def change(record: dict) -> None:
        props = ((record.get("scaling_groups") or {}).get(group) or {}).setdefault("properties", {})
        props["current_instances"] = count
        props["planned_instances"] = count

    record = update_deployment(ctx._run.home, ctx.deployment.id, change)
    ctx._run.storage.deployment = record
    ctx._run.deployment = record


def scale_entity(ctx, scalable_entity_name=None, delta=1, scale_compute=False, include_instances=None,
                 exclude_instances=None, ignore_failure=False, rollback_if_failed=True):
    include = _as_list(include_instances)
    exclude = _as_list(exclude_instances)
    try:
        delta = int(delta)
    except (TypeError, ValueError):
        raise ValueError(f"The delta parameter must be a number. Got: {delta}") from None
    if delta == 0:
        ctx.logger.info("delta parameter is 0, so no scaling will take place.")
        return
    if delta > 0 and (include or exclude):
        raise ValueError("Instances cannot be included or excluded when scaling up.")
    name = scalable_entity_name
    groups = ctx.deployment.scaling_groups
    if name in groups:
        group = groups[name]
        members = list(group.get("members") or [])
        node_ids = _top_level_members(ctx, members)
        current = int((group.get("properties") or {}).get("current_instances", 1))
    else:
        node = ctx.get_node(name) if name else None
        if node is None:
            raise ValueError(f"No scalable entity named {name} was found")
        if scale_compute and node.host_id and node.host_id != node.id:
            if include or exclude:
                raise RuntimeError("Cannot include or exclude instances while scale_compute is True. "
                                   "Please specify the desired compute node instances.")
            node = ctx.get_node(node.host_id)
        group = None
        node_ids = [node.id]
        current = len(list(node.instances))
    planned = current + delta
    if planned < 0:
        raise ValueError(f"Provided delta: {delta} is illegal. current number of instances of entity {name} is "
                         f"{current}")
    modification_id = str(uuid.uuid4())
    ctx.logger.info(f"Deployment modification started. [modification_id={modification_id}]")
    home = ctx._run.home
    dep = ctx.deployment.id
    graph = ctx.graph_mode()
    if delta > 0:
        added_ids: list[str] = []
        for node_id in node_ids:
            added_ids += [inst["id"] for inst in add_instances(home, dep, node_id, delta)]
        if group is not None:
            _update_group_count(ctx, name, planned)
        ctx.refresh_node_instances()
        new = [ctx.get_node_instance(i) for i in added_ids]
        related = [i for i in ctx.node_instances if i.id not in set(added_ids)]
        try:
            lifecycle.install_node_instances(graph, new, related_nodes=related)
        except Exception:
            if not rollback_if_failed:
                ctx.logger.info("Scale out failed.")
                raise
            ctx.logger.info("Scale out failed, scaling back in.")
            graph.clear()
            ctx.refresh_node_instances()
            new = [ctx.get_node_instance(i) for i in added_ids]
            related = [i for i in ctx.node_instances if i.id not in set(added_ids)]
            try:
                lifecycle.uninstall_node_instances(graph, new, ignore_failure=True, related_nodes=related)
            finally:
                ctx.logger.info(f"Rolling back deployment modification. [modification_id={modification_id}]")
                remove_instances(home, dep, added_ids)
                if group is not None:
                    _update_group_count(ctx, name, current)
            raise
        return
    doomed = _choose_removed(ctx, name, group, node_ids, -delta, include, exclude)
    removed: set = set()
    for instance in doomed:
        removed |= instance.get_contained_subgraph()
    related = [i for i in ctx.node_instances if i not in removed]
    lifecycle.uninstall_node_instances(graph, removed, ignore_failure=bool(ignore_failure), related_nodes=related)
    remove_instances(home, dep, sorted(i.id for i in doomed))
    if group is not None:
        _update_group_count(ctx, name, planned)
    ctx.refresh_node_instances()


def _choose_removed(ctx, name, group, node_ids, count, include, exclude) -> list:
    """Which instances go on scale in: included first, never excluded, newest first."""
    candidates = [i for node_id in node_ids for i in ctx.get_node(node_id).instances]
    known = {i.id for i in ctx.node_instances}
    missing = [i for i in include if i not in known]
    errors = []
    if missing:
        errors.append(f"The following included instances did not exist: {', '.join(missing)}")
    both = sorted(set(include) & set(exclude))
    if both:
        errors.append(f"The following instances were both excluded and included: {', '.join(both)}")
    if errors:
        available = ", ".join(sorted(i.id for i in candidates))
        raise RuntimeError("\n".join(errors) + f"\nAvailable instances were: {available}")

    def touches(instance, ids) -> bool:
        return bool({i.id for i in instance.get_contained_subgraph()} & set(ids)) or instance.id in ids

    chosen = [i for i in candidates if touches(i, include)]
    rest = sorted((i for i in candidates if i not in chosen and not touches(i, exclude)),
                  key=lambda i: (i.index, i.id), reverse=True)
    chosen += rest
    if len(chosen) < count:
        raise RuntimeError(f"Target number of instances is less than excluded instance count for {name}")
    return chosen[:count]
