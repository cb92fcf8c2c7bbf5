"""The ``scale`` workflow (Cloudify's ``scale_entity``) without a manager.

As on a manager it goes through a deployment modification (``ctx.deployment.start_modification``,
the one implementation in ``cfy_local.deployments.modifications``): started with the planned
count, then only the added instances are installed (scale out) or the removed ones
uninstalled (scale in), the instances related to them taking part (establish / unlink);
finished on success, rolled back on failure.
"""
from __future__ import annotations

from cfy_local.deployments.modifications import as_list
from cfy_local.engine import lifecycle


def scale_entity(ctx, scalable_entity_name=None, delta=1, scale_compute=False, include_instances=None,
                 exclude_instances=None, ignore_failure=False, rollback_if_failed=True):
    include = as_list(include_instances)
    exclude = as_list(exclude_instances)
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
    entity = name
    if name in groups:
        current = int((groups[name].get("properties") or {}).get("current_instances", 1))
    else:
        node = ctx.get_node(name) if name else None
        if node is None:
            raise ValueError(f"No scalable entity named {name} was found")
        if scale_compute and node.host_id and node.host_id != node.id:
            if include or exclude:
                raise RuntimeError("Cannot include or exclude instances while scale_compute is True. "
                                   "Please specify the desired compute node instances.")
            node = ctx.get_node(node.host_id)
            entity = node.id
        current = len(list(node.instances))
    planned = current + delta
    if planned < 0:
        raise ValueError(f"Provided delta: {delta} is illegal. current number of instances of entity {name} is "
                         f"{current}")
    spec = {"instances": planned}
    if include:
        spec["removed_ids_include_hint"] = include
    if exclude:
        spec["removed_ids_exclude_hint"] = exclude
    modification = ctx.deployment.start_modification({entity: spec})
    ctx.logger.info(f"Deployment modification started. [modification_id={modification.id}]")
    graph = ctx.graph_mode()
    keep_started = False
    try:
        if delta > 0:
            added_and_related = set(modification.added.node_instances)
            added = {i for i in added_and_related if i.modification == "added"}
            related = added_and_related - added
            try:
                lifecycle.install_node_instances(graph, added, related_nodes=related)
            except Exception:
                if not rollback_if_failed:
                    # As on a manager the modification stays started.
                    ctx.logger.info("Scale out failed.")
                    keep_started = True
                    raise
                ctx.logger.info("Scale out failed, scaling back in.")
                graph.clear()
                ctx.refresh_node_instances()
                fresh = [ctx.get_node_instance(i.id) for i in added]
                others = [ctx.get_node_instance(i.id) for i in related]
                lifecycle.uninstall_node_instances(graph, [i for i in fresh if i], ignore_failure=True,
                                                   related_nodes=[i for i in others if i])
                raise
        else:
            removed_and_related = set(modification.removed.node_instances)
            removed = {i for i in removed_and_related if i.modification == "removed"}
            related = removed_and_related - removed
            lifecycle.uninstall_node_instances(graph, removed, ignore_failure=bool(ignore_failure),
                                               related_nodes=related)
    except Exception:
        if rollback_if_failed and not keep_started:
            ctx.logger.info(f"Rolling back deployment modification. [modification_id={modification.id}]")
            modification.rollback()
            ctx.refresh_node_instances()
        raise
    modification.finish()
    ctx.refresh_node_instances()

