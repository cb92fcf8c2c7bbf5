"""The ``cloudify`` import aliases, so plugins and workflows written for Cloudify run unchanged.

``install()`` registers modules named ``cloudify``, ``cloudify.decorators``,
``cloudify.exceptions``, ``cloudify.state``, ``cloudify.workflows`` (+ ``workflow_api``,
``tasks``, ``tasks_graph``, ``workflow_context``), ``cloudify.plugins`` (+ ``lifecycle``,
``workflows``), ``cloudify.manager``, ``cloudify.utils``, ``cloudify.logs``,
``cloudify.constants``, ``cloudify.context``, ``cloudify.proxy.client``,
``cloudify_rest_client`` (+ ``exceptions``, ``constants``, ``client``) and
``script_runner.tasks`` in ``sys.modules`` of the current process: every module-level name
the most used real plugins and Cloudify's own test plugins import. ``get_rest_client()`` is
answered by the client the process installed (engine/rest_api.py; a worker installs the
in-process one over the state dir, ``cfy_local.plugins.rest_client``). It is called by
``run_workflow`` only, i.e. in the process that runs the engine; cfy-local installs no
top-level ``cloudify`` package. Plugins uploaded to the catalog run in their own
environment instead, with the real cloudify-common when they have it (engine/plugin_code.py).
"""
from __future__ import annotations

import functools
import importlib
import ipaddress
import logging
import os
import random
import shlex
import string
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
import uuid

from cfy_local.engine import builtin, ctx_stack, exceptions, lifecycle, rest_api, task_states, tasks, workflow_ctx
from cfy_local.engine.event_emitter import error_cause
from cfy_local.engine.exceptions import CommandExecutionException, NonRecoverableError
from cfy_local.engine.ctx_stack import ContextProxy, current_ctx, current_workflow_ctx
from cfy_local.engine.tasks import HandlerResult

_installed = False
_install_lock = threading.Lock()

MANAGER_ONLY = ("{name} needs a Cloudify Manager (REST API); cfy-local runs workflows locally without one")


def _module(name: str, doc: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    module.__dict__.update(attrs)
    module.__cfy_local_alias__ = True
    return module


def _decorator_with_optional_args(apply):
    def decorator(func=None, **kwargs):
        if func is None:
            return lambda f: apply(f, **kwargs)
        return apply(func, **kwargs)
    return decorator


def _mark_operation(func, resumable=False, **_):
    func.resumable = resumable
    return func


def _mark_workflow(func, system_wide=False, resumable=False, **_):
    func.workflow_system_wide = system_wide
    func.resumable = resumable
    return func


def _serial_operation(threshold=0, workflows=("install",), states=("started",), **kwargs):
    def wrap(func):
        @functools.wraps(func)
        def inner(*args, **kw):
            return func(*args, **kw)
        inner.resumable = kwargs.get("resumable", False)
        return inner
    return wrap


def _manager_only(name):
    def refuse(*args, **kwargs):
        raise exceptions.NonRecoverableError(MANAGER_ONLY.format(name=name))
    refuse.__name__ = name.rsplit(".", 1)[-1]
    return refuse


def _exception_to_error_cause(exception, tb=None):
    return error_cause(exception, tb if isinstance(tb, str) else None)


# The values of cloudify-common's ``cloudify.constants`` that plugin code reads.
CONSTANTS = {
    "REST_PROTOCOL_KEY": "REST_PROTOCOL", "REST_HOST_KEY": "REST_HOST", "REST_PORT_KEY": "REST_PORT",
    "ADMIN_API_TOKEN_KEY": "ADMIN_API_TOKEN", "AGENT_WORK_DIR_KEY": "AGENT_WORK_DIR",
    "MANAGER_FILE_SERVER_URL_KEY": "MANAGER_FILE_SERVER_URL",
    "MANAGER_FILE_SERVER_ROOT_KEY": "MANAGER_FILE_SERVER_ROOT",
    "MANAGER_FILE_SERVER_SCHEME": "MANAGER_FILE_SERVER_SCHEME", "MANAGER_NAME": "MANAGER_NAME",
    "FILE_SERVER_RESOURCES_FOLDER": "resources", "FILE_SERVER_BLUEPRINTS_FOLDER": "blueprints",
    "FILE_SERVER_DEPLOYMENTS_FOLDER": "deployments", "FILE_SERVER_UPLOADED_BLUEPRINTS_FOLDER": "uploaded-blueprints",
    "FILE_SERVER_SNAPSHOTS_FOLDER": "snapshots", "FILE_SERVER_PLUGINS_FOLDER": "plugins",
    "FILE_SERVER_GLOBAL_RESOURCES_FOLDER": "global-resources",
    "FILE_SERVER_TENANT_RESOURCES_FOLDER": "tenant-resources",
    "FILE_SERVER_AUTHENTICATORS_FOLDER": "authenticators", "MANAGER_ROOT_PATH": "/opt/manager",
    "MANAGER_RESOURCES_PATH": "/opt/manager/resources", "MANAGER_PLUGINS_PATH": "/opt/manager/resources/plugins",
    "AGENT_INSTALL_METHOD_NONE": "none", "AGENT_INSTALL_METHOD_REMOTE": "remote",
    "AGENT_INSTALL_METHOD_INIT_SCRIPT": "init_script", "AGENT_INSTALL_METHOD_PROVIDED": "provided",
    "AGENT_INSTALL_METHOD_PLUGIN": "plugin",
    "AGENT_INSTALL_METHODS": ["none", "remote", "init_script", "provided", "plugin"],
    "AGENT_INSTALL_METHODS_SCRIPTS": ["init_script", "provided", "plugin"],
    "AGENT_INSTALL_METHODS_INSTALLED": ["remote", "init_script", "plugin"],
    "LOCAL_RESOURCES_ROOT_ENV_KEY": "CFY_RESOURCES_ROOT", "COMPUTE_NODE_TYPE": "cloudify.nodes.Compute",
    "BROKER_PORT_NO_SSL": 5672, "BROKER_PORT_SSL": 5671, "CELERY_TASK_RESULT_EXPIRES": 600,
    "LOCAL_REST_CERT_FILE_KEY": "LOCAL_REST_CERT_FILE", "SECURED_PROTOCOL": "https", "KERBEROS_ENV_KEY": "KERBEROS_ENV",
    "BROKER_SSL_CERT_PATH": "BROKER_SSL_CERT_PATH", "BYPASS_MAINTENANCE": "BYPASS_MAINTENANCE",
    "LOGGING_CONFIG_FILE": "/etc/cloudify/logging.conf", "CLUSTER_SETTINGS_PATH_KEY": "CLOUDIFY_CLUSTER_SETTINGS_PATH",
    "LOGS_EXCHANGE_NAME": "cloudify-logs", "EVENTS_EXCHANGE_NAME": "cloudify-events-topic",
    "CLUSTER_SERVICE_EXCHANGE_NAME": "cloudify-cluster-service", "MGMTWORKER_QUEUE": "cloudify.management",
    "DEPLOYMENT": "deployment", "NODE_INSTANCE": "node-instance", "RELATIONSHIP_INSTANCE": "relationship-instance",
    "DEFAULT_NETWORK_NAME": "default", "SECURITY_FILE_LOCATION": "/opt/manager/rest-security.conf",
    "SUPPORTED_ARCHIVE_TYPES": ("zip", "tar", "tar.gz", "tar.bz2"), "NEW_TOKEN_FILE_NAME": "new_token",
    "CLOUDIFY_EXECUTION_TOKEN_HEADER": "Execution-Token", "CLOUDIFY_AUTHENTICATION_HEADER": "Authorization",
    "CLOUDIFY_TOKEN_AUTHENTICATION_HEADER": "Authentication-Token", "NAMESPACE_BLUEPRINT_IMPORT_DELIMITER": "--",
    "COMPONENT": "component", "SHARED_RESOURCE": "sharedresource",
    "TASK_PENDING": "pending", "TASK_SENDING": "sending", "TASK_SENT": "sent", "TASK_STARTED": "started",
    "TASK_RESCHEDULED": "rescheduled", "TASK_RESPONSE_SENT": "response-sent", "TASK_SUCCEEDED": "succeeded",
    "TASK_FAILED": "failed", "TERMINATED_STATES": ["rescheduled", "succeeded", "failed"],
    "CONVENTION_APPLICATION_BLUEPRINT_FILE": "blueprint.yaml", "INSPECT_TIMEOUT": 30,
    "KEEP_TRYING_HTTP_TOTAL_TIMEOUT_SEC": 3600, "MAX_WAIT_BETWEEN_HTTP_RETRIES_SEC": 60,
    "ENV_CFY_EXEC_TEMPDIR": "CFY_EXEC_TEMP", "ENV_AGENT_LOG_LEVEL": "AGENT_LOG_LEVEL",
    "ENV_AGENT_LOG_DIR": "AGENT_LOG_DIR", "ENV_AGENT_LOG_MAX_BYTES": "AGENT_LOG_MAX_BYTES",
    "ENV_AGENT_LOG_MAX_HISTORY": "AGENT_LOG_MAX_HISTORY", "ADMIN_API_TOKEN_PATH": "/opt/mgmtworker/work/admin_token",
}


def _get_current_context():
    """The operation ctx of this thread, else the workflow ctx (cloudify.utils' private helper)."""
    for stack in (current_ctx, current_workflow_ctx):
        if stack.check():
            return stack.get_ctx()
    raise RuntimeError("Context required, but no operation or workflow context available.")


def _get_execution_id():
    return _get_current_context().execution_id


def _get_workflow_parameters():
    return dict(_get_current_context().workflow_parameters or {})


def _id_generator(size=6, chars=string.ascii_uppercase + string.digits):
    return "".join(random.SystemRandom().choice(chars) for _ in range(size))


def _get_exec_tempdir():
    return os.environ.get(CONSTANTS["ENV_CFY_EXEC_TEMPDIR"]) or tempfile.gettempdir()


def _create_temp_folder():
    return tempfile.mkdtemp(dir=_get_exec_tempdir())


def _is_ipv6(addr):
    try:
        return isinstance(ipaddress.ip_address(str(addr).strip("[]")), ipaddress.IPv6Address)
    except ValueError:
        return False


def _ipv6_url_compat(addr):
    """An address fit for a URL: IPv6 literals in brackets, others unchanged."""
    if _is_ipv6(addr) and not str(addr).startswith("["):
        return f"[{addr}]"
    return addr


def _format_exception(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _get_func(task_name):
    module_name, _, func_name = task_name.rpartition(".")
    return getattr(importlib.import_module(module_name), func_name)


def _setup_logger(logger_name, logger_level=logging.INFO, handlers=None, remove_existing_handlers=True,
                  logger_format=None, propagate=True):
    logger = logging.getLogger(logger_name)
    if remove_existing_handlers:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
    for handler in handlers or [logging.StreamHandler(sys.stdout)]:
        if logger_format:
            handler.setFormatter(logging.Formatter(logger_format))
        logger.addHandler(handler)
    logger.setLevel(logger_level)
    logger.propagate = propagate
    return logger


def _wait_for(callable_obj, callable_obj_key, value_attr, test_condition, exception_class, msg="",
              timeout=900, interval=3):
    deadline = time.monotonic() + timeout
    while True:
        value = callable_obj(callable_obj_key)
        if test_condition(getattr(value, value_attr) if value_attr else value):
            return value
        if time.monotonic() > deadline:
            raise exception_class(msg)
        time.sleep(interval)


class _CommandExecutionResponse:
    def __init__(self, command, std_out, std_err, return_code):
        self.command, self.std_out, self.std_err, self.return_code = command, std_out, std_err, return_code


class _LocalCommandRunner:
    """cloudify.utils.LocalCommandRunner: run a command, raise CommandExecutionException on failure."""

    def __init__(self, logger=None, host="localhost"):
        self.logger = logger or logging.getLogger("cloudify.utils.LocalCommandRunner")
        self.host = host

    def run(self, command, exit_on_failure=True, stdout_pipe=True, stderr_pipe=True, cwd=None, execution_env=None,
            encoding="utf-8"):
        args = shlex.split(command) if isinstance(command, str) else list(command)
        env = dict(os.environ)
        env.update(execution_env or {})
        self.logger.debug(f"[{self.host}] run: {command}")
        proc = subprocess.run(args, stdout=subprocess.PIPE if stdout_pipe else None,
                              stderr=subprocess.PIPE if stderr_pipe else None, cwd=cwd, env=env)
        out = proc.stdout.decode(encoding, "replace").rstrip() if proc.stdout is not None else None
        err = proc.stderr.decode(encoding, "replace").rstrip() if proc.stderr is not None else None
        if proc.returncode != 0 and exit_on_failure:
            raise CommandExecutionException(command=command, error=err, output=out, code=proc.returncode)
        return _CommandExecutionResponse(command, out, err, proc.returncode)


class _ManagerVersion:
    """cloudify.utils.ManagerVersion: a dotted version that compares numerically."""

    def __init__(self, raw_version):
        self.raw = str(raw_version)
        self._parts = tuple(int(p) if p.isdigit() else 0 for p in self.raw.split("-")[0].split("."))

    def __eq__(self, other):
        return self._parts == _ManagerVersion(other)._parts if not isinstance(other, _ManagerVersion) \
            else self._parts == other._parts

    def __lt__(self, other):
        other = other if isinstance(other, _ManagerVersion) else _ManagerVersion(other)
        return self._parts < other._parts

    def __le__(self, other):
        return self == other or self < other

    def __gt__(self, other):
        return not self <= other

    def __ge__(self, other):
        return not self < other

    def __str__(self):
        return self.raw


class _CtxLoggingHandler(logging.Handler):
    """Cloudify's logging handlers: a record logged through one goes to the current ctx's logger."""

    def __init__(self, ctx=None, out_func=None, message_context_builder=None, *args, **kwargs):
        super().__init__()
        self._ctx = ctx

    def emit(self, record):
        ctx = self._ctx
        if ctx is None:
            try:
                ctx = _get_current_context()
            except RuntimeError:
                return
        message = self.format(record) if self.formatter else record.getMessage()
        ctx.logger.log(record.levelno, message)


def _init_cloudify_logger(handler, logger_name, logging_level=logging.DEBUG):
    logger = logging.getLogger(logger_name)
    for existing in list(logger.handlers):
        logger.removeHandler(existing)
    logger.addHandler(handler)
    logger.setLevel(logging_level)
    logger.propagate = True
    return logger


def _send_workflow_event(ctx, event_type, message=None, args=None, additional_context=None, out_func=None,
                         **kwargs):
    ctx.send_event(message or event_type, event_type=event_type, args=args, additional_context=additional_context)


def _send_workflow_node_event(ctx, event_type, message=None, args=None, additional_context=None, out_func=None,
                              **kwargs):
    ctx.send_event(message or event_type, additional_context=additional_context)


def _send_plugin_event(ctx, message=None, args=None, additional_context=None, out_func=None, **kwargs):
    ctx.send_event(message)


class _VisibilityState:
    PRIVATE = "private"
    TENANT = "tenant"
    GLOBAL = "global"
    STATES = [PRIVATE, TENANT, GLOBAL]


def _cloudify_client(*args, **kwargs):
    """``CloudifyClient(host=..., ...)``: there is one manager here, cfy-local itself."""
    return rest_api.get_rest_client()


class _ManagerNodeInstance(dict):
    """cloudify.manager.NodeInstance: an instance record with Cloudify's accessors."""

    def __init__(self, node_instance_id, node_id=None, runtime_properties=None, state=None, version=None,
                 host_id=None, relationships=None, **_):
        super().__init__(id=node_instance_id, node_id=node_id, runtime_properties=dict(runtime_properties or {}),
                         state=state, version=version, host_id=host_id, relationships=relationships or [])
        self.id = node_instance_id
        self.node_id = node_id
        self.runtime_properties = self["runtime_properties"]
        self.state = state
        self.version = version
        self.host_id = host_id
        self.relationships = self["relationships"]

    def get(self, key, default=None):
        return self.runtime_properties.get(key, default)

    def put(self, key, value):
        self.runtime_properties[key] = value

    def __getitem__(self, key):
        if key in ("id", "node_id", "runtime_properties", "state", "version", "host_id", "relationships"):
            return dict.__getitem__(self, key)
        return self.runtime_properties[key]

    def __setitem__(self, key, value):
        if key in ("id", "node_id", "runtime_properties", "state", "version", "host_id", "relationships") \
                and key not in self.__dict__:
            dict.__setitem__(self, key, value)
        else:
            self.runtime_properties[key] = value


def _get_node_instance(node_instance_id, evaluate_functions=False, client=None):
    record = (client or rest_api.get_rest_client()).node_instances.get(node_instance_id)
    return _ManagerNodeInstance(record["id"], record.get("node_id"), record.get("runtime_properties"),
                                record.get("state"), record.get("version"), record.get("host_id"),
                                record.get("relationships"))


def _update_node_instance(node_instance, client=None):
    (client or rest_api.get_rest_client()).node_instances.update(
        node_instance.id, state=node_instance.state, runtime_properties=node_instance.runtime_properties,
        version=node_instance.version)


def _get_node_instance_ip(node_instance_id, client=None):
    """The IP of the host a node instance is contained in (runtime property ``ip``, else node property)."""
    client = client or rest_api.get_rest_client()
    instance = client.node_instances.get(node_instance_id)
    if instance.get("host_id") is None:
        raise NonRecoverableError(f"node instance: {instance['id']} is missing host_idproperty")
    if node_instance_id != instance["host_id"]:
        instance = client.node_instances.get(instance["host_id"])
    if (instance.get("runtime_properties") or {}).get("ip"):
        return instance["runtime_properties"]["ip"]
    node = client.nodes.get(instance["deployment_id"], instance["node_id"])
    if (node.get("properties") or {}).get("ip"):
        return node["properties"]["ip"]
    raise NonRecoverableError(f"could not find ip for node instance: {node_instance_id} with host id: "
                              f"{instance['id']}")


def _get_resource(blueprint_id=None, deployment_id=None, tenant_name=None, resource_path=None):
    return _get_current_context().get_resource(resource_path)


def _download_resource(blueprint_id=None, deployment_id=None, tenant_name=None, resource_path=None, logger=None,
                       target_path=None):
    return _get_current_context().download_resource(resource_path, target_path)


def _get_resource_from_manager(resource_path, base_url=None, base_urls=None):
    return _get_current_context().get_resource(resource_path)


def _download_resource_from_manager(resource_path, logger=None, target_path=None):
    return _get_current_context().download_resource(resource_path, target_path)


def _make_or_get_graph(func):
    """cloudify.workflows.tasks_graph.make_or_get_graph: build the named graph. cfy-local
    resumes a workflow by re-building its graph and skipping the tasks that succeeded, so a
    graph is never restored from storage; the ``name`` keyword is dropped."""
    @functools.wraps(func)
    def inner(*args, **kwargs):
        kwargs.pop("name", None)
        return func(*args, **kwargs)
    return inner


def _set_send_node_event_on_error_handler(task, instance):
    """cloudify.plugins.lifecycle's handler: a failure of ``task`` is logged on the instance and ignored."""
    def on_failure(failed):
        event = instance.send_event(f"Ignoring task {failed.name} failure")
        apply_async = getattr(event, "apply_async", None)
        if callable(apply_async):
            apply_async()
        return HandlerResult.ignore()

    task.on_failure = on_failure


class _ProcessException(Exception):
    """script_runner.tasks.ProcessException: a process an operation ran exited non-zero."""

    def __init__(self, command, exit_code, stdout=None, stderr=None):
        super().__init__(f"Command '{command}' exited with code {exit_code}")
        self.command = command
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


class _ScriptException(Exception):
    """cloudify.proxy.client.ScriptException: a script asked to stop (``retry`` or abort)."""

    def __init__(self, message=None, retry=False):
        super().__init__(message)
        self.retry = retry


class _StubCtxProxy:
    """``ctx_proxy_type: none``: no proxy, an empty socket URL."""

    socket_url = ""
    token = ""

    def close(self):
        pass


class _ScriptCtxProxy:
    """script_runner.tasks.start_ctx_proxy's answer: cfy-local's ctx proxy for the processes
    an operation starts itself (``ctx ...`` calls from them reach this operation's ctx)."""

    def __init__(self, ctx):
        # ``from cloudify import ctx`` is a thread-local proxy; the proxy's own thread must get
        # the operation's ctx object itself
        ctx = ctx._get_current_object() if isinstance(ctx, ContextProxy) else ctx
        from cfy_local.engine.scripts.ctx_proxy import CtxProxy  # see _script_run

        self._folder = tempfile.mkdtemp(prefix="cfy-ctx-", dir="/tmp" if os.path.isdir("/tmp") else None)
        self._proxy = CtxProxy(ctx, self._folder).start()
        self.socket_url = self._proxy.url
        self.token = self._proxy.token

    def close(self):
        self._proxy.close()
        try:
            os.rmdir(self._folder)
        except OSError:
            pass


def _start_ctx_proxy(ctx, process=None):
    proxy_type = (process or {}).get("ctx_proxy_type")
    if not proxy_type or proxy_type in ("auto", "http", "unix"):
        return _ScriptCtxProxy(ctx)
    if proxy_type == "none":
        return _StubCtxProxy()
    raise NonRecoverableError(f"Unsupported proxy type: {proxy_type}")


def _process_ctx_request(proxy):
    """The proxy answers in its own thread: nothing to poll."""


def _get_process_environment(process, proxy):
    """The environment of a process an operation starts: its ``process.env``, the ctx proxy's
    address and token, ``ctx`` on PATH and the ``cloudify`` shim for Python children."""
    env = dict(os.environ)
    env.setdefault("TMPDIR", _get_exec_tempdir())
    env.update({str(k): str(v) for k, v in ((process or {}).get("env") or {}).items()})
    env["CTX_SOCKET_URL"] = proxy.socket_url
    env["CFY_LOCAL_CTX_TOKEN"] = getattr(proxy, "token", "")
    from cfy_local.engine.scripts import native  # see _script_run

    commands = native.command_dir()
    if commands:
        env["PATH"] = commands + os.pathsep + env.get("PATH", os.defpath)
    env["PYTHONPATH"] = native.SHIM_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _script_run(*args, **kwargs):
    """script_runner.tasks.run called from plugin code: the built-in script runner.

    The script runner (with its ctx proxy and the socket module) is imported by the first
    call, not with these modules: a worker whose run has no script does not load it."""
    from cfy_local.engine import scripts

    return scripts.run(_get_current_context(), *args, **kwargs)


def build_modules() -> dict[str, types.ModuleType]:
    from cfy_local.engine import context, exceptions, lifecycle, ctx_stack, tasks, workflow_ctx

    exceptions_module = _module(
        "cloudify.exceptions", "Alias of cfy_local.engine.exceptions.",
        **{name: getattr(exceptions, name) for name in dir(exceptions)
           if not name.startswith("_") and name not in exceptions.ENGINE_ONLY},
    )
    exceptions_module.StorageConflictError = __import__(
        "cfy_local.engine.storage", fromlist=["StorageConflictError"]).StorageConflictError
    exceptions_module.ExecutionCancelled = tasks.ExecutionCancelled

    operation = _decorator_with_optional_args(_mark_operation)
    workflow = _decorator_with_optional_args(_mark_workflow)
    decorators = _module("cloudify.decorators", "Operation and workflow decorators.",
                         operation=operation, task=operation, workflow=workflow, serial_operation=_serial_operation)

    state = _module(
        "cloudify.state", "Thread-local current contexts.",
        ctx=ctx_stack.ctx, ctx_parameters=ctx_stack.ctx_parameters, current_ctx=ctx_stack.current_ctx,
        workflow_ctx=ctx_stack.workflow_ctx, workflow_parameters=ctx_stack.workflow_parameters,
        current_workflow_ctx=ctx_stack.current_workflow_ctx, NotInContext=ctx_stack.NotInContext,
    )

    def has_cancel_request():
        return ctx_stack.current_workflow_ctx.get_ctx()._run.cancel_requested()

    def has_kill_request():
        return bool(getattr(ctx_stack.current_workflow_ctx.get_ctx()._run, "kill_requested", lambda: False)())

    workflow_api = _module(
        "cloudify.workflows.workflow_api", "Cancellation API.",
        has_cancel_request=has_cancel_request, has_kill_request=has_kill_request,
        ExecutionCancelled=tasks.ExecutionCancelled, EXECUTION_CANCELLED_RESULT="execution_cancelled",
        cancel_request=False, kill_request=False,
    )
    tasks_module = _module(
        "cloudify.workflows.tasks", "Task classes.",
        HandlerResult=tasks.HandlerResult, WorkflowTask=tasks.WorkflowTask,
        NOPLocalWorkflowTask=tasks.NOPLocalWorkflowTask, LocalWorkflowTask=tasks.LocalCallableTask,
        TASK_PENDING=task_states.TASK_PENDING, TASK_SENDING=task_states.TASK_SENDING,
        TASK_SENT=task_states.TASK_SENT, TASK_STARTED=task_states.TASK_STARTED,
        TASK_RESCHEDULED=task_states.TASK_RESCHEDULED, TASK_SUCCEEDED=task_states.TASK_SUCCEEDED,
        TASK_FAILED=task_states.TASK_FAILED, TERMINATED_STATES=task_states.TERMINATED_STATES,
    )
    tasks_graph = _module(
        "cloudify.workflows.tasks_graph", "Task dependency graph.",
        TaskDependencyGraph=tasks.TaskDependencyGraph, TaskSequence=tasks.TaskSequence,
        SubgraphTask=tasks.SubgraphTask, forkjoin=tasks.forkjoin, make_or_get_graph=_make_or_get_graph,
    )
    workflow_context = _module(
        "cloudify.workflows.workflow_context", "Workflow ctx classes.",
        CloudifyWorkflowContext=workflow_ctx.CloudifyWorkflowContext,
        CloudifyWorkflowNode=workflow_ctx.WorkflowNode,
        CloudifyWorkflowNodeInstance=workflow_ctx.WorkflowNodeInstance,
        CloudifyWorkflowRelationship=workflow_ctx.WorkflowRelationship,
        CloudifyWorkflowRelationshipInstance=workflow_ctx.WorkflowRelationshipInstance,
    )
    workflows_pkg = _module(
        "cloudify.workflows", "Workflow API.",
        ctx=ctx_stack.workflow_ctx, parameters=ctx_stack.workflow_parameters, api=workflow_api,
        tasks=tasks_module, tasks_graph=tasks_graph, workflow_api=workflow_api,
        workflow_context=workflow_context,
    )
    workflows_pkg.__path__ = []

    lifecycle_module = _module(
        "cloudify.plugins.lifecycle", "Install/uninstall of node instances.",
        install_node_instances=lifecycle.install_node_instances,
        uninstall_node_instances=lifecycle.uninstall_node_instances,
        reinstall_node_instances=lifecycle.reinstall_node_instances,
        set_send_node_event_on_error_handler=_set_send_node_event_on_error_handler,
    )
    builtin_workflows = _module(
        "cloudify.plugins.workflows", "The built-in workflows.",
        **{name: func for name, func in builtin.BY_FUNCTION.items()},
    )
    plugins_pkg = _module("cloudify.plugins", "Plugins helpers.", lifecycle=lifecycle_module,
                          workflows=builtin_workflows)
    plugins_pkg.__path__ = []

    manager = _module(
        "cloudify.manager", "Manager APIs, answered by cfy-local's own state.",
        get_rest_client=rest_api.get_rest_client,
        get_node_instance=_get_node_instance,
        update_node_instance=_update_node_instance,
        get_node_instance_ip=_get_node_instance_ip,
        download_resource=_download_resource,
        get_resource=_get_resource,
        download_resource_from_manager=_download_resource_from_manager,
        get_resource_from_manager=_get_resource_from_manager,
        get_bootstrap_context=lambda *a, **k: {},
        get_provider_context=lambda *a, **k: {},
        update_execution_status=_manager_only("cloudify.manager.update_execution_status"),
        NodeInstance=_ManagerNodeInstance,
    )
    constants = _module("cloudify.constants", "Cloudify's constants.", **CONSTANTS)
    utils = _module(
        "cloudify.utils", "The helpers plugins import from cloudify.utils.",
        exception_to_error_cause=_exception_to_error_cause,
        get_rest_client=rest_api.get_rest_client,
        id_generator=_id_generator, uuid4=lambda: str(uuid.uuid4()),
        create_temp_folder=_create_temp_folder, get_exec_tempdir=_get_exec_tempdir,
        get_tenant=lambda: {"name": "default_tenant"}, get_tenant_name=lambda: "default_tenant",
        get_is_bypass_maintenance=lambda: False, get_execution_id=_get_execution_id,
        get_execution_creator_username=lambda: "admin", get_rest_token=lambda: None,
        get_execution_token=lambda: None, get_admin_api_token=lambda: None,
        get_manager_name=lambda: "localhost", get_daemon_name=lambda: None,
        get_manager_rest_service_host=lambda: ["127.0.0.1"], get_manager_rest_service_port=lambda: None,
        get_manager_rest_service_protocol=lambda: "http", get_manager_file_server_scheme=lambda: "http",
        get_local_resources_root=lambda: os.environ.get("CFY_RESOURCES_ROOT"),
        get_workflow_parameters=_get_workflow_parameters, is_management_environment=lambda: False,
        ipv6_url_compat=_ipv6_url_compat, _is_ipv6=_is_ipv6, _get_current_context=_get_current_context,
        format_exception=_format_exception, get_func=_get_func, setup_logger=_setup_logger,
        LocalCommandRunner=_LocalCommandRunner, CommandExecutionResponse=_CommandExecutionResponse,
        ManagerVersion=_ManagerVersion, wait_for=_wait_for,
        ENV_CFY_EXEC_TEMPDIR=CONSTANTS["ENV_CFY_EXEC_TEMPDIR"],
        CFY_EXEC_TEMPDIR_ENVVAR=CONSTANTS["ENV_CFY_EXEC_TEMPDIR"],
        ENV_AGENT_LOG_LEVEL=CONSTANTS["ENV_AGENT_LOG_LEVEL"], ENV_AGENT_LOG_DIR=CONSTANTS["ENV_AGENT_LOG_DIR"],
    )
    logs = _module(
        "cloudify.logs", "Logging helpers: Cloudify's handlers log through the current ctx's logger.",
        CloudifyBaseLoggingHandler=_CtxLoggingHandler, CloudifyPluginLoggingHandler=_CtxLoggingHandler,
        CloudifyWorkflowLoggingHandler=_CtxLoggingHandler, CloudifyWorkflowNodeLoggingHandler=_CtxLoggingHandler,
        CloudifyCtxLoggingHandler=_CtxLoggingHandler, init_cloudify_logger=_init_cloudify_logger,
        send_workflow_event=_send_workflow_event, send_workflow_node_event=_send_workflow_node_event,
        send_plugin_event=_send_plugin_event,
    )
    context_module = _module(
        "cloudify.context", "Operation ctx classes.",
        CloudifyContext=context.CloudifyContext, NodeContext=context.NodeContext,
        NodeInstanceContext=context.NodeInstanceContext, RelationshipContext=context.RelationshipContext,
        RelationshipSubjectContext=context.RelationshipSubjectContext, OperationContext=context.OperationContext,
        PluginContext=context.PluginContext, BlueprintContext=context.BlueprintContext,
        DeploymentContext=context.DeploymentContext, ImmutableProperties=context.ReadOnlyDict,
        DEPLOYMENT=CONSTANTS["DEPLOYMENT"], NODE_INSTANCE=CONSTANTS["NODE_INSTANCE"],
        RELATIONSHIP_INSTANCE=CONSTANTS["RELATIONSHIP_INSTANCE"], constants=constants, utils=utils,
        exceptions=exceptions_module,
    )
    rest_exceptions = _module("cloudify_rest_client.exceptions", "REST client errors.",
                              **rest_api.EXCEPTION_CLASSES)
    rest_constants = _module("cloudify_rest_client.constants", "REST client constants.",
                             VisibilityState=_VisibilityState, VISIBILITY_EXCEPT_GLOBAL=["private", "tenant"])
    rest_client_module = _module("cloudify_rest_client.client", "The REST client.",
                                 CloudifyClient=_cloudify_client)
    rest_pkg = _module("cloudify_rest_client", "In-process REST client of cfy-local.",
                       CloudifyClient=_cloudify_client, exceptions=rest_exceptions, constants=rest_constants,
                       client=rest_client_module)
    rest_pkg.__path__ = []
    script_tasks = _module(
        "script_runner.tasks", "Names of Cloudify's script plugin that plugins import.",
        run=_script_run, ProcessException=_ProcessException,
        ILLEGAL_CTX_OPERATION_ERROR=RuntimeError("ctx may only abort or return once"),
        UNSUPPORTED_SCRIPT_FEATURE_ERROR=RuntimeError(
            "ctx abort & retry commands are only supported in Cloudify 3.4 or later"),
        POLL_LOOP_INTERVAL=0.1, POLL_LOOP_LOG_ITERATIONS=200,
        start_ctx_proxy=_start_ctx_proxy, process_ctx_request=_process_ctx_request,
        _get_process_environment=_get_process_environment,
    )
    script_pkg = _module("script_runner", "Cloudify's script plugin (built into cfy-local).", tasks=script_tasks)
    script_pkg.__path__ = []
    proxy_client = _module("cloudify.proxy.client", "Script ctx proxy client names.",
                           CTX_SOCKET_URL="CTX_SOCKET_URL", ScriptException=_ScriptException)
    proxy_pkg = _module("cloudify.proxy", "Script ctx proxy.", client=proxy_client)
    proxy_pkg.__path__ = []

    root = _module(
        "cloudify", "cfy-local's stand-in for cloudify-common inside the engine process.",
        ctx=ctx_stack.ctx, exceptions=exceptions_module, decorators=decorators, state=state,
        workflows=workflows_pkg, plugins=plugins_pkg, manager=manager, utils=utils, logs=logs,
        constants=constants, context=context_module, proxy=proxy_pkg,
    )
    root.__path__ = []
    return {
        "cloudify": root,
        "cloudify.exceptions": exceptions_module,
        "cloudify.decorators": decorators,
        "cloudify.state": state,
        "cloudify.workflows": workflows_pkg,
        "cloudify.workflows.workflow_api": workflow_api,
        "cloudify.workflows.tasks": tasks_module,
        "cloudify.workflows.tasks_graph": tasks_graph,
        "cloudify.workflows.workflow_context": workflow_context,
        "cloudify.plugins": plugins_pkg,
        "cloudify.plugins.lifecycle": lifecycle_module,
        "cloudify.plugins.workflows": builtin_workflows,
        "cloudify.manager": manager,
        "cloudify.utils": utils,
        "cloudify.logs": logs,
        "cloudify.constants": constants,
        "cloudify.context": context_module,
        "cloudify_rest_client": rest_pkg,
        "cloudify_rest_client.exceptions": rest_exceptions,
        "cloudify_rest_client.constants": rest_constants,
        "cloudify_rest_client.client": rest_client_module,
        "cloudify.proxy": proxy_pkg,
        "cloudify.proxy.client": proxy_client,
        "script_runner": script_pkg,
        "script_runner.tasks": script_tasks,
    }


def install() -> None:
    """Register the aliases in this process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        # Our aliases win over a cloudify-common that may be installed: the engine must
        # recognise the exception classes that plugins raise.
        for name in [key for key in sys.modules
                     if key.split(".")[0] in ("cloudify", "cloudify_rest_client", "script_runner")]:
            del sys.modules[name]
        sys.modules.update(build_modules())
        _installed = True
