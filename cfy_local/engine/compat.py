"""The ``cloudify`` import aliases, so plugins and workflows written for Cloudify run unchanged.

``install()`` registers modules named ``cloudify``, ``cloudify.decorators``,
``cloudify.exceptions``, ``cloudify.state``, ``cloudify.workflows`` (+ ``workflow_api``,
``tasks``, ``tasks_graph``, ``workflow_context``), ``cloudify.plugins`` (+ ``lifecycle``,
``workflows``), ``cloudify.manager``, ``cloudify.utils`` and ``cloudify.logs`` in
``sys.modules`` of the current process. It is called by ``run_workflow`` only, i.e. in
the process that runs the engine; cfy-local installs no top-level ``cloudify`` package.
"""
from __future__ import annotations

import functools
import sys
import threading
import types

from cfy_local.engine import builtin, exceptions, lifecycle, proxy, task_states, tasks, workflow_ctx
from cfy_local.engine.events import error_cause

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


def build_modules() -> dict[str, types.ModuleType]:
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
        ctx=proxy.ctx, ctx_parameters=proxy.ctx_parameters, current_ctx=proxy.current_ctx,
        workflow_ctx=proxy.workflow_ctx, workflow_parameters=proxy.workflow_parameters,
        current_workflow_ctx=proxy.current_workflow_ctx, NotInContext=proxy.NotInContext,
    )

    def has_cancel_request():
        return proxy.current_workflow_ctx.get_ctx()._run.cancel_requested()

    def has_kill_request():
        return bool(getattr(proxy.current_workflow_ctx.get_ctx()._run, "kill_requested", lambda: False)())

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
        SubgraphTask=tasks.SubgraphTask, forkjoin=tasks.forkjoin,
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
        ctx=proxy.workflow_ctx, parameters=proxy.workflow_parameters, api=workflow_api,
        tasks=tasks_module, tasks_graph=tasks_graph, workflow_api=workflow_api,
        workflow_context=workflow_context,
    )
    workflows_pkg.__path__ = []

    lifecycle_module = _module(
        "cloudify.plugins.lifecycle", "Install/uninstall of node instances.",
        install_node_instances=lifecycle.install_node_instances,
        uninstall_node_instances=lifecycle.uninstall_node_instances,
        reinstall_node_instances=lifecycle.reinstall_node_instances,
    )
    builtin_workflows = _module(
        "cloudify.plugins.workflows", "The built-in workflows.",
        **{name: func for name, func in builtin.BY_FUNCTION.items()},
    )
    plugins_pkg = _module("cloudify.plugins", "Plugins helpers.", lifecycle=lifecycle_module,
                          workflows=builtin_workflows)
    plugins_pkg.__path__ = []

    manager = _module(
        "cloudify.manager", "Manager-only APIs: they fail with a clear message in cfy-local.",
        get_rest_client=_manager_only("cloudify.manager.get_rest_client"),
        get_node_instance=_manager_only("cloudify.manager.get_node_instance"),
        update_node_instance=_manager_only("cloudify.manager.update_node_instance"),
        download_resource=_manager_only("cloudify.manager.download_resource"),
        get_resource=_manager_only("cloudify.manager.get_resource"),
        get_bootstrap_context=lambda *a, **k: {},
        get_provider_context=lambda *a, **k: {},
    )
    utils = _module("cloudify.utils", "A few helpers plugins import.",
                    exception_to_error_cause=_exception_to_error_cause,
                    get_rest_client=_manager_only("cloudify.utils.get_rest_client"))
    logs = _module("cloudify.logs", "Logging helpers.")

    root = _module(
        "cloudify", "cfy-local's stand-in for cloudify-common inside the engine process.",
        ctx=proxy.ctx, exceptions=exceptions_module, decorators=decorators, state=state,
        workflows=workflows_pkg, plugins=plugins_pkg, manager=manager, utils=utils, logs=logs,
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
    }


def install() -> None:
    """Register the aliases in this process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        # Our aliases win over a cloudify-common that may be installed: the engine must
        # recognise the exception classes that plugins raise.
        for name in [key for key in sys.modules if key == "cloudify" or key.startswith("cloudify.")]:
            del sys.modules[name]
        sys.modules.update(build_modules())
        _installed = True
