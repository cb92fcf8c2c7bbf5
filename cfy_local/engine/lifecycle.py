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
from cfy_local.engine.tasks import BuiltinTask, HandlerResult, forkjoin
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


class _Building(building_long_lived):
    """Build tasks in graph mode even when called from a non-graph workflow, with the
    collector paused and the graph set aside from it once built (engine/collector.py):
    what a lifecycle builds is the graph, which lives until it ran."""

    def __init__(self, graph):
        self.ctx = graph.run.workflow_ctx or current_workflow_ctx.get_ctx()
        self.previous = False

    def __enter__(self):
        self.previous = self.ctx._graph_mode
        self.ctx._graph_mode = True
        super().__enter__()
        return self.ctx

    def __exit__(self, exc_type, exc, tb):
        self.ctx._graph_mode = self.previous
        super().__exit__(exc_type, exc, tb)


def _nothing() -> None:
    return None


def _run_all(fns: tuple) -> None:
    for fn in fns:
        fn()


def _op(instance, name: str):
    op = instance.node.operations.get(name)
    if not operation_defined(op):
        return None
    return instance.execute_operation(name)


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


class _Steps:
    """One instance's lifecycle sequence, in order. Node events and state changes gather
    into one task per run of them (they run one after the other on one runner anyway, and a
    state change and its event have no order in Cloudify either), without an object per
    step first: the builders run for every instance, and building each step as an object
    and merging the runs after was a quarter of building a large graph. Operations and
    relationship subgraphs are items of their own."""

    __slots__ = ("instance", "run", "emit", "encoded", "items", "fns", "first", "followers", "after_op",
                 "real")

    def __init__(self, instance, after_op: dict | None = None):
        self.instance = instance
        self.run = instance._ctx._run
        self.emit = self.run.emitter.event
        self.encoded = instance.encoded_event_context
        self.items: list = []
        self.fns: list = []
        self.first = ""  # the name of the pending run: its first step's
        self.followers: list = []  # after_op names whose follower is the pending run
        self.after_op = after_op
        self.real = False

    def event(self, text: str) -> None:
        if not self.fns:
            self.first = f"send_event {self.instance.id}"
        self.fns.append(functools.partial(self.emit, "workflow_node_event", text, self.encoded))

    def state(self, state: str) -> None:
        run, instance = self.run, self.instance
        if run.dry_run:
            name, apply = f"set_state({state})", _nothing
        else:
            name = f"set_state {instance.id} {state}"

            def apply():
                run.storage.set_state_soon(instance.id, state)
                instance.state = state
        if not self.fns:
            self.first = name
        self.fns.append(apply)

    def follows(self, operation: str, *, unless_set: bool = False) -> None:
        """The run of steps pending or next is what waits for ``operation`` (a relationship
        with an ``operation`` property orders its source after it)."""
        if not (unless_set and operation in self.after_op):
            self.followers.append(operation)

    def task(self, task) -> None:
        self._close()
        self.items.append(task)
        self.real = True

    def _close(self) -> None:
        fns = self.fns
        if not fns:
            return
        fn = fns[0] if len(fns) == 1 else functools.partial(_run_all, tuple(fns))
        merged = BuiltinTask(self.run, self.first, fn, event_context=self.instance.event_context)
        self.items.append(merged)
        for operation in self.followers:
            self.after_op[operation] = merged
        self.followers.clear()
        self.fns = []

    def done(self) -> list:
        """The sequence's items, the pending run closed."""
        self._close()
        return self.items

    def discard(self) -> None:
        self.items, self.fns = [], []
        self.followers.clear()

    def step(self, operation: str, skip: bool, before: str, after: str | None, nothing: str | None) -> None:
        """[event, op, event], or '...: nothing to do' when skipped or not implemented."""
        task = None if skip else _op(self.instance, operation)
        if task is None:
            if nothing:
                self.event(nothing)
            return
        self.event(before)
        self.task(task)
        if after:
            self.event(after)

    def moving_step(self, operation: str, skip: bool, states: tuple[str, str], texts: tuple[str, str]) -> None:
        """An operation that moves the instance through ``states`` (doing, done) with
        ``texts`` as events, or one '<doing>: nothing to do' event; what marks it done is
        what waits for it."""
        task = None if skip else _op(self.instance, operation)
        if task is None:
            self.event(texts[0] + ": nothing to do")
            return
        self.state(states[0])
        self.event(texts[0])
        self.task(task)
        self.follows(operation)
        self.state(states[1])
        self.event(texts[1])

    def relationships(self, sub, operation: str, before: str, after: str, reverse: bool = False) -> None:
        """The relationship operations of one step, in a subgraph of ``sub`` between two
        events; nothing when no relationship maps the operation."""
        items = _relationship_tasks(self.instance, operation, reverse)
        if not items:
            return
        rel_sub = sub.subgraph(f"{operation}_subgraph")
        rel_sub.sequence().add(*items)
        self.event(before)
        self.task(rel_sub)
        self.event(after)


def _install_subgraph(graph, instance, after_op: dict):
    """The install sequence of one instance; fills ``after_op[op]`` for lifecycle-op waits."""
    state = instance.state
    sub = graph.subgraph(f"install_{instance.id}")
    steps = _Steps(instance, after_op)
    steps.state("initializing")
    steps.step(VALIDATION + "create", state in _SKIP_PRECREATE, "Validating node instance before creation",
               "Node instance validated before creation", "Validating node instance before creation: nothing to do")
    steps.step(LIFECYCLE + "precreate", state in _SKIP_PRECREATE, "Precreating node instance",
               "Node instance precreated", "Precreating node instance: nothing to do")
    steps.moving_step(LIFECYCLE + "create", state in _SKIP_CREATE, ("creating", "created"),
                      ("Creating node instance", "Node instance created"))
    if state not in _SKIP_CONFIGURE:
        steps.relationships(sub, RELATIONSHIP + "preconfigure", "Pre-configuring relationships",
                            "Relationships pre-configured")
    steps.moving_step(LIFECYCLE + "configure", state in _SKIP_CONFIGURE, ("configuring", "configured"),
                      ("Configuring node instance", "Node instance configured"))
    if state != "started":
        steps.relationships(sub, RELATIONSHIP + "postconfigure", "Post-configuring relationships",
                            "Relationships post-configured")
    start = None if state == "started" else _op(instance, LIFECYCLE + "start")
    if start is not None:
        steps.state("starting")
        steps.event("Starting node instance")
        steps.task(start)
    else:
        steps.event("Starting node instance: nothing to do")
    if state != "started":
        if instance.host_id == instance.id:
            get_state = _op(instance, HOST_GET_STATE)
            if get_state is not None:
                get_state.on_success = _retry_until_truthy
                steps.task(get_state)
        for name in ("install", "start"):
            task = _op(instance, MONITORING_AGENT + name)
            if task is not None:
                steps.task(task)
    poststart = None if state == "started" else _op(instance, LIFECYCLE + "poststart")
    if poststart is None:
        steps.event("Poststarting node instance: nothing to do")
    else:
        steps.follows(LIFECYCLE + "start")
        steps.event("Poststarting node instance")
        steps.task(poststart)
        steps.event("Node instance poststarted")
    if state != "started":
        task = _op(instance, MONITORING + "start")
        if task is not None:
            steps.task(task)
        steps.relationships(sub, RELATIONSHIP + "establish", "Establishing relationships",
                            "Relationships established")
    if not steps.real:
        # Nothing to run: only the end state and one event (Cloudify skips the rest).
        steps.discard()
        steps.state("started")
        steps.event("Node instance started (nothing to do)")
    else:
        steps.follows(LIFECYCLE + "start", unless_set=True)
        steps.state("started")
        steps.event("Node instance started")
    sub.sequence().add(*steps.done())
    return sub


def _retry_until_truthy(task):
    """``host.get_state`` is polled until it returns a truthy value."""
    if task.result:
        return HandlerResult.cont()
    return HandlerResult.retry(ignore_total_retries=True)


def _uninstall_subgraph(graph, instance, ignore_failure: bool):
    state = instance.state
    sub = graph.subgraph(instance.id)
    steps = _Steps(instance)
    if state in _SKIP_STOP:
        steps.event(f"Stop: instance already {state}")
    else:
        steps.state("stopping")
        steps.event("Stopping node instance")
        steps.step(VALIDATION + "delete", False, "Validating node instance before deletion",
                   "Node instance validated before deletion", "Validating node instance after deletion: nothing to do")
        task = _op(instance, MONITORING + "stop")
        if task is not None:
            steps.task(task)
        steps.step(LIFECYCLE + "prestop", False, "Prestopping node instance", "Node instance prestopped", None)
        for name in ("stop", "uninstall"):
            task = _op(instance, MONITORING_AGENT + name)
            if task is not None:
                steps.task(task)
        stop = _op(instance, LIFECYCLE + "stop")
        if stop is not None:
            steps.task(stop)
            steps.event("Stopped node instance")
        else:
            steps.event("Stopped node instance: nothing to do")
    if state not in ("stopped", "deleting", "deleted"):
        steps.state("stopped")
    if state in ("deleted", "uninitialized"):
        steps.event(f"Delete: instance already {state}")
    else:
        steps.relationships(sub, RELATIONSHIP + "unlink", "Unlinking relationships", "Relationships unlinked",
                            reverse=True)
        delete = _op(instance, LIFECYCLE + "delete")
        if delete is not None:
            steps.state("deleting")
            steps.event("Deleting node instance")
            steps.task(delete)
        else:
            steps.event("Deleting node instance: nothing to do")
        steps.step(LIFECYCLE + "postdelete", False, "Postdeleting node instance", "Node instance postdeleted", None)
    if state != "deleted":
        steps.state("deleted")
        steps.event("Deleted node instance")
    sub.sequence().add(*steps.done())
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
        graph.add_dependency(source_sub, follower)
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
