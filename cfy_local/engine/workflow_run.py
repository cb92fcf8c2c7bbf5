"""``run_workflow``: run one execution's workflow in this process, start to end.

The caller (the executions worker) owns the execution's status; this module owns its
events (``workflow_started`` … ``workflow_succeeded|failed|cancelled``) and its
``runs/<id>/graph.json``.
"""
from __future__ import annotations

import _thread
import os
import threading
import time
import traceback
import queue
from typing import Any, Callable

from cfy_local.config import load_config
from cfy_local.dsl.functions import evaluate_runtime
from cfy_local.engine import collector, compat
from cfy_local.engine.builtin import BY_FUNCTION
from cfy_local.engine.context import BlueprintContext, DeploymentContext
from cfy_local.engine.event_emitter import EventEmitter, encode_members, error_cause
from cfy_local.engine.exceptions import NonRecoverableError, WorkflowCancelled, WorkflowRunFailed
from cfy_local.engine.graphstate import GraphState
from cfy_local.engine.plugin_code import import_function
from cfy_local.engine.ctx_stack import AttrDict, current_workflow_ctx
from cfy_local.engine.storage import DeploymentStorage, as_home
from cfy_local.engine.task_states import TASK_FAILED, TASK_PENDING
from cfy_local.engine.tasks import GROW_AFTER, CpuWindow, ExecutionCancelled, GraphFailed, graph_failure
from cfy_local.engine.workflow_ctx import CloudifyWorkflowContext

SCRIPT_WORKFLOW_MAPPINGS = ("script_runner.tasks.execute_workflow", "script.script_runner.tasks.execute_workflow")
EXECUTION_CANCELLED_RESULT = "execution_cancelled"


def _first(*values, default=None):
    for value in values:
        if value is not None:
            return value
    return default


class WorkflowRun:
    """Everything one run shares: storage, events, pool, retry settings, graph state."""

    def __init__(self, home: Any, execution: dict, *, events, cancel, task_retries=None,
                 task_retry_interval=None, thread_pool_size=None):
        self.home = as_home(home)
        config = load_config(self.home)
        self.execution = execution
        self.execution_id = execution["id"]
        self.workflow_id = execution["workflow_id"]
        self.deployment_id = execution.get("deployment_id")
        self.task_retries = int(_first(task_retries, execution.get("task_retries"), default=config.task_retries))
        self.task_retry_interval = float(_first(task_retry_interval, execution.get("task_retry_interval"),
                                                default=config.task_retry_interval))
        pool_size = int(_first(thread_pool_size, execution.get("task_thread_pool_size"),
                               default=config.task_thread_pool_size))
        self.wait_after_fail = float(_first(execution.get("wait_after_fail"), default=config.wait_after_fail))
        self.dry_run = bool(execution.get("is_dry_run"))
        self.resume = bool(execution.get("resume"))
        self.parameters = dict(execution.get("parameters") or {})
        self.subgraph_retries = 0
        self.emitter = EventEmitter(events, deployment_id=self.deployment_id, execution_id=self.execution_id,
                                    workflow_id=self.workflow_id, blueprint_id=execution.get("blueprint_id"))
        self.storage: DeploymentStorage | None = None
        self.deployment: dict = {}
        self.node_map: dict = {}
        self._cancel = cancel
        self._cancelled = False
        self.pool_size = max(1, pool_size)
        self._pool = _WorkerPool(self.pool_size)
        self.graph_state = GraphState(self.home, self.execution_id, self.workflow_id, resume=self.resume)
        self._keys: dict[str, int] = {}
        self._shared_members: dict[tuple, str] = {}
        self._keys_lock = threading.Lock()
        self._direct_failures: list = []
        self.workflow_ctx = None

    def open_deployment(self) -> None:
        if not self.deployment_id:
            raise NonRecoverableError(f"Workflow `{self.workflow_id}` needs a deployment")
        self.storage = DeploymentStorage(self.home, self.deployment_id)
        self.deployment = self.storage.deployment
        self.node_map = self.storage.node_map()
        self.blueprint_context = BlueprintContext(self.deployment.get("blueprint_id"))
        self.deployment_context = DeploymentContext(self.deployment)

    # -- called by tasks -------------------------------------------------------------
    def cancel_requested(self) -> bool:
        if self._cancelled:
            return True
        if self._cancel is not None and self._cancel.is_set():
            self._cancelled = True
        return self._cancelled

    def kill_requested(self) -> bool:
        """A cancel request whose action is ``kill`` (runs/<id>/cancel.json)."""
        if not self.cancel_requested():
            return False
        path = getattr(self._cancel, "path", None)
        if not path:
            return bool(getattr(self._cancel, "kill", False))
        try:
            import json

            with open(path, encoding="utf-8") as fh:
                return json.load(fh).get("action") == "kill"
        except (OSError, ValueError, AttributeError):
            return False

    def submit(self, fn: Callable) -> None:
        self._pool.put(fn)

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def shared_members(self, values: tuple, names: tuple) -> str:
        """``encode_members(dict(zip(names, values)))``, encoded once per run: the part of
        an event context that the tasks of all instances of a node share."""
        key = (names, values)
        try:
            text = self._shared_members.get(key)
        except TypeError:  # a value that is not hashable: encoded every time
            return encode_members(dict(zip(names, values)))
        if text is None:
            text = self._shared_members[key] = encode_members(dict(zip(names, values)))
        return text

    def next_key(self, base: str) -> str:
        with self._keys_lock:
            count = self._keys.get(base, 0)
            self._keys[base] = count + 1
        return f"{base}#{count}"

    def register_operation(self, task) -> None:
        self.graph_state.register(task.key, task.name, task.operation_name, task.instance["id"])

    def task_ended(self, task, retrying: bool = False) -> None:
        if task.is_operation():
            state = TASK_PENDING if retrying else task.state
            self.graph_state.record(task.key, state, task.current_retries)

    def already_succeeded(self, task) -> bool:
        return task.key in self.graph_state.succeeded_before

    def record_direct_failure(self, task) -> None:
        self._direct_failures.append(task)

    def flush_graph_state(self) -> None:
        if self.storage is not None:
            self.storage.flush_states()
        self.graph_state.flush()

    def import_function(self, op: dict) -> Callable:
        return import_function(op.get("operation") or "", plugins=self.deployment.get("plugins") or {},
                               plugin_name=op.get("plugin"), resources_dir=self.storage.resources_dir, home=self.home)

    def evaluate_functions(self, value: Any, task) -> Any:
        if task.relationship is None:
            ids = {"self_instance_id": task.instance["id"]}
        elif task.relationship == "source":
            ids = {"self_instance_id": task.instance["id"], "source_instance_id": task.instance["id"],
                   "target_instance_id": task.related_instance["id"]}
        else:
            ids = {"self_instance_id": task.instance["id"], "source_instance_id": task.related_instance["id"],
                   "target_instance_id": task.instance["id"]}
        return evaluate_runtime(value, self.storage, **ids)

    def close(self) -> None:
        self._pool.close()
        if self.storage is not None:
            self.storage.close()


class _WorkerPool:
    """Up to ``task_thread_pool_size`` threads taking callables from one queue: what runs
    tasks started outside a graph (``task.apply_async()``); a graph runs its own tasks
    (engine/tasks.py, ``_GraphRun``) by the same rule of growth.

    Lighter than ThreadPoolExecutor (no Future per task). Threads start on demand and,
    like daemons, do not keep the process alive, so a workflow abandoned after
    ``wait_after_fail`` does not.

    How many run is decided by what the threads do, not by how many jobs wait. In CPython
    only one thread runs Python at a time, and every system call hands the lock over to
    another thread: with eight threads busy on quick Python operations, a fifth of an
    install went to that hand-over and none of it ran sooner. So the first job starts one
    thread, and a monitor adds one more each time jobs have waited GROW_AFTER while the
    process used less than BUSY_SHARE of a core — the threads are blocked (network, disk,
    sleep, a subprocess), which is what a pool is for. Operations that wait get all
    ``size`` threads within a few tens of milliseconds; quick ones run on one or two.
    """

    def __init__(self, size: int):
        self.size = size
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.started = 0
        self.busy = 0  # threads running a job
        self.queued = 0  # jobs put and not yet taken
        self.closing = False
        self.mutex = threading.Lock()
        self._wanted = threading.Condition(self.mutex)  # wakes the monitor
        self._monitoring = False

    def _short_of_threads(self) -> bool:
        return self.queued > self.started - self.busy and self.started < self.size

    def _start_thread(self) -> None:
        # Not threading.Thread.start(): it blocks until the new thread has run, a hand-off
        # per thread on the graph loop's critical path. A raw thread does not keep the
        # process alive (like a daemon) and takes its job from the queue whenever it gets
        # going. Called with the mutex held.
        _thread.start_new_thread(self._work, ())
        self.started += 1

    def put(self, fn: Callable) -> None:
        with self.mutex:
            self.queued += 1
            if self._short_of_threads():
                if self.started == 0:
                    self._start_thread()
                elif not self._monitoring:
                    self._monitoring = True
                    _thread.start_new_thread(self._monitor, ())
                else:
                    self._wanted.notify()
        self.jobs.put(fn)

    def _monitor(self) -> None:
        with self.mutex:
            while not self.closing and self.started < self.size:
                if not self._short_of_threads():
                    self._wanted.wait()
                    continue
                window = CpuWindow()
                while not self.closing:
                    left = GROW_AFTER - window.elapsed()
                    if left <= 0:
                        break
                    self._wanted.wait(left)
                if self.closing or not self._short_of_threads():
                    continue
                if window.blocked():
                    self._start_thread()
            self._monitoring = False

    def _work(self) -> None:
        jobs, mutex = self.jobs, self.mutex
        while True:
            fn = jobs.get()
            if fn is None:
                return
            with mutex:
                self.queued -= 1
                self.busy += 1
            try:
                fn()
            except BaseException:  # noqa: BLE001 - task bodies report their own errors
                traceback.print_exc()
            with mutex:
                self.busy -= 1

    def close(self) -> None:
        with self.mutex:
            self.closing = True
            self._wanted.notify()
            started = self.started
        for _ in range(started):
            self.jobs.put(None)


def _resolve_workflow(run: WorkflowRun) -> tuple[Callable, bool]:
    """The workflow function and whether it is one of the built-ins."""
    workflows = run.deployment.get("workflows") or {}
    declared = workflows.get(run.workflow_id)
    if declared is None:
        raise NonRecoverableError(f"Workflow {run.workflow_id} does not exist in the deployment {run.deployment_id}")
    mapping = declared.get("mapping") or ""
    plugin = declared.get("plugin")
    operation = declared.get("operation")
    if plugin is None or operation is None:
        plugin, _, operation = mapping.partition(".")
    if not operation:
        raise NonRecoverableError(f"Workflow `{run.workflow_id}` maps to nothing (mapping `{mapping}`)")
    if plugin == "default_workflows":
        func = BY_FUNCTION.get(operation.rsplit(".", 1)[-1])
        if func is None:
            raise NonRecoverableError(
                f"Workflow `{run.workflow_id}` maps to `{mapping}`, which is not a built-in workflow of cfy-local")
        return func, True
    if operation in SCRIPT_WORKFLOW_MAPPINGS:
        return _script_workflow(run), True
    return import_function(operation, plugins=run.deployment.get("plugins") or {}, plugin_name=plugin,
                           resources_dir=run.storage.resources_dir, home=run.home, workflow=True), False


def _script_workflow(run: WorkflowRun) -> Callable:
    """A workflow written as a Python script (``execute_workflow``), exec'd in-process."""

    def execute_workflow(ctx, script_path=None, script_source=None, **kwargs):
        if script_source:
            code, name = script_source, "<script_source>"
        elif script_path:
            path = ctx.download_resource(script_path)
            try:
                with open(path, encoding="utf-8") as fh:
                    code = fh.read()
            finally:
                os.unlink(path)
            name = script_path
        else:
            raise NonRecoverableError("Either script_path or script_source must be provided")
        namespace = {"__name__": "__main__", "__file__": name}
        exec(compile(code, name, "exec"), namespace)  # noqa: S102 - the blueprint's own workflow script
        return getattr(ctx, "_returned", None)

    return execute_workflow


def _with_defaults(run: WorkflowRun, params: dict) -> dict:
    declared = ((run.deployment.get("workflows") or {}).get(run.workflow_id) or {}).get("parameters") or {}
    merged = dict(params)
    for name, spec in declared.items():
        if name not in merged and isinstance(spec, dict) and "default" in spec:
            merged[name] = spec["default"]
    return merged


def run_workflow(home: Any, execution: dict, *, events, cancel, task_retries=None, task_retry_interval=None,
                 thread_pool_size=None) -> Any:
    """Run the execution's workflow; return its result or raise WorkflowRunFailed/WorkflowCancelled."""
    return _run_workflow(home, execution, events=events, cancel=cancel, task_retries=task_retries,
                         task_retry_interval=task_retry_interval, thread_pool_size=thread_pool_size)


def _run_workflow(home: Any, execution: dict, *, events, cancel, task_retries, task_retry_interval,
                  thread_pool_size) -> Any:
    compat.install()
    run = WorkflowRun(home, execution, events=events, cancel=cancel, task_retries=task_retries,
                      task_retry_interval=task_retry_interval, thread_pool_size=thread_pool_size)
    dry = " (dry run)" if run.dry_run else ""
    verb = "Resuming" if run.resume else "Starting"
    run.emitter.event("workflow_started", f"{verb} '{run.workflow_id}' workflow execution{dry}")
    pushed = False
    try:
        try:
            run.open_deployment()
            func, builtin = _resolve_workflow(run)
            if run.resume and not builtin and not getattr(func, "resumable", False):
                raise NonRecoverableError(f"Cannot resume - workflow not resumable: {getattr(func, '__name__', func)}")
            params = _with_defaults(run, run.parameters)
            ctx = CloudifyWorkflowContext(run)
            ctx.returns = lambda value: setattr(ctx, "_returned", value)
            run.workflow_ctx = ctx
            current_workflow_ctx.push(ctx, AttrDict(params, ctx=ctx))
            pushed = True
            result = func(ctx=ctx, **params)
            ctx._wait_non_graph_tasks()
            run.storage.flush_states()
            # A non-graph task that finally failed and whose error nobody received with
            # .get() fails the workflow, as Cloudify's dispatcher does.
            unconsumed = [task for task in run._direct_failures
                          if task.state == TASK_FAILED and not task.ignored and not task._error_consumed]
            if unconsumed:
                raise graph_failure(unconsumed)
            if result == EXECUTION_CANCELLED_RESULT:
                raise ExecutionCancelled()
        except (ExecutionCancelled, WorkflowCancelled):
            run.emitter.event("workflow_cancelled", f"'{run.workflow_id}' workflow execution cancelled")
            raise WorkflowCancelled(f"'{run.workflow_id}' workflow execution cancelled") from None
        except Exception as exc:  # noqa: BLE001 - every failure becomes workflow_failed
            text = str(exc) or type(exc).__name__
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            if isinstance(exc, GraphFailed) and exc.traceback_text:
                tb = exc.traceback_text + "\n" + tb
            causes = list(getattr(exc, "causes", None) or []) if isinstance(exc, GraphFailed) else []
            causes.append(error_cause(exc, tb))
            run.emitter.event("workflow_failed", f"'{run.workflow_id}' workflow execution failed: {text}",
                              {"task_error_causes": causes})
            raise WorkflowRunFailed(f"{text}\n\n{tb}") from exc
        run.emitter.event("workflow_succeeded", f"'{run.workflow_id}' workflow execution succeeded{dry}")
        return result
    finally:
        if pushed:
            current_workflow_ctx.pop()
        # What the run kept set aside (the ctx's snapshot, a graph that never ran) goes back
        # to the collector: nothing stays out of its reach after a run.
        collector.release()
        run.close()
        run.graph_state.flush(durable=True)
        run.emitter.flush()
        flush = getattr(events, "flush", None)
        if callable(flush):
            try:
                flush(durable=True)
            except TypeError:
                flush()
