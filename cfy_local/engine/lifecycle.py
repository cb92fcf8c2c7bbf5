"""Install / uninstall / reinstall of node instances (``cloudify.plugins.lifecycle``).

Per instance one subgraph with Cloudify's step order, events and state changes
(docs/cloudify-behaviour.md, "Built-in workflows"); between instances, every relationship
orders the subgraphs: targets first on install, sources first on uninstall. Instances
outside the processed set ("related"/intact ones) get ``stub_<id>`` subgraphs carrying the
establish/unlink relationship operations towards the processed instances.
"""
from __future__ import annotations

import functools
from typing import Iterable

from cfy_local.engine.collector import building_long_lived
from cfy_local.engine.ctx_stack import current_workflow_ctx
from cfy_local.engine.tasks import BuiltinTask, HandlerResult, NOPLocalWorkflowTask, _ForkJoin, forkjoin
from cfy_local.engine.workflow_ctx import operation_defined

LIFECYCLE = "cloudify.interfaces.lifecycle."
RELATIONSHIP = "cloudify.interfaces.relationship_lifecycle."
VALIDATION = "cloudify.interfaces.validation."
MONITORING = "cloudify.interfaces.monitoring."
MONITORING_AGENT = "cloudify.interfaces.monitoring_agent."
HOST_GET_STATE = "cloudify.interfaces.host.get_state"

_SKIP_PRECREATE = {"started", "starting", "created", "creating", "configured", "configuring"}
_SKIP_CREATE = {"started", "starting", "created", "configuring", "configured"}
_SKIP_CONFIGURE = {"started", "starting", "configured"}
_SKIP_STOP = {"stopped", "deleting", "deleted", "uninitialized", "configured"}


class _Building:
    """Build tasks in graph mode even when called from a non-graph workflow, with the
    collector paused and the graph set aside from it once built (engine/collector.py):
    what a lifecycle builds is the graph, which lives until it ran."""

    def __init__(self, graph):
        self.ctx = graph.run.workflow_ctx or current_workflow_ctx.get_ctx()
        self.previous = False
        self.long_lived = building_long_lived()

    def __enter__(self):
        self.previous = self.ctx._graph_mode
        self.ctx._graph_mode = True
        self.long_lived.__enter__()
        return self.ctx

    def __exit__(self, exc_type, exc, tb):
        self.ctx._graph_mode = self.previous
        self.long_lived.__exit__(exc_type, exc, tb)


class _Act:
    """A node event or state change of a lifecycle sequence, before ``_compact`` turns
    runs of them into tasks (cheaper than one task object each)."""

    __slots__ = ("fn", "run", "name", "context")

    def __init__(self, run, name: str, fn, context: dict):
        self.run, self.name, self.fn, self.context = run, name, fn, context


def _event(instance, text: str) -> _Act:
    run = instance._ctx._run
    context = instance.event_context
    encoded = instance.encoded_event_context
    return _Act(run, f"send_event {instance.id}",
                lambda: run.emitter.event("workflow_node_event", text, encoded), context)


def _state(instance, state: str) -> _Act:
    run = instance._ctx._run
    context = instance.event_context
    if run.dry_run:
        return _Act(run, f"set_state({state})", _nothing, context)

    def apply():
        run.storage.set_state_soon(instance.id, state)
        instance.state = state

    return _Act(run, f"set_state {instance.id} {state}", apply, context)


def _nothing() -> None:
    return None


def _plain_builtin(task) -> bool:
    return type(task) in (BuiltinTask, NOPLocalWorkflowTask) and task.on_success is None \
        and task.on_failure is None and task.graph is None


def _bookkeeping_fns(item) -> list | None:
    """The functions of a state/event item (an ``_Act``, a plain builtin task or a forkjoin
    of those), or None when the item is a real task."""
    kind = type(item)
    if kind is _Act:
        return [item.fn]
    if kind is _ForkJoin:
        fns = []
        for task in item.tasks:
            if type(task) is _Act:
                fns.append(task.fn)
            elif _plain_builtin(task):
                if type(task) is BuiltinTask:
                    fns.append(task._fn)
            else:
                return None
        return fns
    if _plain_builtin(item):
        return [item._fn] if kind is BuiltinTask else []
    return None


def _run_all(fns: tuple) -> None:
    for fn in fns:
        fn()


def _compact(items: list) -> tuple[list, dict]:
    """Merge runs of consecutive state/event tasks into one task each.

    They run inline on one runner thread one after the other anyway (a forkjoin of a
    state change and its event has no order in Cloudify either); one task instead of a
    dozen per instance keeps install/uninstall of thousands of instances cheap. Returns
    the new items and a map from id(original item) to the item that now stands for it.
    """
    out: list = []
    mapping: dict[int, object] = {}
    run: list = []
    fns: list = []

    def close_run():
        first = run[0].tasks[0] if type(run[0]) is _ForkJoin else run[0]
        context = first.context if type(first) is _Act else first.event_context
        if len(fns) == 1:
            fn = fns[0]
        else:
            fn = functools.partial(_run_all, tuple(fns))
        merged = BuiltinTask(first.run, first.name, fn, event_context=context)
        for item in run:
            mapping[id(item)] = merged
        out.append(merged)
        run.clear()
        fns.clear()

    for item in items:
        item_fns = _bookkeeping_fns(item)
        if item_fns is not None:
            run.append(item)
            fns.extend(item_fns)
            continue
        if run:
            close_run()
        out.append(item)
    if run:
        close_run()
    return out, mapping


def _op(instance, name: str):
    op = instance.node.operations.get(name)
    if not operation_defined(op):
        return None
    return instance.execute_operation(name)


def _step(instance, operation: str, skip: bool, before: str, after: str | None, nothing: str | None):
    """Items of one step: [event, op, event] or ['...: nothing to do'] (and whether real)."""
    task = None if skip else _op(instance, operation)
    if task is None:
        return ([_event(instance, nothing)] if nothing else []), False
    items = [_event(instance, before), task]
    if after:
        items.append(_event(instance, after))
    return items, True


def _relationship_groups(instance, targets_filter=None):
    """Relationship instances grouped by target instance, in declaration order."""
    groups: dict[str, list] = {}
    for rel in instance.relationships:
        if targets_filter is not None and rel.target_id not in targets_filter:
            continue
        groups.setdefault(rel.target_id, []).append(rel)
    return list(groups.values())


def _relationship_tasks(instance, operation: str, reverse: bool = False, targets_filter=None):
    if not instance.node.maps_relationship_operation(operation):
        return []
    items = []
    for group in _relationship_groups(instance, targets_filter):
        tasks = []
        for rel in group:
            if rel.target_node_instance is None:
                continue
            for side in ("source", "target"):
                ops = rel._operations(side)
                if operation_defined(ops.get(operation)):
                    if side == "source":
                        tasks.append(rel.execute_source_operation(operation))
                    else:
                        tasks.append(rel.execute_target_operation(operation))
        if tasks:
            items.append(forkjoin(*tasks))
    if reverse:
        items.reverse()
    return items


def _relationship_step(parent, instance, operation: str, before: str, after: str, reverse: bool = False):
    items = _relationship_tasks(instance, operation, reverse)
    if not items:
        return []
    sub = parent.subgraph(f"{operation}_subgraph")
    sub.sequence().add(*items)
    return [_event(instance, before), sub, _event(instance, after)]


def _moving_step(instance, after_op: dict, operation: str, skip: bool, states: tuple[str, str],
                 texts: tuple[str, str]):
    """A lifecycle operation that moves the instance through ``states`` (doing, done) with
    ``texts`` (doing, done) as events — or one "<doing>: nothing to do" event when it is
    skipped or not implemented. Returns (items, real) like ``_step``; the task that marks
    it done is recorded in ``after_op`` (what must follow the operation)."""
    task = None if skip else _op(instance, operation)
    if task is None:
        return [_event(instance, texts[0] + ": nothing to do")], False
    done = forkjoin(_state(instance, states[1]), _event(instance, texts[1]))
    after_op[operation] = done
    return [forkjoin(_state(instance, states[0]), _event(instance, texts[0])), task, done], True


def _install_subgraph(graph, instance, after_op: dict):
    """The install sequence of one instance; fills ``after_op[op]`` for lifecycle-op waits."""
    state = instance.state
    sub = graph.subgraph(f"install_{instance.id}")
    items: list = []
    real = False

    def add(step):
        nonlocal real
        parts, is_real = step
        items.extend(parts)
        real = real or is_real

    add(_step(instance, VALIDATION + "create", state in _SKIP_PRECREATE, "Validating node instance before creation",
              "Node instance validated before creation", "Validating node instance before creation: nothing to do"))
    add(_step(instance, LIFECYCLE + "precreate", state in _SKIP_PRECREATE, "Precreating node instance",
              "Node instance precreated", "Precreating node instance: nothing to do"))
    add(_moving_step(instance, after_op, LIFECYCLE + "create", state in _SKIP_CREATE, ("creating", "created"),
                     ("Creating node instance", "Node instance created")))
    if state not in _SKIP_CONFIGURE:
        rel_items = _relationship_step(sub, instance, RELATIONSHIP + "preconfigure", "Pre-configuring relationships",
                                       "Relationships pre-configured")
        items += rel_items
        real = real or bool(rel_items)
    add(_moving_step(instance, after_op, LIFECYCLE + "configure", state in _SKIP_CONFIGURE,
                     ("configuring", "configured"), ("Configuring node instance", "Node instance configured")))
    if state != "started":
        rel_items = _relationship_step(sub, instance, RELATIONSHIP + "postconfigure", "Post-configuring relationships",
                                       "Relationships post-configured")
        items += rel_items
        real = real or bool(rel_items)
    start = None if state == "started" else _op(instance, LIFECYCLE + "start")
    if start is not None:
        items += [forkjoin(_state(instance, "starting"), _event(instance, "Starting node instance")), start]
        real = True
    else:
        items.append(_event(instance, "Starting node instance: nothing to do"))
    if state != "started":
        if instance.host_id == instance.id:
            get_state = _op(instance, HOST_GET_STATE)
            if get_state is not None:
                get_state.on_success = _retry_until_truthy
                items.append(get_state)
                real = True
        for name in ("install", "start"):
            task = _op(instance, MONITORING_AGENT + name)
            if task is not None:
                items.append(task)
                real = True
    poststart_items, poststart_real = _step(instance, LIFECYCLE + "poststart", state == "started",
                                            "Poststarting node instance", "Node instance poststarted",
                                            "Poststarting node instance: nothing to do")
    if poststart_real:
        after_op[LIFECYCLE + "start"] = poststart_items[0]
    items += poststart_items
    real = real or poststart_real
    if state != "started":
        task = _op(instance, MONITORING + "start")
        if task is not None:
            items.append(task)
            real = True
        rel_items = _relationship_step(sub, instance, RELATIONSHIP + "establish", "Establishing relationships",
                                       "Relationships established")
        items += rel_items
        real = real or bool(rel_items)
    seq = sub.sequence()
    if not real:
        seq.add(*_compact([forkjoin(_state(instance, "started"),
                                    _event(instance, "Node instance started (nothing to do)"))])[0])
        return sub
    started = forkjoin(_state(instance, "started"), _event(instance, "Node instance started"))
    after_op.setdefault(LIFECYCLE + "start", started)
    compacted, mapping = _compact([_state(instance, "initializing"), *items, started])
    for name, follower in list(after_op.items()):
        after_op[name] = mapping.get(id(follower), follower)
    seq.add(*compacted)
    return sub


def _retry_until_truthy(task):
    """``host.get_state`` is polled until it returns a truthy value."""
    if task.result:
        return HandlerResult.cont()
    return HandlerResult.retry(ignore_total_retries=True)


def _uninstall_subgraph(graph, instance, ignore_failure: bool):
    state = instance.state
    sub = graph.subgraph(instance.id)
    items: list = []
    if state in _SKIP_STOP:
        items.append(_event(instance, f"Stop: instance already {state}"))
    else:
        items.append(forkjoin(_state(instance, "stopping"), _event(instance, "Stopping node instance")))
        items += _step(instance, VALIDATION + "delete", False, "Validating node instance before deletion",
                       "Node instance validated before deletion",
                       "Validating node instance after deletion: nothing to do")[0]
        task = _op(instance, MONITORING + "stop")
        if task is not None:
            items.append(task)
        items += _step(instance, LIFECYCLE + "prestop", False, "Prestopping node instance",
                       "Node instance prestopped", None)[0]
        for name in ("stop", "uninstall"):
            task = _op(instance, MONITORING_AGENT + name)
            if task is not None:
                items.append(task)
        stop = _op(instance, LIFECYCLE + "stop")
        if stop is not None:
            items += [stop, _event(instance, "Stopped node instance")]
        else:
            items.append(_event(instance, "Stopped node instance: nothing to do"))
    if state not in ("stopped", "deleting", "deleted"):
        items.append(_state(instance, "stopped"))
    if state in ("deleted", "uninitialized"):
        items.append(_event(instance, f"Delete: instance already {state}"))
    else:
        items += _relationship_step(sub, instance, RELATIONSHIP + "unlink", "Unlinking relationships",
                                    "Relationships unlinked", reverse=True)
        delete = _op(instance, LIFECYCLE + "delete")
        if delete is not None:
            items += [forkjoin(_state(instance, "deleting"), _event(instance, "Deleting node instance")), delete]
        else:
            items.append(_event(instance, "Deleting node instance: nothing to do"))
        items += _step(instance, LIFECYCLE + "postdelete", False, "Postdeleting node instance",
                       "Node instance postdeleted", None)[0]
    if state != "deleted":
        items.append(forkjoin(_state(instance, "deleted"), _event(instance, "Deleted node instance")))
    sub.sequence().add(*_compact(items)[0])
    if ignore_failure:
        _ignore_failures(sub)
    return sub


def _ignore_failures(sub) -> None:
    handler = _IgnoreFailure(sub.run)
    for task in sub.tasks.values():
        if task.is_subgraph:
            task.on_failure = handler
            _ignore_failures(task)
        else:
            task.on_failure = handler


class _IgnoreFailure:
    """``ignore_failure``: report ``Ignoring task <name> failure`` and let the sequence go on."""

    def __init__(self, run):
        self.run = run

    def __call__(self, task):
        self.run.emitter.event("workflow_stage", f"Ignoring task {task.name} failure", {})
        return HandlerResult.ignore()


def _relationship_target_dependency(graph, source_sub, rel, target_sub, target_after_op: dict) -> None:
    node_rel = rel.relationship
    lifecycle_op = (node_rel.properties or {}).get("operation") if node_rel is not None else None
    if lifecycle_op:
        name = lifecycle_op if "." in lifecycle_op else LIFECYCLE + lifecycle_op
        follower = target_after_op.get(name)
        if follower is None:
            return  # the target's operation is a NOP: no ordering at all (Cloudify)
        for task in (follower.tasks if isinstance(follower, _ForkJoin) else [follower]):
            graph.add_dependency(source_sub, task)
        return
    graph.add_dependency(source_sub, target_sub)


def _split(node_instances: Iterable, related_nodes: Iterable | None) -> tuple[dict, dict]:
    """The instances to process, and the related ones that are not among them, by id."""
    instances = {instance.id: instance for instance in node_instances}
    related = {instance.id: instance for instance in (related_nodes or []) if instance.id not in instances}
    return instances, related


def _related_stubs(graph, related: dict, instances: dict, operation: str, *, reverse: bool = False,
                   ignore_failure: bool = False) -> dict:
    """A ``stub_<id>`` subgraph per related instance with its ``operation`` relationship
    tasks towards the processed instances."""
    stubs = {}
    for instance in _ordered(related.values()):
        stub = graph.subgraph(f"stub_{instance.id}")
        items = _relationship_tasks(instance, operation, reverse=reverse, targets_filter=instances)
        if items:
            stub.sequence().add(*items)
            if ignore_failure:
                _ignore_failures(stub)
        stubs[instance.id] = stub
    return stubs


def _relationship_pairs(instances: dict, related: dict, subs: dict):
    """(source instance, relationship, target's subgraph) of every relationship between
    two instances that have subgraphs."""
    for instance in (*instances.values(), *related.values()):
        for rel in instance.relationships:
            target_sub = subs.get(rel.target_id)
            if target_sub is not None and rel.target_id != instance.id:
                yield instance, rel, target_sub


def install_node_instances(graph, node_instances: Iterable, related_nodes: Iterable | None = None,
                           name_prefix: str = "") -> None:
    """Install ``node_instances`` (targets before sources) and run the graph."""
    with _Building(graph):
        instances, related = _split(node_instances, related_nodes)
        subs: dict[str, object] = {}
        after_ops: dict[str, dict] = {}
        for instance in _ordered(instances.values()):
            after_ops[instance.id] = {}
            subs[instance.id] = _install_subgraph(graph, instance, after_ops[instance.id])
        subs.update(_related_stubs(graph, related, instances, RELATIONSHIP + "establish"))
        for instance, rel, target_sub in _relationship_pairs(instances, related, subs):
            _relationship_target_dependency(graph, subs[instance.id], rel, target_sub,
                                            after_ops.get(rel.target_id, {}))
    graph.execute()


def uninstall_node_instances(graph, node_instances: Iterable, ignore_failure: bool = False,
                             related_nodes: Iterable | None = None, name_prefix: str = "") -> None:
    """Uninstall ``node_instances`` (sources before targets) and run the graph."""
    with _Building(graph):
        instances, related = _split(node_instances, related_nodes)
        subs: dict[str, object] = {}
        for instance in _ordered(instances.values()):
            subs[instance.id] = _uninstall_subgraph(graph, instance, ignore_failure)
        subs.update(_related_stubs(graph, related, instances, RELATIONSHIP + "unlink", reverse=True,
                                   ignore_failure=True))
        for instance, _rel, target_sub in _relationship_pairs(instances, related, subs):
            graph.add_dependency(target_sub, subs[instance.id])
    graph.execute()


def reinstall_node_instances(graph, node_instances: Iterable, related_nodes: Iterable | None = None,
                             ignore_failure: bool = False) -> None:
    """Uninstall, refresh, install — two graph runs, as Cloudify's reinstall."""
    ctx = graph.run.workflow_ctx
    ids = [instance.id for instance in node_instances]
    related_ids = [instance.id for instance in (related_nodes or [])]
    uninstall_node_instances(graph, [ctx.get_node_instance(i) for i in ids], ignore_failure=ignore_failure,
                             related_nodes=[ctx.get_node_instance(i) for i in related_ids])
    ctx.refresh_node_instances()
    install_node_instances(graph, [ctx.get_node_instance(i) for i in ids if ctx.get_node_instance(i)],
                           related_nodes=[ctx.get_node_instance(i) for i in related_ids if ctx.get_node_instance(i)])


def _ordered(instances):
    return sorted(instances, key=lambda inst: inst.id)
