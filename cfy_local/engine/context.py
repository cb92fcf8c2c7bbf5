"""The operation ctx (Cloudify's ``CloudifyContext``) and the operation task that runs it.

Runtime properties are fetched lazily on first use and written back at the end of the
operation whatever happened (``finally``), only when a top-level key changed — Cloudify's
dirty tracking (a change inside a nested value alone is not saved). The write checks the version read, so two operations
writing one instance never silently lose each other's values.
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
from typing import Any

from cfy_local.engine.exceptions import HttpException, NonRecoverableError, OperationRetry
from cfy_local.engine.ctx_stack import AttrDict, current_ctx
from cfy_local.engine.storage import StorageConflictError
from cfy_local.engine.event_emitter import encode_members, encode_string
from cfy_local.engine.tasks import WorkflowTask
from cfy_local.engine.managers import local_brokers, local_managers

SCRIPT_MAPPINGS = frozenset({"script_runner.tasks.run", "script.script_runner.tasks.run"})
RUNTIME_FUNCTIONS = frozenset({
    "get_attribute", "get_attributes_list", "get_attributes_dict", "get_secret", "get_sys", "get_input",
    "get_property", "concat", "merge", "get_capability", "get_label", "string_find", "string_replace",
    "string_split", "string_lower", "string_upper",
})


def has_functions(value: Any) -> bool:
    """True if ``value`` holds an intrinsic function to evaluate at run time."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in RUNTIME_FUNCTIONS:
            return True
        return any(has_functions(item) for item in value.values())
    if isinstance(value, list):
        return any(has_functions(item) for item in value)
    return False


class DirtyTrackingDict(dict):
    """Marks itself dirty on top-level changes only, as Cloudify does."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dirty = False

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.dirty = True

    def __delitem__(self, key):
        super().__delitem__(key)
        self.dirty = True

    def update(self, *args, **kwargs):
        super().update(*args, **kwargs)
        self.dirty = True

    def clear(self):
        super().clear()
        self.dirty = True

    def pop(self, *args):
        self.dirty = True
        return super().pop(*args)

    def popitem(self):
        self.dirty = True
        return super().popitem()

    def setdefault(self, key, default=None):
        if key not in self:
            self.dirty = True
        return super().setdefault(key, default)


class ReadOnlyDict(dict):
    """Node properties: reading is free, writing is an error."""

    def _refuse(self, *args, **kwargs):
        raise NonRecoverableError("Cannot override read only properties")

    __setitem__ = __delitem__ = update = clear = pop = popitem = setdefault = _refuse


class ReadOnlyRuntimeDict(dict):
    def _refuse(self, *args, **kwargs):
        raise NonRecoverableError("Cannot modify runtime properties of relationship node instances")

    __setitem__ = __delitem__ = update = clear = pop = popitem = setdefault = _refuse


class BlueprintContext:
    def __init__(self, blueprint_id):
        self.id = blueprint_id


class DeploymentContext:
    def __init__(self, deployment: dict):
        self.id = deployment.get("id")
        self.display_name = deployment.get("display_name") or self.id
        self.tenant_name = "default_tenant"
        self.creator = deployment.get("created_by") or "admin"
        self.resource_tags = deployment.get("resource_tags") or {}
        self.runtime_only_evaluation = bool(deployment.get("runtime_only_evaluation", False))


class NodeContext:
    def __init__(self, node: dict):
        self._node = node
        self.id = node["id"]
        self.name = node["id"]
        self.type = node.get("type")
        self.type_hierarchy = list(node.get("type_hierarchy") or [])
        self.number_of_instances = node.get("number_of_instances", 1)
        self._properties = None

    @property
    def properties(self) -> ReadOnlyDict:
        if self._properties is None:
            self._properties = ReadOnlyDict(copy.deepcopy(self._node.get("properties") or {}))
        return self._properties


class NodeInstanceContext:
    """``ctx.instance`` (and ``ctx.source.instance`` / ``ctx.target.instance``)."""

    def __init__(self, run, instance: dict, *, modifiable: bool = True):
        self._run = run
        self._snapshot = instance
        self.id = instance["id"]
        self._modifiable = modifiable
        self._record: dict | None = None
        self._runtime: DirtyTrackingDict | None = None

    def _fetch(self) -> dict:
        if self._record is None:
            self._record = self._run.storage.load_instance(self.id)
            # A private copy already (engine/storage.py load_instance).
            props = self._record.get("runtime_properties") or {}
            self._runtime = DirtyTrackingDict(props) if self._modifiable else ReadOnlyRuntimeDict(props)
        return self._record

    @property
    def runtime_properties(self) -> dict:
        self._fetch()
        return self._runtime

    @runtime_properties.setter
    def runtime_properties(self, value: dict) -> None:
        if not self._modifiable:
            raise NonRecoverableError("Cannot modify runtime properties of relationship node instances")
        self._fetch()
        self._runtime = DirtyTrackingDict(value)
        self._runtime.dirty = True

    @property
    def version(self) -> int:
        return int(self._fetch().get("version", 1))

    @property
    def state(self) -> str | None:
        return self._fetch().get("state")

    @property
    def dirty(self) -> bool:
        return isinstance(self._runtime, DirtyTrackingDict) and self._runtime.dirty

    def update(self, on_conflict=None) -> None:
        """Write the runtime properties now (version-checked) and drop the cached copy.

        Without ``on_conflict``, only when a top-level key changed, and a concurrent change
        raises StorageConflictError. With it, as Cloudify does: the handler is called first
        with the local properties twice (``on_conflict(local, local)``: optimistically, the
        stored ones are assumed to be those read) and what it returns is written — whether
        or not anything changed locally; on a version conflict the instance is fetched
        again and the handler called with the same local properties and the fresh ones,
        until a write succeeds.
        """
        if on_conflict is not None:
            self._fetch()
            if not self._modifiable:
                raise NonRecoverableError("Cannot modify runtime properties of relationship node instances")
            local = dict(self._runtime)
            latest = local
            storage = self._run.storage
            while True:
                wanted = on_conflict(local, latest)
                self._runtime = DirtyTrackingDict(wanted)
                self._runtime.dirty = True
                try:
                    storage.update_instance(self.id, expected_version=int(self._record.get("version", 1)),
                                            runtime_properties=dict(wanted))
                    break
                except StorageConflictError:
                    self.refresh(force=True)
                    latest = dict(self.runtime_properties)
            self._record = None
            self._runtime = None
            return
        if self._record is None or not self.dirty:
            self._record = None
            self._runtime = None
            return
        self._run.storage.update_instance(
            self.id, expected_version=int(self._record.get("version", 1)),
            runtime_properties=dict(self._runtime),
        )
        self._record = None
        self._runtime = None

    def refresh(self, force: bool = False) -> None:
        if self.dirty and not force:
            raise NonRecoverableError("runtime_properties are dirty: refreshing now would destroy local changes")
        self._record = None
        self._runtime = None

    @property
    def index(self) -> int:
        return self._snapshot.get("index", 0)

    @property
    def scaling_groups(self) -> list:
        return self._snapshot.get("scaling_groups") or []

    @property
    def drift(self):
        return None

    @property
    def host_ip(self):
        host_id = self._snapshot.get("host_id")
        if not host_id:
            raise NonRecoverableError("host_id missing")
        if host_id == self.id:
            record = self._fetch()
            node = self._run.node_map.get(self._snapshot["node_id"]) or {}
        else:
            record = self._run.storage.load_instance(host_id)
            node = self._run.node_map.get(record.get("node_id")) or {}
        ip = (record.get("runtime_properties") or {}).get("ip") or (node.get("properties") or {}).get("ip")
        if not ip:
            raise NonRecoverableError(f"could not find ip for host node instance: {host_id}")
        return ip

    @property
    def relationships(self) -> list["RelationshipContext"]:
        out = []
        for rel in self._snapshot.get("relationships") or []:
            out.append(RelationshipContext(self._run, self._snapshot, rel))
        return out


class RelationshipSubjectContext:
    """``ctx.source`` / ``ctx.target``: a node and one of its instances."""

    def __init__(self, run, instance: dict, *, modifiable: bool = True):
        self.node = NodeContext(run.node_map[instance["node_id"]])
        self.instance = NodeInstanceContext(run, instance, modifiable=modifiable)


class RelationshipContext:
    """One entry of ``ctx.instance.relationships``."""

    def __init__(self, run, source: dict, rel: dict):
        self._run = run
        self.type = rel.get("type")
        node_rel = _node_relationship(run.node_map.get(source["node_id"]) or {}, rel)
        self.type_hierarchy = list(node_rel.get("type_hierarchy") or [self.type])
        self._target_id = rel["target_id"]
        self._target = None

    @property
    def target(self) -> RelationshipSubjectContext:
        if self._target is None:
            self._target = RelationshipSubjectContext(
                self._run, self._run.storage.load_instance(self._target_id), modifiable=False)
        return self._target


def _node_relationship(node: dict, rel: dict) -> dict:
    target_node = rel.get("target_name")
    found = {}
    for node_rel in node.get("relationships") or []:
        if node_rel.get("target_id") == target_node and node_rel.get("type") == rel.get("type"):
            return node_rel
        if node_rel.get("target_id") == target_node:
            found = node_rel
    return found


class ContextCapabilities:
    """``ctx.capabilities``: the runtime properties of an instance's relationship targets, keyed
    by target instance id (deprecated in Cloudify in favour of ``instance.relationships``, but
    still used by older plugins). Item access looks a key up across all targets; a key that two
    targets both have is ambiguous, as in Cloudify."""

    def __init__(self, instance: NodeInstanceContext):
        self._instance = instance
        self._by_target: dict | None = None

    def _all(self) -> dict:
        if self._by_target is None:
            self._by_target = {}
            for relationship in self._instance.relationships:
                target = relationship.target.instance
                self._by_target[target.id] = target.runtime_properties
        return self._by_target

    def _find(self, key):
        holders = [props for props in self._all().values() if key in props]
        if len(holders) > 1:
            raise NonRecoverableError(f"'{key}' capability ambiguity [capabilities={self._all()}]")
        return (True, holders[0][key]) if holders else (False, None)

    def __getitem__(self, key):
        found, value = self._find(key)
        if not found:
            raise NonRecoverableError(f"capability '{key}' not found [capabilities={self._all()}]")
        return value

    def __contains__(self, key) -> bool:
        return self._find(key)[0]

    def get_all(self) -> dict:
        return self._all()

    def __str__(self) -> str:
        return f"<ContextCapabilities {self._all()}>"


class OperationContext:
    def __init__(self, name: str, retry_number: int, max_retries: int, relationship: str | None):
        self.name = name
        self.retry_number = retry_number
        self.max_retries = max_retries
        self.relationship = relationship
        self._operation_retry: OperationRetry | None = None

    def retry(self, message: str | None = None, retry_after: float | None = None) -> OperationRetry:
        """Ask for another attempt after this one returns (raises OperationRetry then)."""
        self._operation_retry = OperationRetry(message or "", retry_after=retry_after)
        return self._operation_retry


class PluginContext(str):
    """``ctx.plugin``: a str equal to the plugin name, with the plugin's details."""

    def __new__(cls, name: str | None, plugin: dict | None, workdir_base: str):
        obj = super().__new__(cls, name or "")
        plugin = plugin or {}
        obj.name = name
        obj.package_name = plugin.get("package_name")
        obj.package_version = plugin.get("package_version")
        obj.source = plugin.get("source")
        obj.properties = plugin.get("properties") or {}
        obj.prefix = None
        obj._workdir_base = workdir_base
        return obj

    @property
    def workdir(self) -> str:
        folder = os.path.join(self._workdir_base, "plugins", self.name or "none")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        return folder


class CloudifyContext:
    """The ctx passed to operations."""

    task_type = "operation"
    local = True

    def __init__(self, task: "OperationTask"):
        run = task.run
        self._task = task
        self._run = run
        self._relationship = task.relationship
        node = task.node
        instance = task.instance
        if self._relationship is None:
            self.type = "node-instance"
            self._node = NodeContext(node)
            self._instance = NodeInstanceContext(run, instance)
            self._source = self._target = None
        else:
            self.type = "relationship-instance"
            self._node = self._instance = None
            other = task.related_instance
            here = RelationshipSubjectContext(run, instance)
            there = RelationshipSubjectContext(run, other)
            if self._relationship == "source":
                self._source, self._target = here, there
            else:
                self._source, self._target = there, here
        self.operation = OperationContext(task.operation_name, task.current_retries, task.total_retries,
                                          self._relationship)
        self.blueprint = run.blueprint_context
        self.deployment = run.deployment_context
        self.execution_id = run.execution_id
        self.workflow_id = run.workflow_id
        self.task_id = task.id
        self.task_name = task.name
        self.task_target = None
        self.task_queue = None
        self.resume = run.resume
        self.timeout = task.op.get("timeout")
        self.timeout_recoverable = task.op.get("timeout_recoverable")
        self._logger = None

    tenant_name = "default_tenant"

    @property
    def tenant(self) -> dict:
        return {"name": "default_tenant"}

    @property
    def execution_env(self) -> dict:
        return {}

    execution_creator_username = "admin"
    rest_host = rest_port = rest_token = execution_token = None
    bypass_maintenance = False

    @property
    def workflow_parameters(self) -> dict:
        return dict(self._run.parameters)

    @property
    def bootstrap_context(self) -> dict:
        return {}

    @property
    def provider_context(self) -> dict:
        return {}

    @property
    def plugin(self) -> PluginContext:
        run = self._run
        name = self._task.op.get("plugin")
        return PluginContext(name, (run.deployment.get("plugins") or {}).get(name),
                             run.storage.home.deployment_dir(run.deployment_id))

    # -- node / instance / relationship -------------------------------------------------
    def _need_node_context(self):
        if self._relationship is not None:
            raise NonRecoverableError(
                "ctx.node/ctx.instance can only be used in a node-instance context but used in a "
                f"{self.type} context.")

    @property
    def node(self) -> NodeContext:
        self._need_node_context()
        return self._node

    @property
    def instance(self) -> NodeInstanceContext:
        self._need_node_context()
        return self._instance

    @property
    def source(self) -> RelationshipSubjectContext:
        if self._relationship is None:
            raise NonRecoverableError(
                "ctx.source/ctx.target can only be used in a relationship-instance context but used in a "
                f"{self.type} context.")
        return self._source

    @property
    def target(self) -> RelationshipSubjectContext:
        if self._relationship is None:
            raise NonRecoverableError(
                "ctx.source/ctx.target can only be used in a relationship-instance context but used in a "
                f"{self.type} context.")
        return self._target

    @property
    def capabilities(self) -> "ContextCapabilities":
        # Cloudify reads the relationships of ctx.instance in a node-instance context and, in a
        # relationship context, of the *other* end than the one the operation runs on (the
        # target's on the source side, the source's on the target side).
        if self._relationship is None:
            subject = self._instance
        elif self._relationship == "source":
            subject = self._target.instance
        else:
            subject = self._source.instance
        return ContextCapabilities(subject)

    # -- logging and events ------------------------------------------------------------
    @property
    def logger(self):
        if self._logger is None:
            from cfy_local.engine.event_emitter import make_logger

            self._logger = make_logger(self._run.emitter, f"ctx.{self.task_id}", self._task._task_context())
        return self._logger

    def send_event(self, event: str) -> None:
        self._run.emitter.event("plugin_event", str(event), self._task._task_context())

    # -- resources -------------------------------------------------------------------
    def _resource_path(self, resource_path: str) -> str:
        base = os.path.realpath(self._run.storage.resources_dir)
        path = os.path.realpath(os.path.join(base, str(resource_path)))
        if path != base and not path.startswith(base + os.sep):
            raise NonRecoverableError(f"Resource path `{resource_path}` is outside the blueprint folder; refused")
        if not os.path.isfile(path):
            raise HttpException(resource_path, 404, f"Resource not found: {resource_path}")
        return path

    def get_resource(self, resource_path: str) -> bytes:
        with open(self._resource_path(resource_path), "rb") as fh:
            return fh.read()

    def download_resource(self, resource_path: str, target_path: str | None = None) -> str:
        source = self._resource_path(resource_path)
        if target_path is None:
            fd, target_path = tempfile.mkstemp(suffix="-" + os.path.basename(source))
            os.close(fd)
        shutil.copyfile(source, target_path)
        self.logger.debug(f"Downloaded {resource_path} to {target_path}")
        return target_path

    def _render(self, data: bytes, template_variables: dict | None) -> bytes:
        variables = dict(template_variables or {})
        if "ctx" in variables:
            raise NonRecoverableError("Key not allowed - a key named ctx is in template_variables")
        text = data.decode("utf-8")
        if not any(mark in text for mark in ("{{", "{#", "{%")):
            return data
        import jinja2

        variables["ctx"] = self
        return jinja2.Template(text).render(**variables).encode("utf-8")

    def get_resource_and_render(self, resource_path: str, template_variables: dict | None = None) -> bytes:
        return self._render(self.get_resource(resource_path), template_variables)

    def download_resource_and_render(self, resource_path: str, target_path: str | None = None,
                                     template_variables: dict | None = None) -> str:
        path = self.download_resource(resource_path, target_path)
        with open(path, "rb") as fh:
            rendered = self._render(fh.read(), template_variables)
        with open(path, "wb") as fh:
            fh.write(rendered)
        return path

    # -- manager-only APIs -------------------------------------------------------------
    def get_config(self, *args, **kwargs):
        return {}

    def get_managers(self, network: str = "default") -> list:
        return [m for m in local_managers() if network in m["networks"]]

    def get_brokers(self, network: str = "default") -> list:
        return [b for b in local_brokers() if network in b["networks"]]

    def _persist(self) -> None:
        if self._relationship is None:
            self._instance.update()
        else:
            self._source.instance.update()
            self._target.instance.update()


# The members of an operation task's event context, in order, for an instance's own
# operation and for one side of a relationship operation.
_INSTANCE_MEMBERS = ("operation", "plugin", "node_name", "node_id")
_RELATIONSHIP_MEMBERS = ("operation", "plugin", "source_id", "source_name", "target_id", "target_name")


class OperationTask(WorkflowTask):
    """An operation on a node instance, or one side of a relationship operation."""

    task_type = "operation"
    dry_run_marked = True

    def __init__(self, run, *, node: dict, instance: dict, operation_name: str, op: dict, kwargs: dict,
                 total_retries: int, retry_interval: float, relationship: str | None = None,
                 related_instance: dict | None = None, send_task_events: bool = True, key: str = ""):
        # Members in the orders of _INSTANCE_MEMBERS and _RELATIONSHIP_MEMBERS.
        context = {"operation": operation_name, "plugin": op.get("plugin")}
        if relationship is None:
            context["node_name"] = node["id"]
            context["node_id"] = instance["id"]
        else:
            source, target = (instance, related_instance) if relationship == "source" else (related_instance, instance)
            context.update({"source_id": source["id"], "source_name": source["node_id"],
                            "target_id": target["id"], "target_name": target["node_id"]})
        super().__init__(run, op.get("operation") or op.get("implementation") or operation_name,
                         total_retries=total_retries, retry_interval=retry_interval,
                         send_task_events=send_task_events, event_context=context)
        self.node = node
        self.instance = instance
        self.operation_name = operation_name
        self.op = op
        self.kwargs = kwargs
        self.relationship = relationship
        self.related_instance = related_instance
        self.key = key
        self.runs_inline = bool(run.dry_run)

    @property
    def cloudify_context(self) -> dict:
        return {
            "type": "operation", "task_name": self.name, "node_id": self.instance["id"],
            "node_name": self.node["id"],
            "operation": {"name": self.operation_name, "retry_number": self.current_retries,
                          "max_retries": self.total_retries, "relationship": self.relationship},
            "plugin": {"name": self.op.get("plugin")}, "executor": self.op.get("executor"),
        }

    def is_operation(self) -> bool:
        return True

    def is_local(self) -> bool:
        return False

    def is_remote(self) -> bool:
        return True

    @property
    def short_description(self) -> str:
        return f"{self.name} ({self.instance['id']}:{self.operation_name})"

    def _encoded_event_context(self) -> str:
        # The members every instance of a node shares for one operation are encoded once
        # per run (``_shared_members``); only the instance's own id is encoded per task.
        context = self.event_context
        members = tuple(context)
        if members == _INSTANCE_MEMBERS and type(context["node_id"]) is str:
            shared = (context["operation"], context["plugin"], context["node_name"])
            head = self.run.shared_members(shared, _INSTANCE_MEMBERS[:3])
            return f'{head},"node_id":{encode_string(context["node_id"])}'
        if members == _RELATIONSHIP_MEMBERS:
            head = self.run.shared_members((context["operation"], context["plugin"]), _RELATIONSHIP_MEMBERS[:2])
            return head + encode_members({key: context[key] for key in _RELATIONSHIP_MEMBERS[2:]})
        return encode_members(context)

    def _emit_started(self) -> None:
        if self.send_task_events and self.current_retries == 0:
            self.run.emitter.event("sending_task", f"Sending task '{self.name}'{self._suffix()}",
                                   self._task_context_encoded())
        super()._emit_started()

    def _execute(self) -> Any:
        if self.run.dry_run:
            return None
        return invoke_operation(self)


def is_script_operation(op: dict) -> bool:
    return op.get("plugin") == "script" or op.get("operation") in SCRIPT_MAPPINGS


def invoke_operation(task: OperationTask) -> Any:
    """Run one attempt of an operation in this thread, with its ctx pushed."""
    run = task.run
    ctx = CloudifyContext(task)
    kwargs = copy.deepcopy(task.kwargs) if task.kwargs else {}
    if has_functions(kwargs):
        kwargs = run.evaluate_functions(kwargs, task)
    op = task.op
    if is_script_operation(op):
        from cfy_local.engine.scripts import run as run_script

        parameters = AttrDict(kwargs)
        parameters["ctx"] = ctx

        def call():
            return run_script(ctx, **kwargs)
    else:
        func = run.import_function(op)
        kwargs["ctx"] = ctx
        parameters = AttrDict(kwargs)

        def call():
            return func(**kwargs)
    current_ctx.push(ctx, parameters)
    failed = True
    try:
        result = call()
        failed = False
    finally:
        current_ctx.pop()
        try:
            ctx._persist()
        except Exception:
            if not failed:
                raise
            ctx.logger.warning("Could not save runtime properties after the failure", exc_info=True)
    if ctx.operation._operation_retry is not None:
        raise ctx.operation._operation_retry
    return result
