"""The workflow ctx (Cloudify's ``CloudifyWorkflowContext``) and its nodes and instances.

Node instances are a snapshot taken when the ctx is created (``refresh_node_instances()``
reloads them), as in Cloudify. Task-returning calls (``execute_operation``, ``set_state``,
``send_event``, ``local_task``) start the task at once in the default (non-graph) mode;
after ``graph_mode()`` they only build tasks for ``graph.execute()``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Callable

from cfy_local.deployments import modifications
from cfy_local.deployments.instances import CONTAINED_IN
from cfy_local.deployments.records import load_deployment
from cfy_local.engine.collector import building_long_lived
from cfy_local.engine.context import BlueprintContext, DeploymentContext, OperationTask
from cfy_local.engine.event_emitter import EncodedContext, encode_members, make_logger
from cfy_local.engine.exceptions import NonRecoverableError
from cfy_local.engine.rest_api import Resource
from cfy_local.engine.tasks import BuiltinTask, LocalCallableTask, NOPLocalWorkflowTask, TaskDependencyGraph


def operation_defined(op: dict | None) -> bool:
    """Cloudify's ``has_operation``: the op exists and maps to something."""
    return bool(op) and bool(op.get("operation") or op.get("implementation"))


class WorkflowRelationship:
    """A relationship of a node (node level; ``target_id`` is a node id)."""

    def __init__(self, ctx: "CloudifyWorkflowContext", node: "WorkflowNode", rel: dict):
        self._ctx = ctx
        self._rel = rel
        self.node = node
        self.type = rel.get("type")
        self.target_id = rel.get("target_id")
        self.type_hierarchy = list(rel.get("type_hierarchy") or [self.type])
        self.properties = rel.get("properties") or {}
        self.source_operations = rel.get("source_operations") or {}
        self.target_operations = rel.get("target_operations") or {}

    @property
    def target_node(self) -> "WorkflowNode":
        return self._ctx.get_node(self.target_id)

    def is_derived_from(self, type_name: str) -> bool:
        return type_name in self.type_hierarchy


class WorkflowNode:
    def __init__(self, ctx: "CloudifyWorkflowContext", node: dict):
        self._ctx = ctx
        self._node = node
        self.id = node["id"]
        self.type = node.get("type")
        self.type_hierarchy = list(node.get("type_hierarchy") or [self.type])
        self.properties = node.get("properties") or {}
        self.plugins = [{"name": name} for name in node.get("plugins") or []]
        self.plugins_to_install = []
        self.host_id = node.get("host_id")
        self.number_of_instances = node.get("number_of_instances", 1)
        self.planned_number_of_instances = node.get("number_of_instances", 1)
        self.deploy_number_of_instances = node.get("deploy_number_of_instances", self.number_of_instances)
        self.operations = node.get("operations") or {}
        self._relationships = [WorkflowRelationship(ctx, self, rel) for rel in node.get("relationships") or []]
        self._instances: list[WorkflowNodeInstance] = []
        self._relationship_operations: dict[str, bool] = {}

    @property
    def relationships(self):
        return iter(self._relationships)

    @property
    def instances(self):
        return iter(self._instances)

    @property
    def host_node(self) -> "WorkflowNode | None":
        return self._ctx.get_node(self.host_id) if self.host_id else None

    def has_operation(self, operation: str) -> bool:
        return operation_defined(self.operations.get(operation))

    def maps_relationship_operation(self, operation: str) -> bool:
        """Whether a relationship of this node maps ``operation`` on either side. Asked for
        every instance at every relationship step of a lifecycle workflow, answered once
        per node: an instance's relationships take their operations from the node's."""
        found = self._relationship_operations.get(operation)
        if found is None:
            found = self._relationship_operations[operation] = any(
                operation_defined(rel.source_operations.get(operation))
                or operation_defined(rel.target_operations.get(operation)) for rel in self._relationships)
        return found

    def get_relationship(self, target_id: str) -> WorkflowRelationship | None:
        found = None
        for rel in self._relationships:
            if rel.target_id == target_id:
                found = rel  # the last declared wins, as in Cloudify
        return found

    def relationship_for(self, rel: dict) -> WorkflowRelationship | None:
        by_type = None
        for node_rel in self._relationships:
            if node_rel.target_id == rel.get("target_name"):
                if node_rel.type == rel.get("type"):
                    by_type = node_rel
        return by_type or self.get_relationship(rel.get("target_name"))


class WorkflowRelationshipInstance:
    """A relationship of an instance (``target_id`` is an instance id)."""

    def __init__(self, ctx: "CloudifyWorkflowContext", source: "WorkflowNodeInstance", rel: dict):
        self._ctx = ctx
        self.node_instance = source
        self.type = rel.get("type")
        self.source_id = source.id
        self.target_id = rel["target_id"]
        self.target_name = rel.get("target_name")
        self.relationship = source.node.relationship_for(rel)

    @property
    def target_node_instance(self) -> "WorkflowNodeInstance | None":
        return self._ctx.get_node_instance(self.target_id)

    def _operations(self, side: str) -> dict:
        if self.relationship is None:
            return {}
        return self.relationship.source_operations if side == "source" else self.relationship.target_operations

    def execute_source_operation(self, operation: str, kwargs: dict | None = None,
                                 allow_kwargs_override: bool = False, send_task_events: bool = True):
        return self._ctx._operation_task(
            self.node_instance, operation, self._operations("source").get(operation), kwargs,
            allow_kwargs_override, send_task_events, relationship="source", related=self.target_node_instance)

    def execute_target_operation(self, operation: str, kwargs: dict | None = None,
                                 allow_kwargs_override: bool = False, send_task_events: bool = True):
        return self._ctx._operation_task(
            self.target_node_instance, operation, self._operations("target").get(operation), kwargs,
            allow_kwargs_override, send_task_events, relationship="target", related=self.node_instance)


class WorkflowNodeInstance:
    def __init__(self, ctx: "CloudifyWorkflowContext", node: WorkflowNode, data: dict):
        self._ctx = ctx
        self._data = data
        self.node = node
        self.id = data["id"]
        self.node_id = data["node_id"]
        self.deployment_id = data.get("deployment_id")
        self.state = data.get("state")
        self.version = data.get("version", 1)
        self.runtime_properties = data.get("runtime_properties") or {}
        self.system_properties = data.get("system_properties") or {}
        self.scaling_groups = data.get("scaling_groups") or []
        self.modification = data.get("modification")
        self.host_id = data.get("host_id")
        self.index = data.get("index", 0)
        self._relationships = [WorkflowRelationshipInstance(ctx, self, rel) for rel in data.get("relationships") or []]
        self._logger = None
        # Filled on first use, named here: an attribute an instance first takes later gives
        # it a dict of its own once many instances exist (engine/tasks.py, WorkflowTask).
        self._event_context: dict | None = None
        self._encoded_event_context: EncodedContext | None = None

    def __eq__(self, other):
        return isinstance(other, WorkflowNodeInstance) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<WorkflowNodeInstance {self.id} {self.state}>"

    @property
    def event_context(self) -> dict:
        """The context of this instance's node events (read-only: shared by all of them)."""
        if self._event_context is None:
            self._event_context = {"node_name": self.node_id, "node_id": self.id}
        return self._event_context

    @property
    def encoded_event_context(self) -> EncodedContext:
        if self._encoded_event_context is None:
            self._encoded_event_context = encode_members(self.event_context)
        return self._encoded_event_context

    @property
    def _node_instance(self) -> Resource:
        """The raw instance as Cloudify's view holds it (the REST resource: keys read as
        attributes); workflows such as the utilities plugin's scalelist read it."""
        return Resource(self._data)

    @property
    def relationships(self):
        return iter(self._relationships)

    @property
    def contained_instances(self) -> list["WorkflowNodeInstance"]:
        return self._ctx._contained_in(self.id)

    def get_contained_subgraph(self) -> set["WorkflowNodeInstance"]:
        result = {self}
        for child in self.contained_instances:
            result |= child.get_contained_subgraph()
        return result

    @property
    def logger(self):
        if self._logger is None:
            self._logger = make_logger(self._ctx._run.emitter, f"ctx.{self._ctx.execution_id}-{self.id}",
                                       {"node_name": self.node_id, "node_id": self.id})
        return self._logger

    def set_state(self, state: str):
        run = self._ctx._run
        if run.dry_run:
            return self._ctx._process(NOPLocalWorkflowTask(run, f"set_state({state})"))

        buffered = self._ctx._graph_mode

        def apply():
            if buffered:
                run.storage.set_state_soon(self.id, state)
            else:
                run.storage.set_state(self.id, state)
            self.state = state
            return None

        return self._ctx._process(BuiltinTask(run, f"set_state {self.id} {state}", apply,
                                              event_context={"node_name": self.node_id, "node_id": self.id}))

    def get_state(self):
        run = self._ctx._run
        def read():
            run.storage.flush_states()
            return run.storage.load_instance(self.id).get("state")

        return self._ctx._process(BuiltinTask(run, f"get_state {self.id}", read))

    def send_event(self, event: str, additional_context: dict | None = None):
        run = self._ctx._run
        context = {"node_name": self.node_id, "node_id": self.id}
        if additional_context:
            context.update(additional_context)
        return self._ctx._process(BuiltinTask(
            run, f"send_event {self.id}", lambda: run.emitter.event("workflow_node_event", str(event), context),
            event_context=context))

    def execute_operation(self, operation: str, kwargs: dict | None = None, allow_kwargs_override: bool = False,
                          send_task_events: bool = True):
        return self._ctx._operation_task(self, operation, self.node.operations.get(operation), kwargs,
                                         allow_kwargs_override, send_task_events)


def _children_of(instances) -> dict[str, list[WorkflowNodeInstance]]:
    """Instance id → the instances contained in it."""
    children: dict[str, list[WorkflowNodeInstance]] = {}
    for instance in instances:
        for rel in instance._relationships:
            node_rel = rel.relationship
            hierarchy = node_rel.type_hierarchy if node_rel else [rel.type]
            if CONTAINED_IN in hierarchy:
                children.setdefault(rel.target_id, []).append(instance)
    return children


class _NodeLookups:
    """``nodes``/``node_instances`` and lookups by id over ``_nodes``/``_instances``: what a
    workflow ctx and a modification's views both offer, as Cloudify's do."""

    _nodes: dict[str, WorkflowNode]
    _instances: dict[str, WorkflowNodeInstance]

    @property
    def nodes(self):
        return iter(self._nodes.values())

    @property
    def node_instances(self):
        return iter(self._instances.values())

    def get_node(self, node_id: str) -> WorkflowNode | None:
        return self._nodes.get(node_id)

    def get_node_instance(self, instance_id: str) -> WorkflowNodeInstance | None:
        return self._instances.get(instance_id)


class ModificationNodes(_NodeLookups):
    """``modification.added`` / ``.removed``: the changed instances (``modification`` is
    ``added`` / ``removed``) and the instances related to them, as workflow views over
    the modification's record — relationships resolve within this set and the related
    instances' relationships are only those towards changed ones, as in Cloudify. Tasks
    made from them (``execute_operation``, ``set_state``…) belong to the workflow."""

    def __init__(self, ctx: "CloudifyWorkflowContext", raw_instances: list[dict]):
        self._ctx = ctx
        self._nodes: dict[str, WorkflowNode] = {}
        self._instances: dict[str, WorkflowNodeInstance] = {}
        for data in raw_instances:
            source = ctx.get_node(data.get("node_id"))
            if source is None:
                continue
            node = self._nodes.get(source.id)
            if node is None:
                node = self._nodes[source.id] = WorkflowNode(self, source._node)
            instance = WorkflowNodeInstance(self, node, data)
            self._instances[instance.id] = instance
            node._instances.append(instance)
        self._children: dict[str, list[WorkflowNodeInstance]] | None = None

    def __getattr__(self, name):
        # Everything a view needs besides lookups (the run, graph mode, task making) is the
        # workflow ctx's.
        return getattr(self._ctx, name)

    def _contained_in(self, instance_id: str) -> list[WorkflowNodeInstance]:
        if self._children is None:
            self._children = _children_of(self._instances.values())
        return list(self._children.get(instance_id, []))


class Modification:
    """What ``ctx.deployment.start_modification(nodes)`` returns: the started deployment
    modification (``id``, ``added``, ``removed``), ended by ``finish()`` or
    ``rollback()``."""

    def __init__(self, ctx: "CloudifyWorkflowContext", record: dict):
        self._ctx = ctx
        self._record = record
        instances = record.get("node_instances") or {}
        self.added = ModificationNodes(ctx, instances.get("added_and_related") or [])
        self.removed = ModificationNodes(ctx, instances.get("removed_and_related") or [])

    @property
    def id(self) -> str:
        return self._record["id"]

    @property
    def status(self) -> str:
        return self._record.get("status")

    def __repr__(self):
        return f"<Modification {self.id} {self.status}>"

    def finish(self) -> None:
        """Finish the modification: the removed instances leave the deployment."""
        run = self._ctx._run
        run.storage.flush_states()
        self._record = modifications.finish_modification(run.home, self.id)
        run.storage.instance_files_changed()
        self._ctx._reload_deployment()

    def rollback(self) -> None:
        """Roll it back: the deployment's instances are as they were before it started."""
        run = self._ctx._run
        run.storage.flush_states()
        self._record = modifications.rollback_modification(run.home, self.id)
        run.storage.instance_files_changed()
        self._ctx._reload_deployment()


class _Internal:
    """``ctx.internal``: the graph, the handler-ish helpers some workflows touch."""

    def __init__(self, ctx: "CloudifyWorkflowContext"):
        self._ctx = ctx
        self.bootstrap_context = {}

    @property
    def task_graph(self) -> TaskDependencyGraph:
        return self._ctx._graph

    @property
    def graph_mode(self) -> bool:
        return self._ctx._graph_mode

    @property
    def handler(self):
        return self._ctx

    def get_task_configuration(self) -> dict:
        run = self._ctx._run
        return {"total_retries": run.task_retries, "retry_interval": run.task_retry_interval}

    def send_workflow_event(self, event_type: str, message: str | None = None, args: dict | None = None,
                            additional_context: dict | None = None) -> None:
        self._ctx._run.emitter.event(event_type, message or "", additional_context, args)


class WorkflowDeploymentContext(DeploymentContext):
    """The operation ctx's deployment, plus what workflows read (live scaling groups)."""

    def __init__(self, ctx: "CloudifyWorkflowContext", deployment: dict):
        super().__init__(deployment)
        self._ctx = ctx

    @property
    def scaling_groups(self) -> dict:
        return self._ctx._run.storage.deployment.get("scaling_groups") or {}

    def start_modification(self, nodes: dict) -> Modification:
        """Start a deployment modification (``{<node or group id>: {instances: N, …}}``):
        added instances exist at once, removed ones until ``finish()``; the workflow's
        instances are refreshed."""
        ctx = self._ctx
        run = ctx._run
        run.storage.flush_states()
        record = modifications.start_modification(run.home, self.id, nodes, context={
            "blueprint_id": ctx.blueprint.id, "deployment_id": self.id,
            "execution_id": ctx.execution_id, "workflow_id": ctx.workflow_id})
        run.storage.instance_files_changed()
        ctx._reload_deployment()
        ctx.refresh_node_instances()
        return Modification(ctx, record)

    def list_started_modifications(self) -> list[Modification]:
        run = self._ctx._run
        return [Modification(self._ctx, record)
                for record in modifications.list_modifications(run.home, self.id, modifications.STARTED)]


class CloudifyWorkflowContext(_NodeLookups):
    """The ctx a workflow function receives."""

    local = True

    def __init__(self, run):
        self._run = run
        self._graph = TaskDependencyGraph(run)
        self._graph_mode = False
        self._non_graph_tasks: list = []
        self.internal = _Internal(self)
        self.deployment = WorkflowDeploymentContext(self, run.deployment)
        self.blueprint = BlueprintContext(run.deployment.get("blueprint_id"))
        self.execution_id = run.execution_id
        self.workflow_id = run.workflow_id
        self.tenant_name = "default_tenant"
        self.tenant = {"name": "default_tenant"}
        self.execution_creator_username = "admin"
        self.bootstrap_context = {}
        self.rest_host = self.rest_port = self.rest_token = self.execution_token = None
        self.bypass_maintenance = False
        self._logger = None
        self._load()

    # -- snapshot of nodes and instances ------------------------------------------------
    def _load(self) -> None:
        # The snapshot lives as long as the run (or until refreshed): built with the collector
        # paused, then set aside from it (engine/collector.py).
        with building_long_lived():
            storage = self._run.storage
            self._nodes = {node["id"]: WorkflowNode(self, node) for node in storage.nodes}
            self._instances: dict[str, WorkflowNodeInstance] = {}
            for data in storage.load_instances():
                node = self._nodes.get(data.get("node_id"))
                if node is None:
                    continue
                instance = WorkflowNodeInstance(self, node, data)
                self._instances[instance.id] = instance
                node._instances.append(instance)
            self._children: dict[str, list[WorkflowNodeInstance]] | None = None

    def _contained_in(self, instance_id: str) -> list[WorkflowNodeInstance]:
        if self._children is None:
            self._children = _children_of(self._instances.values())
        return list(self._children.get(instance_id, []))

    def _reload_deployment(self) -> None:
        """Re-read the deployment record (scaling group counts change with a modification)."""
        record = load_deployment(self._run.home, self.deployment.id)
        self._run.storage.deployment = record
        self._run.deployment = record

    def refresh_node_instances(self) -> None:
        self._run.storage.flush_states()
        self._run.storage.reload_nodes()
        self._run.node_map = self._run.storage.node_map()
        self._load()

    # -- flags --------------------------------------------------------------------------
    @property
    def dry_run(self) -> bool:
        return self._run.dry_run

    @property
    def resume(self) -> bool:
        return self._run.resume

    @property
    def wait_after_fail(self) -> float:
        return self._run.wait_after_fail

    @property
    def logger(self):
        if self._logger is None:
            self._logger = make_logger(self._run.emitter, f"ctx.{self.execution_id}", {})
        return self._logger

    # -- tasks ----------------------------------------------------------------------------
    def graph_mode(self) -> TaskDependencyGraph:
        # Cloudify refuses the switch while a task started in non-graph mode has not been
        # awaited (``.get()``), finished or not.
        if any(not task.async_result.fetched for task in self._non_graph_tasks):
            raise RuntimeError("Cannot switch to graph mode when tasks have already been executed")
        # Awaited tasks left the graph in Cloudify when their result was read; the graph
        # executed from here holds only what the workflow adds now.
        for task in self._non_graph_tasks:
            self._graph.remove_task(task)
        self._graph_mode = True
        return self._graph

    def _process(self, task):
        if self._graph_mode:
            return task
        # Non-graph mode starts the task now and hands back its result (``.get()``).
        self._graph.add_task(task)
        self._non_graph_tasks.append(task)
        return task.apply_async()

    def _wait_non_graph_tasks(self) -> None:
        """Wait for tasks started in non-graph mode; their errors are judged by the caller
        (an error the workflow already received through ``.get()`` does not count again)."""
        for task in list(self._non_graph_tasks):
            done = task.async_result._done
            while not done.wait(0.2):
                self._run.emitter.maybe_flush()
                if self._run.cancel_requested():
                    break

    def _operation_task(self, instance: WorkflowNodeInstance, operation: str, op: dict | None,
                        kwargs: dict | None, allow_kwargs_override: bool, send_task_events: bool,
                        relationship: str | None = None, related: WorkflowNodeInstance | None = None):
        run = self._run
        if instance is None or not operation_defined(op):
            return self._process(NOPLocalWorkflowTask(run))
        inputs = op.get("inputs") or {}
        merged = dict(inputs)
        for key, value in (kwargs or {}).items():
            if key in inputs and not allow_kwargs_override:
                raise RuntimeError(
                    f"Duplicate definition of {key} in operation properties and in kwargs. To allow redefinition, "
                    'pass "allow_kwargs_override" to "execute_operation"')
            merged[key] = value
        max_retries = op.get("max_retries")
        retry_interval = op.get("retry_interval")
        total_retries = run.task_retries if max_retries is None else int(max_retries)
        interval = run.task_retry_interval if retry_interval is None else float(retry_interval)
        key = run.next_key(f"{instance.id}|{operation}|{relationship or ''}|{related.id if related else ''}")
        task = OperationTask(
            run, node=instance.node._node, instance=instance._data, operation_name=operation, op=op,
            kwargs=merged, total_retries=total_retries, retry_interval=interval, relationship=relationship,
            related_instance=related._data if related is not None else None,
            send_task_events=send_task_events, key=key)
        run.register_operation(task)
        return self._process(task)

    def send_event(self, event: str, event_type: str = "workflow_stage", args: dict | None = None,
                   additional_context: dict | None = None):
        run = self._run
        return self._process(BuiltinTask(
            run, "send_event", lambda: run.emitter.event(event_type, str(event), additional_context, args)))

    def local_task(self, local_task: Callable, node=None, info=None, kwargs: dict | None = None,
                   task_id: str | None = None, name: str | None = None, send_task_events: bool = True,
                   override_task_config: bool = False, total_retries: int | None = None,
                   retry_interval: float | None = None):
        run = self._run
        if total_retries is None:
            total_retries = run.task_retries
        if retry_interval is None:
            retry_interval = run.task_retry_interval
        task_name = name or getattr(local_task, "__name__", None) or str(local_task)
        context = {"node_name": node.id} if node is not None and hasattr(node, "id") else {}
        task = LocalCallableTask(run, local_task, task_name, kwargs, info=info, task_id=task_id,
                                 send_task_events=send_task_events, total_retries=total_retries,
                                 retry_interval=retry_interval, event_context=context)
        return self._process(task)

    # -- storage passthroughs --------------------------------------------------------------
    def update_node_instance(self, node_instance_id: str, version: int = 0, state: str | None = None,
                             runtime_properties: dict | None = None, system_properties: dict | None = None,
                             relationships=None, force: bool = False) -> dict:
        expected = None if (force or not version) else version
        self._run.storage.flush_states()
        record = self._run.storage.update_instance(node_instance_id, expected_version=expected, state=state,
                                                   runtime_properties=runtime_properties,
                                                   system_properties=system_properties)
        instance = self._instances.get(node_instance_id)
        if instance is not None:
            instance.state = record.get("state")
            instance.version = record.get("version")
            instance.runtime_properties = record.get("runtime_properties") or {}
            instance.system_properties = record.get("system_properties") or {}
        return record

    def download_resource(self, resource_path: str, target_path: str | None = None) -> str:
        base = os.path.realpath(self._run.storage.resources_dir)
        path = os.path.realpath(os.path.join(base, resource_path))
        if path != base and not path.startswith(base + os.sep):
            raise NonRecoverableError(f"Resource path `{resource_path}` is outside the blueprint folder; refused")
        if not os.path.isfile(path):
            raise NonRecoverableError(f"Resource not found: {resource_path}")
        if target_path is None:
            fd, target_path = tempfile.mkstemp(suffix="-" + os.path.basename(path))
            os.close(fd)
        shutil.copyfile(path, target_path)
        return target_path

    def get_resource(self, resource_path: str) -> bytes:
        path = self.download_resource(resource_path)
        try:
            with open(path, "rb") as fh:
                return fh.read()
        finally:
            os.unlink(path)

    def update_execution_status(self, status: str) -> None:
        raise NonRecoverableError("update_execution_status is not available: the executions are "
                                  "managed by cfy-local")

    def start_execution(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("start_execution is not supported in local workflows")
