"""The built-in workflows (``default_workflows.cloudify.plugins.workflows.*``).

Names, parameters and defaults are those of Cloudify's types.yaml; the behaviour follows
Cloudify's (docs/cloudify-behaviour.md, "Built-in workflows"). Every function takes the workflow ctx as ``ctx`` and
accepts ``**kwargs``, as Cloudify's do.
"""
from __future__ import annotations

from cfy_local import clock
from cfy_local.engine import lifecycle
from cfy_local.engine.scaling import scale_entity
from cfy_local.engine.tasks import HandlerResult
from cfy_local.timefmt import iso

START = "cloudify.interfaces.lifecycle.start"
STOP = "cloudify.interfaces.lifecycle.stop"
HEAL_OPS = ("cloudify.interfaces.lifecycle.preheal", "cloudify.interfaces.lifecycle.heal",
            "cloudify.interfaces.lifecycle.postheal")
CHECK_STATUS = "cloudify.interfaces.validation.check_status"


def _filter_node_instances(ctx, type_names=None, node_ids=None, node_instance_ids=None) -> set:
    type_names = list(type_names or [])
    node_ids = list(node_ids or [])
    node_instance_ids = list(node_instance_ids or [])
    selected = set()
    for node in ctx.nodes:
        if node_ids and node.id not in node_ids:
            continue
        if type_names and not any(name in node.type_hierarchy for name in type_names):
            continue
        for instance in node.instances:
            if node_instance_ids and instance.id not in node_instance_ids:
                continue
            selected.add(instance)
    return selected


def install(ctx, type_names=None, node_ids=None, node_instance_ids=None, **kwargs):
    instances = _filter_node_instances(ctx, type_names, node_ids, node_instance_ids)
    related = set(ctx.node_instances) - instances
    lifecycle.install_node_instances(ctx.graph_mode(), instances, related_nodes=related)


def uninstall(ctx, ignore_failure=False, type_names=None, node_ids=None, node_instance_ids=None, **kwargs):
    instances = _filter_node_instances(ctx, type_names, node_ids, node_instance_ids)
    related = set(ctx.node_instances) - instances
    lifecycle.uninstall_node_instances(ctx.graph_mode(), instances, ignore_failure=bool(ignore_failure),
                                       related_nodes=related)


def reinstall(ctx, ignore_failure=False, type_names=None, node_ids=None, node_instance_ids=None, **kwargs):
    instances = _filter_node_instances(ctx, type_names, node_ids, node_instance_ids)
    related = set(ctx.node_instances) - instances
    lifecycle.reinstall_node_instances(ctx.graph_mode(), instances, related_nodes=related,
                                       ignore_failure=bool(ignore_failure))


def execute_operation(ctx, operation, operation_kwargs=None, allow_kwargs_override=None,
                      run_by_dependency_order=False, type_names=None, node_ids=None, node_instance_ids=None,
                      **kwargs):
    operation_kwargs = operation_kwargs or {}
    graph = ctx.graph_mode()
    selected = _filter_node_instances(ctx, type_names, node_ids, node_instance_ids)
    instances = list(ctx.node_instances) if run_by_dependency_order else sorted(selected, key=lambda i: i.id)
    subgraphs = {}
    for instance in instances:
        sub = graph.subgraph(instance.id)
        subgraphs[instance.id] = sub
        if instance not in selected or not instance.node.has_operation(operation):
            continue
        text = f"Starting operation {operation}"
        if operation_kwargs:
            text += f" (Operation parameters: {operation_kwargs})"
        task = instance.execute_operation(operation, kwargs=operation_kwargs,
                                          allow_kwargs_override=bool(allow_kwargs_override))
        sub.sequence().add(instance.send_event(text), task, instance.send_event(f"Finished operation {operation}"))
    if run_by_dependency_order:
        for instance in instances:
            for rel in instance.relationships:
                target = subgraphs.get(rel.target_id)
                if target is not None and rel.target_id != instance.id:
                    graph.add_dependency(subgraphs[instance.id], target)
    graph.execute()


def start(ctx, operation_parms=None, run_by_dependency_order=True, type_names=None, node_ids=None,
          node_instance_ids=None, **kwargs):
    execute_operation(ctx, START, operation_kwargs=operation_parms or {}, allow_kwargs_override=True,
                      run_by_dependency_order=run_by_dependency_order, type_names=type_names, node_ids=node_ids,
                      node_instance_ids=node_instance_ids)


def stop(ctx, operation_parms=None, run_by_dependency_order=True, type_names=None, node_ids=None,
         node_instance_ids=None, **kwargs):
    # Cloudify orders stop like start (targets first), not reversed.
    execute_operation(ctx, STOP, operation_kwargs=operation_parms or {}, allow_kwargs_override=True,
                      run_by_dependency_order=run_by_dependency_order, type_names=type_names, node_ids=node_ids,
                      node_instance_ids=node_instance_ids)


def restart(ctx, stop_parms=None, start_parms=None, run_by_dependency_order=True, type_names=None,
            node_ids=None, node_instance_ids=None, **kwargs):
    stop(ctx, operation_parms=stop_parms, run_by_dependency_order=run_by_dependency_order,
         type_names=type_names, node_ids=node_ids, node_instance_ids=node_instance_ids)
    start(ctx, operation_parms=start_parms, run_by_dependency_order=run_by_dependency_order,
          type_names=type_names, node_ids=node_ids, node_instance_ids=node_instance_ids)


def _store_status(ctx, instance, ok: bool, task, result) -> None:
    fresh = ctx._run.storage.load_instance(instance.id)
    system = dict(fresh.get("system_properties") or {})
    if "status" in system:
        system["previous_status"] = system["status"]
    system["status"] = {"ok": ok, "timestamp": iso(clock.now()), "task": task.id if task else None,
                        "result": None if result is None else str(result)}
    ctx.update_node_instance(instance.id, system_properties=system, force=True)


def _check_status_tasks(ctx, graph, instances) -> dict:
    """Add check_status operations; their outcome is stored, failures are not retried."""
    outcomes: dict[str, bool] = {}
    for instance in sorted(instances, key=lambda i: i.id):
        if not instance.node.has_operation(CHECK_STATUS):
            continue
        task = instance.execute_operation(CHECK_STATUS)
        task.total_retries = 0

        def on_success(t, instance=instance):
            _store_status(ctx, instance, True, t, t.result)
            outcomes[instance.id] = True
            return HandlerResult.cont()

        def on_failure(t, instance=instance):
            _store_status(ctx, instance, False, t, t.error)
            outcomes[instance.id] = False
            return HandlerResult.ignore()

        task.on_success = on_success
        task.on_failure = on_failure
        graph.add_task(task)
    return outcomes


def check_status(ctx, run_by_dependency_order=False, type_names=None, node_ids=None, node_instance_ids=None,
                 **kwargs):
    graph = ctx.graph_mode()
    instances = _filter_node_instances(ctx, type_names, node_ids, node_instance_ids)
    outcomes = _check_status_tasks(ctx, graph, instances)
    graph.execute()
    failed = sorted(instance_id for instance_id, ok in outcomes.items() if not ok)
    if failed:
        raise RuntimeError(f"Status check failed for: {', '.join(failed)}")


def heal(ctx, node_instance_id=None, diagnose_value="Not provided", ignore_failure=True, check_status=True,
         allow_reinstall=True, force_reinstall=False, **kwargs):
    """Cloudify's ``auto_heal_reinstall_node_subgraph``: check, heal what can heal, reinstall the rest."""
    if node_instance_id:
        failing = ctx.get_node_instance(node_instance_id)
        if failing is None:
            raise ValueError(f"No node instance with id `{node_instance_id}` was found")
        host = ctx.get_node_instance(failing.host_id) if failing.host_id else None
        targets = (host or failing).get_contained_subgraph()
        ctx.logger.info(f"Starting 'heal' workflow on {node_instance_id}, Diagnosis: {diagnose_value}")
    else:
        targets = set()
        for instance in ctx.node_instances:
            targets |= instance.get_contained_subgraph()
        ctx.logger.info(f"Starting 'heal' workflow for '{ctx.deployment.id}' deployment, "
                        f"Diagnosis: {diagnose_value}")
    graph = ctx.graph_mode()
    if force_reinstall:
        _reinstall(ctx, graph, {i.id for i in targets}, ignore_failure)
        return
    if check_status:
        _check_status_tasks(ctx, graph, targets)
        graph.execute()
        ctx.refresh_node_instances()
    targets = {ctx.get_node_instance(i.id) for i in targets if ctx.get_node_instance(i.id) is not None}
    unhealthy = set()
    for instance in targets:
        status = (instance.system_properties or {}).get("status")
        if node_instance_id:
            healthy = bool(status and status.get("ok") and status.get("task"))
        else:
            healthy = status is None or bool(status.get("ok"))
        if not healthy:
            unhealthy.add(instance)
    to_heal = {i for i in unhealthy if any(i.node.has_operation(op) for op in HEAL_OPS[1:2])}
    to_reinstall = set()
    for instance in unhealthy - to_heal:
        to_reinstall |= instance.get_contained_subgraph()
    healed_failed: set[str] = set()
    if to_heal:
        for instance in sorted(to_heal, key=lambda i: i.id):
            sub = graph.subgraph(f"heal_{instance.id}")
            items = [instance.send_event("Healing node instance")]
            items += [instance.execute_operation(op) for op in HEAL_OPS if instance.node.has_operation(op)]
            items.append(instance.send_event("Node instance healed"))
            sub.sequence().add(*items)

            def on_failure(t, instance=instance):
                healed_failed.add(instance.id)
                return HandlerResult.ignore()

            sub.on_failure = on_failure
        graph.execute()
        for instance in to_heal:
            if instance.id not in healed_failed:
                fresh = ctx._run.storage.load_instance(instance.id)
                system = dict(fresh.get("system_properties") or {})
                system["status"] = {"ok": True, "task": None, "healed": True}
                ctx.update_node_instance(instance.id, system_properties=system, force=True)
        ctx.refresh_node_instances()
        for instance_id in healed_failed:
            instance = ctx.get_node_instance(instance_id)
            to_reinstall |= instance.get_contained_subgraph()
    if not to_reinstall:
        return
    if not allow_reinstall:
        names = ", ".join(sorted(i.id for i in to_reinstall))
        raise RuntimeError(f"allow_reinstall is false, but would need to reinstall instances: {names}")
    _reinstall(ctx, graph, {i.id for i in to_reinstall}, ignore_failure)


def _reinstall(ctx, graph, ids: set, ignore_failure) -> None:
    instances = [ctx.get_node_instance(i) for i in sorted(ids)]
    related = [i for i in ctx.node_instances if i.id not in ids]
    lifecycle.reinstall_node_instances(graph, instances, related_nodes=related, ignore_failure=bool(ignore_failure))


def pull(ctx, operation_parms=None, run_by_dependency_order=True, type_names=None, node_ids=None,
         node_instance_ids=None, **kwargs):
    execute_operation(ctx, "cloudify.interfaces.lifecycle.pull", operation_kwargs=operation_parms or {},
                      allow_kwargs_override=True, run_by_dependency_order=run_by_dependency_order,
                      type_names=type_names, node_ids=node_ids, node_instance_ids=node_instance_ids)


def check_drift(ctx, run_by_dependency_order=True, type_names=None, node_ids=None, node_instance_ids=None,
                **kwargs):
    """Run ``check_drift`` where defined and record its result as ``configuration_drift``."""
    graph = ctx.graph_mode()
    operation = "cloudify.interfaces.lifecycle.check_drift"
    for instance in sorted(_filter_node_instances(ctx, type_names, node_ids, node_instance_ids),
                           key=lambda i: i.id):
        if not instance.node.has_operation(operation):
            continue
        task = instance.execute_operation(operation)

        def on_success(t, instance=instance):
            fresh = ctx._run.storage.load_instance(instance.id)
            system = dict(fresh.get("system_properties") or {})
            system["configuration_drift"] = {"ok": True, "timestamp": iso(clock.now()), "task": t.id,
                                             "result": t.result}
            ctx.update_node_instance(instance.id, system_properties=system, force=True)
            return HandlerResult.cont()

        task.on_success = on_success
        graph.add_task(task)
    graph.execute()


ROLLBACK_STATES = ("creating", "configuring", "starting")


def rollback(ctx, type_names=None, node_ids=None, node_instance_ids=None, full_rollback=False, **kwargs):
    """Bring instances stuck in creating/configuring/starting back to a resolved state
    as Cloudify's rollback does; failures are ignored. ``full_rollback`` then uninstalls all."""
    graph = ctx.graph_mode()
    selected = _filter_node_instances(ctx, type_names, node_ids, node_instance_ids)
    unresolved = sorted((i for i in selected if i.state in ROLLBACK_STATES), key=lambda i: i.id)
    subs = {}
    with lifecycle._Building(graph):
        for instance in unresolved:
            sub = graph.subgraph(f"rollback_{instance.id}")
            steps = lifecycle._Steps(instance)
            if instance.state == "starting":
                steps.event("Stopping node instance")
                stop = lifecycle._op(instance, "cloudify.interfaces.lifecycle.stop")
                if stop is not None:
                    steps.task(stop)
                steps.state("configured")
                steps.event(f"Rollback Delete: nothing to do, instance state is {instance.state}")
            else:
                steps.event(f"Rollback Stop: nothing to do, instance state is {instance.state}")
                steps.relationships(sub, lifecycle.RELATIONSHIP + "unlink", "Unlinking relationships",
                                    "Relationships unlinked", reverse=True)
                for name in ("delete", "postdelete"):
                    task = lifecycle._op(instance, lifecycle.LIFECYCLE + name)
                    if task is not None:
                        steps.task(task)
                steps.state("uninitialized")
            steps.event("Rollbacked node instance")
            sub.sequence().add(*steps.done())
            lifecycle._ignore_failures(sub)
            subs[instance.id] = sub
        for instance in unresolved:
            for rel in instance.relationships:
                target = subs.get(rel.target_id)
                if target is not None and rel.target_id != instance.id:
                    graph.add_dependency(target, subs[instance.id])
    graph.execute()
    if full_rollback:
        ctx.refresh_node_instances()
        lifecycle.uninstall_node_instances(graph, set(ctx.node_instances), ignore_failure=True)


def install_new_agents(ctx, **kwargs):
    ctx.logger.info("cfy-local runs every operation on this machine: there are no agents to install")


def validate_agents(ctx, **kwargs):
    ctx.logger.info("cfy-local runs every operation on this machine: there are no agents to validate")


def scale(ctx, scalable_entity_name=None, delta=1, scale_compute=False, include_instances=None,
          exclude_instances=None, ignore_failure=False, rollback_if_failed=True, abort_started=False, **kwargs):
    return scale_entity(ctx, scalable_entity_name=scalable_entity_name, delta=delta, scale_compute=scale_compute,
                        include_instances=include_instances, exclude_instances=exclude_instances,
                        ignore_failure=ignore_failure, rollback_if_failed=rollback_if_failed)


# Workflow name -> function, and Cloudify's function names (the mapping's last part).
BUILTIN_WORKFLOWS = {
    "install": install,
    "uninstall": uninstall,
    "reinstall": reinstall,
    "execute_operation": execute_operation,
    "start": start,
    "stop": stop,
    "restart": restart,
    "heal": heal,
    "scale": scale,
    "check_status": check_status,
    "check_drift": check_drift,
    "pull": pull,
    "rollback": rollback,
    "install_new_agents": install_new_agents,
    "validate_agents": validate_agents,
}
BY_FUNCTION = dict(BUILTIN_WORKFLOWS)
BY_FUNCTION.update({
    "auto_heal_reinstall_node_subgraph": heal,
    "scale_entity": scale,
})
