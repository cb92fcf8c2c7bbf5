"""Tasks and the task dependency graph (Cloudify's ``tasks.py`` / ``tasks_graph.py`` semantics).

A graph holds tasks and "src waits for dst" dependencies. ``execute()`` runs every ready
task — operations and bookkeeping tasks (state changes, events, subgraph markers) alike —
on runner threads, at most the run's thread pool size of operations at once (``_GraphRun``),
and applies Cloudify's retry rules (docs/cloudify-behaviour.md, "Tasks"): OperationRetry retries and bypasses ``on_failure``;
NonRecoverableError fails at once; RecoverableError and any other exception retry, after
``retry_after`` or the task's ``retry_interval``, within ``total_retries`` (-1 = forever).
A final failure blocks only the failed task's dependents; independent branches finish
(bounded by ``wait_after_fail``), then the graph raises. The cancel flag is checked
between tasks. Subgraphs start before their children and end when all children ended;
a child's final failure fails its subgraph and drops the subgraph's remaining tasks.
"""
from __future__ import annotations

import _thread
import abc
import heapq
import itertools
import sys
import threading
import time
import traceback
from collections import deque
from typing import Any, Callable

from cfy_local import clock
from cfy_local.engine import collector
from cfy_local.engine.event_emitter import EncodedContext, encode_members, encode_string, error_cause
from cfy_local.engine.exceptions import NonRecoverableError, OperationRetry, RecoverableError
from cfy_local.engine.task_states import (FINAL_STATES, TASK_FAILED, TASK_PENDING, TASK_RESCHEDULED,
                                          TASK_STARTED, TASK_SUCCEEDED, TERMINATED_STATES, move)

_ids = itertools.count(1)


class ExecutionCancelled(Exception):
    """The workflow was cancelled (``cloudify.workflows.api.ExecutionCancelled``)."""


class GraphFailed(RuntimeError):
    """A task graph ended with failed tasks (``cloudify.exceptions.WorkflowFailed`` shape)."""

    def __init__(self, message: str, causes: list | None = None, traceback_text: str = ""):
        super().__init__(message)
        self.causes = causes or []
        self.traceback_text = traceback_text


class HandlerResult:
    """What a task handler decides (``cloudify.workflows.tasks.HandlerResult``)."""

    HANDLER_RETRY = "handler_retry"
    HANDLER_FAIL = "handler_fail"
    HANDLER_IGNORE = "handler_ignore"
    HANDLER_CONTINUE = "handler_continue"

    def __init__(self, action: str, ignore_total_retries: bool = False, retry_after: float | None = None):
        self.action = action
        self.ignore_total_retries = ignore_total_retries
        self.retry_after = retry_after
        self.retried_task = None

    @classmethod
    def retry(cls, ignore_total_retries: bool = False, retry_after: float | None = None) -> "HandlerResult":
        return cls(cls.HANDLER_RETRY, ignore_total_retries=ignore_total_retries, retry_after=retry_after)

    @classmethod
    def fail(cls) -> "HandlerResult":
        return cls(cls.HANDLER_FAIL)

    @classmethod
    def cont(cls) -> "HandlerResult":
        return cls(cls.HANDLER_CONTINUE)

    @classmethod
    def ignore(cls) -> "HandlerResult":
        return cls(cls.HANDLER_IGNORE)


class TaskAsyncResult:
    """``task.async_result``: ``get()`` blocks until the task ended and returns or raises."""

    def __init__(self, task: "WorkflowTask"):
        self.task = task
        self._done = threading.Event()
        self.result = None
        self._callbacks: list[Callable] = []
        # Set once a caller waited for the result: Cloudify drops a non-graph task from the
        # workflow's graph at that moment, so it no longer blocks a switch to graph mode.
        self.fetched = False

    def _resolve(self) -> None:
        self.result = self.task.result
        self._done.set()
        for callback in self._callbacks:
            callback(self)

    def on_result(self, callback: Callable) -> None:
        self._callbacks.append(callback)
        if self._done.is_set():
            callback(self)

    def get(self, retry_on_failure: bool = True) -> Any:
        task = self.task
        if not task._started_direct and task.state not in TERMINATED_STATES:
            task.apply_async()
        while not self._done.wait(0.2):
            task.run.emitter.maybe_flush()
            if task.run.cancel_requested():
                raise ExecutionCancelled()
        self.fetched = True
        if task.state == TASK_FAILED and not task.ignored:
            task._error_consumed = True
            raise task.error
        return task.result


def _stops_the_run(exc: BaseException) -> bool:
    """An exception that is no task's failure: Ctrl-C, or what the worker raises in its
    main thread to stop (SIGTERM), which runs tasks itself outside a graph (a bookkeeping
    task's ``apply_async()``). Anything else a task raises, on any thread, is its failure."""
    return isinstance(exc, KeyboardInterrupt) or (
        not isinstance(exc, (Exception, SystemExit)) and threading.current_thread() is threading.main_thread())


_TASK_MEMBERS = frozenset({"task_id", "task_name", "task_current_retries", "task_total_retries"})
_encode_string = encode_string


class WorkflowTask(abc.ABC):
    """Base task. Subclasses implement ``_execute`` (the body of one attempt)."""

    is_subgraph = False
    runs_inline = False          # bookkeeping tasks: run holding the graph's mutex, not released
    task_type = "local"

    def __init__(self, run, name: str, *, info: Any = None, total_retries: int = 0,
                 retry_interval: float = 0, send_task_events: bool = True,
                 event_context: dict | None = None, task_id: str | None = None):
        self.run = run
        self.id = task_id or str(next(_ids))
        self.name = name
        self.info = info
        self.total_retries = total_retries
        self.retry_interval = retry_interval
        self.current_retries = 0
        self.send_task_events = send_task_events
        self.event_context = event_context or {}
        self.state = TASK_PENDING
        # graph bookkeeping
        self._deps: set[WorkflowTask] = set()
        self._dependents: set[WorkflowTask] = set()
        # What every task of a graph gets while it is built and run is set here, not left
        # to a class default: CPython keeps an object's attributes in an array keyed by its
        # class's shared names, and the names it can still add shrink with each object made
        # — after a few dozen tasks, the first attribute a task takes that its class had not
        # seen gives that task a dict of its own (21,000 dicts at a 1,000-instance install,
        # made while it ran, each walked by the collector).
        # (``on_failure`` too: ``ignore_failure`` gives every task of an uninstall one.)
        self.containing_subgraph: SubgraphTask | None = None
        self.graph: TaskDependencyGraph | None = None
        self.result: Any = None
        self._blockers = 0
        self._done_ok = False
        self._encoded_context: tuple[int, EncodedContext] | None = None
        self.on_success: Callable | None = None
        self.on_failure: Callable | None = None

    # What only a failed or retried task takes stays a class default: a large install
    # builds tens of thousands of tasks, and every attribute set in __init__ costs.
    error: BaseException | None = None
    error_causes: list | None = None
    execute_after = 0.0
    ignored = False
    retried_task = None
    _async_result: "TaskAsyncResult | None" = None
    _dropped = False
    _started_direct = False
    _error_consumed = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.name!r} {self.state}>"

    cloudify_context: dict = {}

    @property
    def async_result(self) -> TaskAsyncResult:
        """Created on first use: graph-mode tasks rarely need one (and it costs an Event)."""
        if self._async_result is None:
            self._async_result = TaskAsyncResult(self)
            if not self._started_direct and (self._done_ok or self.state == TASK_FAILED):
                self._async_result._resolve()
        return self._async_result

    # -- Cloudify's task surface ------------------------------------------------------
    def get_state(self) -> str:
        return self.state

    def is_nop(self) -> bool:
        return False

    def is_local(self) -> bool:
        return True

    def is_remote(self) -> bool:
        return False

    def is_operation(self) -> bool:
        return False

    @property
    def short_description(self) -> str:
        return self.name

    def dump(self) -> dict:
        return {"id": self.id, "name": self.name, "state": self.state, "type": type(self).__name__}

    def set_state(self, state: str) -> None:
        if self.state in FINAL_STATES:
            return
        self.state = state

    # -- one attempt ---------------------------------------------------------------
    @abc.abstractmethod
    def _execute(self) -> Any:
        """The body of one attempt; its return value is the task result."""

    def _attempt(self) -> tuple[bool, Any, str | None]:
        """Run one attempt; (ok, result-or-exception, traceback text)."""
        move(self, TASK_STARTED)
        self._emit_started()
        try:
            return True, self._execute(), None
        except BaseException as exc:  # noqa: BLE001 - every failure is classified below
            if _stops_the_run(exc):
                raise
            return False, exc, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    # -- events --------------------------------------------------------------------
    def _suffix(self) -> str:
        text = " (dry run)" if self.run.dry_run and self.dry_run_marked else ""
        if self.current_retries > 0:
            if self.total_retries == -1:
                text += f" [retry {self.current_retries}]"
            else:
                text += f" [retry {self.current_retries}/{self.total_retries}]"
        return text

    dry_run_marked = False

    def _task_context(self) -> dict:
        ctx = dict(self.event_context)
        ctx["task_id"] = self.id
        ctx["task_name"] = self.name
        ctx["task_current_retries"] = self.current_retries
        ctx["task_total_retries"] = self.total_retries
        return ctx

    def _task_context_encoded(self) -> EncodedContext:
        """``_task_context()`` encoded once per attempt: a task sends two or three events
        with the same context. The same text as ``encode_members(self._task_context())``,
        built without the dict: the task's own four members follow its event context."""
        cached = self._encoded_context
        if cached is None or cached[0] != self.current_retries:
            context = self.event_context
            if (_TASK_MEMBERS.isdisjoint(context) and type(self.id) is str and type(self.name) is str
                    and type(self.current_retries) is int and type(self.total_retries) is int):
                text = EncodedContext(
                    f'{self._encoded_event_context()},"task_id":{_encode_string(self.id)},'
                    f'"task_name":{_encode_string(self.name)},"task_current_retries":{self.current_retries},'
                    f'"task_total_retries":{self.total_retries}')
            else:  # a context that names task fields itself keeps their places in it
                text = encode_members(self._task_context())
            cached = self._encoded_context = (self.current_retries, text)
        return cached[1]

    def _encoded_event_context(self) -> str:
        """``encode_members(self.event_context)``; operation tasks reuse what the
        instances of a node have in common."""
        return encode_members(self.event_context)

    def _emit_started(self) -> None:
        if self.send_task_events:
            self.run.emitter.event("task_started", f"Task started '{self.name}'{self._suffix()}",
                                   self._task_context_encoded())

    def _emit_succeeded(self) -> None:
        if self.send_task_events:
            text = f"Task succeeded '{self.name}'"
            if self.result is not None:
                text += f" - {self.result}"
            self.run.emitter.event("task_succeeded", text + self._suffix(), self._task_context_encoded())

    def _emit_failure(self, exc: BaseException, causes: list) -> None:
        event_type = "task_rescheduled" if isinstance(exc, OperationRetry) else "task_failed"
        if event_type == "task_rescheduled" and not self.send_task_events:
            return
        word = "rescheduled" if event_type == "task_rescheduled" else "failed"
        context = self._task_context()
        context["task_error_causes"] = causes
        self.run.emitter.event(event_type, f"Task {word} '{self.name}' -> {exc}{self._suffix()}", context)

    # -- decisions -----------------------------------------------------------------
    def _decide_failure(self, exc: BaseException) -> HandlerResult:
        if isinstance(exc, OperationRetry):
            decision = HandlerResult.retry(retry_after=exc.retry_after)
        elif self.on_failure is not None:
            decision = self.on_failure(self)
            if not isinstance(decision, HandlerResult):
                decision = HandlerResult.fail()
        elif isinstance(exc, NonRecoverableError):
            decision = HandlerResult.fail()
        elif isinstance(exc, RecoverableError):
            decision = HandlerResult.retry(retry_after=exc.retry_after)
        else:
            decision = HandlerResult.retry()
        if decision.action == HandlerResult.HANDLER_RETRY and not (
            self.total_retries == -1 or self.current_retries < self.total_retries or decision.ignore_total_retries
        ):
            decision = HandlerResult.fail()
        return decision

    def _finish_attempt(self, ok: bool, payload: Any, tb: str | None) -> HandlerResult:
        """Record an attempt's outcome, emit its event, return what happens next."""
        if ok:
            self.result = payload
            decision = HandlerResult.cont()
            if self.on_success is not None:
                decision = self.on_success(self)
                if not isinstance(decision, HandlerResult):
                    decision = HandlerResult.cont()
            if decision.action == HandlerResult.HANDLER_RETRY:
                if not (self.total_retries == -1 or self.current_retries < self.total_retries
                        or decision.ignore_total_retries):
                    decision = HandlerResult.cont()
            if decision.action != HandlerResult.HANDLER_RETRY:
                move(self, TASK_SUCCEEDED)
            self._emit_succeeded()
            # The encoded event context served this attempt's events; a graph keeps its
            # tasks until it ends, and these strings were a fifth of a large install's memory.
            self._encoded_context = None
            return decision
        exc = payload
        causes = list(getattr(exc, "causes", None) or [])
        causes.append(error_cause(exc, tb))
        self.error = exc
        self.error_causes = causes
        move(self, TASK_RESCHEDULED if isinstance(exc, OperationRetry) else TASK_FAILED)
        self._emit_failure(exc, causes)
        decision = self._decide_failure(exc)
        if decision.action == HandlerResult.HANDLER_IGNORE:
            self.ignored = True
            move(self, TASK_FAILED)
        elif decision.action == HandlerResult.HANDLER_FAIL:
            move(self, TASK_FAILED)
        return decision

    def _prepare_retry(self, decision: HandlerResult) -> None:
        delay = decision.retry_after if decision.retry_after is not None else self.retry_interval
        self.current_retries += 1
        move(self, TASK_PENDING)
        self.error = None
        self.execute_after = clock.monotonic() + max(0.0, float(delay or 0))

    # -- non-graph mode --------------------------------------------------------------
    def apply_async(self) -> TaskAsyncResult:
        """Start the task now (non-graph mode); retries are handled until it ends."""
        if self._started_direct:
            return self.async_result
        self._started_direct = True
        if self.runs_inline:
            self._run_to_end()
        else:
            self.run.submit(self._run_to_end)
        return self.async_result

    def _run_to_end(self) -> None:
        try:
            if self.is_operation() and self.run.already_succeeded(self):
                move(self, TASK_SUCCEEDED)  # resumed run: this operation already succeeded
                return
            while True:
                if self.run.cancel_requested() and self.current_retries > 0:
                    self.error = ExecutionCancelled()
                    move(self, TASK_FAILED)
                    break
                ok, payload, tb = self._attempt()
                decision = self._finish_attempt(ok, payload, tb)
                self.run.task_ended(self, retrying=decision.action == HandlerResult.HANDLER_RETRY)
                if decision.action != HandlerResult.HANDLER_RETRY:
                    if not ok and decision.action == HandlerResult.HANDLER_FAIL:
                        self.run.record_direct_failure(self)
                    break
                self._prepare_retry(decision)
                while clock.monotonic() < self.execute_after:
                    if self.run.cancel_requested():
                        break
                    self.run.sleep(min(0.2, self.execute_after - clock.monotonic()))
        finally:
            self.async_result._resolve()


class NOPLocalWorkflowTask(WorkflowTask):
    """An operation that does not exist or is empty: succeeds at once, emits nothing."""

    runs_inline = True

    def __init__(self, run, name: str = "NOP", **kwargs):
        kwargs.setdefault("send_task_events", False)
        super().__init__(run, name, **kwargs)

    def is_nop(self) -> bool:
        return True

    def _execute(self) -> Any:
        return None

    def _emit_started(self) -> None:
        return None

    def _emit_succeeded(self) -> None:
        return None


class BuiltinTask(WorkflowTask):
    """State changes and events: inline, no retries, only ``task_failed`` is reported."""

    runs_inline = True

    def __init__(self, run, name: str, fn: Callable[[], Any], **kwargs):
        kwargs.setdefault("send_task_events", False)
        super().__init__(run, name, total_retries=0, **kwargs)
        self._fn = fn

    def _execute(self) -> Any:
        return self._fn()

    def _emit_started(self) -> None:
        return None

    def _emit_succeeded(self) -> None:
        return None


class LocalCallableTask(WorkflowTask):
    """``ctx.local_task(fn)``: a Python callable, run as an operation is (by a runner in a graph, on the
    workflow's thread pool outside one)."""

    def __init__(self, run, fn: Callable, name: str, kwargs: dict | None = None, **options):
        super().__init__(run, name, **options)
        self._fn = fn
        self._kwargs = kwargs or {}

    def _execute(self) -> Any:
        return self._fn(**self._kwargs)


class SubgraphTask(WorkflowTask):
    """A named group of tasks: its children start after it and it ends after them."""

    is_subgraph = True
    runs_inline = True

    def __init__(self, graph: "TaskDependencyGraph", name: str, **kwargs):
        kwargs.setdefault("total_retries", graph.run.subgraph_retries)
        super().__init__(graph.run, name, info={"name": name}, **kwargs)
        self.graph = graph
        self.tasks: dict[str, WorkflowTask] = {}
        self.failed_task: WorkflowTask | None = None
        self._open_children = 0

    @property
    def children(self) -> list[WorkflowTask]:
        return list(self.tasks.values())

    def add_task(self, task: WorkflowTask) -> WorkflowTask:
        if task.containing_subgraph is not None and task.containing_subgraph is not self:
            raise RuntimeError(
                f"task {task.id}[{task.name}] cannot be contained in more than one subgraph. "
                f"It is currently contained in {task.containing_subgraph.name} and it is now being added to {self.name}"
            )
        task.containing_subgraph = self
        self.tasks[task.id] = task
        self.graph.add_task(task)
        return task

    def remove_task(self, task: WorkflowTask) -> None:
        self.tasks.pop(task.id, None)
        task.containing_subgraph = None
        self.graph.remove_task(task)

    def sequence(self) -> "TaskSequence":
        return TaskSequence(self)

    def subgraph(self, name: str) -> "SubgraphTask":
        sub = SubgraphTask(self.graph, name)
        self.add_task(sub)
        return sub

    def _emit_started(self) -> None:
        self.run.emitter.event("task_started", f"Subgraph started '{self.name}'{self._suffix()}", {})

    def _emit_succeeded(self) -> None:
        self.run.emitter.event("task_succeeded", f"Subgraph succeeded '{self.name}'{self._suffix()}", {})

    def _emit_failure(self, exc: BaseException, causes: list) -> None:
        self.run.emitter.event("task_failed", f"Subgraph failed '{self.name}' -> {exc}{self._suffix()}",
                               {"task_error_causes": causes})

    def _execute(self) -> Any:
        return None


def forkjoin(*tasks: WorkflowTask) -> "_ForkJoin":
    """A parallel group inside a sequence."""
    return _ForkJoin(tasks)


class _ForkJoin:
    def __init__(self, tasks):
        self.tasks = list(tasks)


class TaskSequence:
    """``graph.sequence()``: each added item depends on every task of the previous item."""

    def __init__(self, owner):
        self.owner = owner  # a TaskDependencyGraph or a SubgraphTask
        self._last: list[WorkflowTask] = []

    def add(self, *items) -> None:
        graph = self.owner.graph if isinstance(self.owner, SubgraphTask) else self.owner
        for item in items:
            group = item.tasks if isinstance(item, _ForkJoin) else [item]
            group = [task for task in group if task is not None]
            if not group:
                continue
            for task in group:
                if task.graph is not graph or (isinstance(self.owner, SubgraphTask) and task.containing_subgraph is not self.owner):
                    self.owner.add_task(task)
                for previous in self._last:
                    graph.add_dependency(task, previous)
            self._last = group


class TaskDependencyGraph:
    """Tasks and their dependencies; ``execute()`` runs them to the end."""

    def __init__(self, run, name: str | None = None):
        self.run = run
        self.name = name
        self._tasks: dict[str, WorkflowTask] = {}

    # -- building ------------------------------------------------------------------
    @property
    def tasks(self) -> list[WorkflowTask]:
        return list(self._tasks.values())

    def add_task(self, task: WorkflowTask) -> WorkflowTask:
        task.graph = self
        self._tasks[task.id] = task
        return task

    def get_task(self, task_id: str) -> WorkflowTask | None:
        return self._tasks.get(task_id)

    def remove_task(self, task: WorkflowTask) -> None:
        self._tasks.pop(task.id, None)
        for dep in task._deps:
            dep._dependents.discard(task)
        for dependent in task._dependents:
            dependent._deps.discard(task)
        task._deps.clear()
        task._dependents.clear()
        if task.containing_subgraph is not None:
            task.containing_subgraph.tasks.pop(task.id, None)
        if task.is_subgraph:
            for child in list(task.tasks.values()):
                self.remove_task(child)

    def contains(self, task: WorkflowTask) -> bool:
        return task.id in self._tasks

    def add_dependency(self, src: WorkflowTask, dst: WorkflowTask) -> None:
        """``src`` waits for ``dst``."""
        if src.id not in self._tasks:
            raise RuntimeError(f"src not in graph: {src!r}")
        if dst.id not in self._tasks:
            raise RuntimeError(f"dst not in graph: {dst!r}")
        if src is dst:
            return
        src._deps.add(dst)
        dst._dependents.add(src)

    def remove_dependency(self, src: WorkflowTask, dst: WorkflowTask) -> None:
        src._deps.discard(dst)
        dst._dependents.discard(src)

    def sequence(self) -> TaskSequence:
        return TaskSequence(self)

    def subgraph(self, name: str) -> SubgraphTask:
        sub = SubgraphTask(self, name)
        self.add_task(sub)
        return sub

    def clear(self) -> None:
        self._tasks.clear()

    def optimize(self) -> None:
        """Drop NOP tasks and empty subgraphs, linking their dependents to their
        dependencies so the ordering through them is kept (Cloudify's ``optimize``)."""
        changed = True
        candidates = list(self._tasks.values())
        while changed:
            changed = False
            for task in candidates:
                if not (task.is_nop() or (task.is_subgraph and not task.tasks)):
                    continue
                if not task.is_subgraph and (task.on_success is not None or task.on_failure is not None):
                    continue
                deps = set(task._deps)
                if task.containing_subgraph is not None:
                    deps.add(task.containing_subgraph)
                for dependent in list(task._dependents):
                    for dep in deps:
                        if dep is not dependent and dep.id in self._tasks and dep is not dependent.containing_subgraph:
                            self.add_dependency(dependent, dep)
                self.remove_task(task)
                changed = True
            # Only a subgraph emptied by this pass can be a new candidate for the next.
            candidates = [task for task in self._tasks.values() if task.is_subgraph]

    def linearize(self) -> list[WorkflowTask]:
        """Tasks in an order that respects dependencies; RuntimeError on a cycle."""
        order = _topological_order(self._tasks.values())
        if order is None:
            raise RuntimeError(f"The task graph has a dependency cycle: {_cycle_text(self._tasks.values())}")
        return order

    # -- running -------------------------------------------------------------------
    def execute(self) -> None:
        _GraphRun(self).execute()


def _all_deps(task: WorkflowTask):
    yield from task._deps
    if task.containing_subgraph is not None:
        yield task.containing_subgraph


def _topological_order(tasks) -> list[WorkflowTask] | None:
    tasks = list(tasks)
    members = set(tasks)
    incoming = {task: sum(1 for dep in _all_deps(task) if dep in members) for task in tasks}
    children: dict[WorkflowTask, list[WorkflowTask]] = {task: [] for task in tasks}
    for task in tasks:
        for dep in _all_deps(task):
            if dep in members:
                children[dep].append(task)
    ready = deque(task for task in tasks if incoming[task] == 0)
    order = []
    while ready:
        task = ready.popleft()
        order.append(task)
        for child in children[task]:
            incoming[child] -= 1
            if incoming[child] == 0:
                ready.append(child)
    return order if len(order) == len(tasks) else None


def _cycle_text(tasks) -> str:
    """Name the tasks of one cycle (for the error message)."""
    members = set(tasks)
    colour: dict[WorkflowTask, int] = {}
    stack_path: list[WorkflowTask] = []

    def visit(task) -> list[WorkflowTask] | None:
        colour[task] = 1
        stack_path.append(task)
        for dep in _all_deps(task):
            if dep not in members:
                continue
            if colour.get(dep) == 1:
                return stack_path[stack_path.index(dep):] + [dep]
            if dep not in colour:
                found = visit(dep)
                if found:
                    return found
        stack_path.pop()
        colour[task] = 2
        return None

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    for task in members:
        if task not in colour:
            found = visit(task)
            if found:
                return " -> ".join(f"'{t.name}'" for t in found)
    return "(unknown)"


# How a graph (and the workflow's thread pool, engine/workflow_run.py) decides that its
# threads are blocked and another one would help: tasks have waited GROW_AFTER while the
# process used less than BUSY_SHARE of a core.
GROW_AFTER = 0.005
BUSY_SHARE = 0.75
# And that a runner too many is running: tasks waited while the process used at least
# CONTENDED_SHARE of a core for SHRINK_AFTER with more than one runner. A process that is
# not scheduled for a while (a busy machine, a VM's stolen time) looks blocked too and gets
# a runner it cannot use; with work always ready that runner never found a reason to leave,
# and two runners that interleave operations on one shared target make its plugins' update
# loops conflict (a 10,000-instance shared-target install: 16 s with one runner, 22 s once a
# second had joined 8 s in).
CONTENDED_SHARE = 0.9
SHRINK_AFTER = 0.1
# Each runner asked to leave doubles how long the runners must look blocked before another
# joins, up to GROW_AFTER_MAX (a process the machine keeps from a core now and then would
# otherwise gain and lose a runner again and again); a window in which the process used
# under a third of BUSY_SHARE — blocked beyond doubt — halves it again.
GROW_AFTER_MAX = 0.32


class CpuWindow:
    """The process's CPU time over real time since the window began: below BUSY_SHARE of a
    core, its threads are blocked (network, disk, a subprocess, a sleep, each other), not
    busy running Python. Real time, not the injectable clock: this is about this machine's
    threads, not workflow time."""

    def __init__(self):
        self.restart()

    def restart(self) -> None:
        self.cpu, self.wall = time.process_time(), time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.wall

    def share(self) -> tuple[float, float]:
        """(cores the process used, seconds) over the window, and begin the next."""
        cpu, wall = time.process_time(), time.monotonic()
        used, seconds = cpu - self.cpu, wall - self.wall
        self.cpu, self.wall = cpu, wall
        return (used / seconds if seconds > 0 else 1.0), seconds

    def blocked(self) -> bool:
        """Judge the window, and begin the next."""
        return self.share()[0] < BUSY_SHARE


class RunnerPolicy:
    """Whether a graph's runners should change, judged on each window in which tasks
    waited (``_GraphRun``): GROW when the process used under BUSY_SHARE of a core (its
    runners are blocked), LEAVE once more than one runner kept it at CONTENDED_SHARE or more
    for SHRINK_AFTER (they only take turns at the interpreter lock), KEEP otherwise.
    ``grow_after`` is how long a window must be before it is judged."""

    GROW, LEAVE, KEEP = "grow", "leave", "keep"

    def __init__(self):
        self.grow_after = GROW_AFTER
        self.contended_for = 0.0  # seconds of windows in a row with a core busy and runners > 1

    def judge(self, share: float, seconds: float, runners: int) -> str:
        """``share`` of a core the process used over the window of ``seconds``, with
        ``runners`` that stay (not asked to leave)."""
        if share < BUSY_SHARE:
            self.contended_for = 0.0
            if share < BUSY_SHARE / 3:
                self.grow_after = max(GROW_AFTER, self.grow_after / 2)
            return self.GROW
        if share < CONTENDED_SHARE or runners <= 1:
            self.contended_for = 0.0
            return self.KEEP
        self.contended_for += seconds
        if self.contended_for < SHRINK_AFTER:
            return self.KEEP
        self.contended_for = 0.0
        self.grow_after = min(self.grow_after * 2, GROW_AFTER_MAX)
        return self.LEAVE

    def idle(self) -> None:
        """No task waited: what counted towards a leave starts again."""
        self.contended_for = 0.0


class _GraphRun:
    """One ``execute()`` of a graph.

    Tasks are run by *runner* threads: a runner takes a ready task and runs it itself —
    bookkeeping tasks and operations alike — then handles its outcome and takes the next.
    In CPython one thread runs at a time, and handing each operation to a pool thread and
    its outcome back to a graph thread cost two hand-overs of the interpreter lock per
    operation: a third of the CPU of a 1,000-instance install that writes runtime
    properties, with nothing run sooner for it. So one runner starts, and more join only
    when tasks wait while the runners are blocked (an operation on the network, on disk,
    in a subprocess, asleep, or waiting for another operation): tasks ready for GROW_AFTER
    while the process used less than BUSY_SHARE of a core. Operations never run more at
    once than the run's thread pool size. A runner leaves when it finds nothing ready, or
    after its task when asked to: more than one kept the process busy (CONTENDED_SHARE
    for SHRINK_AFTER), so they only took turns at the interpreter lock.

    The thread that called ``execute()`` supervises: it starts and adds runners, starts
    one when a retry comes due, asks one to leave (above), flushes what readers watch, and
    leaves when everything ran,
    on a cancel once the running operations ended, or ``wait_after_fail`` after a failure
    (an operation still running then is abandoned, as Cloudify's engine abandons it). The
    graph's state is guarded by one mutex, released while an operation runs.
    """

    def __init__(self, graph: TaskDependencyGraph):
        self.graph = graph
        self.run = graph.run
        self.mutex = threading.Lock()
        self.ready: deque[WorkflowTask] = deque()
        self.delayed: list[tuple[float, int, WorkflowTask]] = []
        self.errors: list[WorkflowTask] = []
        self.first_error_at: float | None = None
        self._seq = itertools.count()
        self.limit = self.run.pool_size
        self.runners = 0
        self.leaving = 0  # runners asked to leave after their task (more than one kept a core busy)
        self.policy = RunnerPolicy()
        self._nudge = threading.Event()  # a runner ended or failed: the supervisor acts
        self.closed = False  # the supervisor left: outcomes that come later are not handled
        self.crashed: BaseException | None = None  # a runner's own error, raised by execute()

    def execute(self) -> None:
        if not self.run.dry_run:
            self.graph.optimize()
        tasks = [task for task in self.graph._tasks.values() if not task._done_ok and task.state != TASK_FAILED]
        # What blocks a task: its dependencies and its subgraph that are still to run (done
        # and failed tasks are not members). Counted with C-level loops: a generator per
        # task was a tenth of building a large graph.
        is_member = set(tasks).__contains__
        ready = self.ready
        for task in tasks:
            deps = task._deps
            blockers = sum(map(is_member, deps)) if deps else 0
            sub = task.containing_subgraph
            if sub is not None and sub.state != TASK_STARTED and is_member(sub):
                blockers += 1
            task._blockers = blockers
            if task.is_subgraph:
                task._open_children = sum(map(is_member, task.tasks.values()))
            if blockers == 0:
                ready.append(task)
        run = self.run
        # Kept out of the collector's walks until it has run (engine/collector.py); a nested
        # graph's end hands the outer one back too, which is then only walked again.
        collector.set_aside()
        try:
            self._supervise()
        finally:
            collector.release()
            with self.mutex:
                self.closed = True
        if self.crashed is not None:
            raise self.crashed
        run.flush_graph_state()
        if self.errors:
            raise graph_failure(self.errors)
        if run.cancel_requested():
            raise ExecutionCancelled()
        stuck = [task for task in tasks if not task._done_ok and not task._dropped and task.state != TASK_FAILED]
        if stuck:
            # Nothing failed, nothing is running, yet tasks never became ready: only a
            # dependency cycle does that.
            raise RuntimeError(f"The task graph has a dependency cycle: {_cycle_text(stuck)}")
        # Everything ran: the graph can be filled and executed again (reinstall does).
        self.graph.clear()

    def _supervise(self) -> None:
        """The caller's part. It takes the mutex only to act — a runner ended or failed,
        a retry is due, more runners are wanted, a cancel or wait_after_fail's end — and
        looks at the rest without it: a look that took the mutex every few milliseconds
        made the busy runner wait for it each time (a fifth of a no-op install)."""
        run = self.run
        window = CpuWindow()
        flushed = window.wall
        pause = GROW_AFTER  # between looks while tasks wait; longer while the runners are busy
        act = True
        while True:
            cancelled = run.cancel_requested()
            if act or cancelled:
                with self.mutex:
                    if self._decide_locked():
                        return
            timeout = 0.2
            act = False
            if self.ready and not cancelled and self.limit > 1:  # one runner at most: nothing to judge
                due = max(pause, self.policy.grow_after)  # a window at least as long as a join needs
                if window.elapsed() >= due:
                    pause = GROW_AFTER if self._adjust_runners(window) else min(pause * 2, 8 * GROW_AFTER)
                timeout = due
            else:
                window.restart()
                pause = GROW_AFTER
                self.policy.idle()
            wall_now = time.monotonic()
            if wall_now - flushed >= 0.1:
                flushed = wall_now
                run.emitter.maybe_flush()  # readers see a long-running task within ~0.2 s
                run.graph_state.maybe_flush()  # and its progress within FLUSH_INTERVAL
            if self.delayed:
                due = self.delayed[0][0] - clock.monotonic()
                act = due <= 0
                timeout = min(timeout, due)
            if self.first_error_at is not None:
                left = self.first_error_at + run.wait_after_fail - clock.monotonic()
                act = act or left <= 0
                timeout = min(timeout, left)
            if not act and self._nudge.wait(max(0.0, timeout)):
                self._nudge.clear()
                act = True

    def _adjust_runners(self, window: CpuWindow) -> bool:
        """Act on the policy's verdict on the window; True when a runner joined (or one
        asked to leave stays): judge again soon."""
        share, seconds = window.share()
        verdict = self.policy.judge(share, seconds, self.runners - self.leaving)
        if verdict == RunnerPolicy.GROW:
            with self.mutex:
                if not (self.ready and self.runners - self.leaving < self.limit and not self.closed):
                    return False  # nothing waits any more, the pool is full, or the graph ended
                if self.leaving:
                    self.leaving -= 1  # one asked to leave stays instead
                else:
                    self._add_runner()
            return True
        if verdict == RunnerPolicy.LEAVE:
            with self.mutex:
                if self.runners - self.leaving > 1:
                    self.leaving += 1
        return False

    def _decide_locked(self) -> bool:
        """What the supervisor does with the mutex held; True when the graph is over."""
        run = self.run
        if self.crashed is not None:
            return True
        if run.cancel_requested():
            return not self.runners  # over once each runner ended its running operation
        if self.delayed:
            now = clock.monotonic()
            while self.delayed and self.delayed[0][0] <= now:
                self.ready.append(heapq.heappop(self.delayed)[2])
        if self.ready and not self.runners:
            self._add_runner()
        if not self.runners and not self.delayed:
            return True  # everything ran, or what is left waits for a failed task
        return self.first_error_at is not None and clock.monotonic() - self.first_error_at > run.wait_after_fail

    def _add_runner(self) -> None:
        # A raw thread, not threading.Thread.start(), which blocks until the new thread has
        # run; like a daemon it does not keep the process alive (an abandoned operation).
        self.runners += 1
        _thread.start_new_thread(self._runner, ())

    def _runner(self) -> None:
        with self.mutex:
            try:
                while not self.closed and not self.run.cancel_requested():
                    if self.leaving and self.runners > 1:
                        self.leaving -= 1
                        break
                    task = self.ready.popleft() if self.ready else None
                    if task is None:
                        break
                    self._start(task)
            except BaseException as exc:  # noqa: BLE001 - the engine's own error ends the graph
                if self.crashed is None:
                    self.crashed = exc
            finally:
                self.runners -= 1
                # Runners also leave when nothing is ready: never ask more to leave than
                # would keep one.
                self.leaving = min(self.leaving, max(0, self.runners - 1))
                self._nudge.set()

    # -- starting ---------------------------------------------------------------------
    def _start(self, task: WorkflowTask) -> None:
        if task._dropped:
            return
        if task.is_operation() and self.run.already_succeeded(task):
            move(task, TASK_SUCCEEDED)
            self._succeeded(task)
            return
        if task.is_subgraph:
            if task._open_children == 0:
                move(task, TASK_SUCCEEDED)
                task._emit_started()
                task._emit_succeeded()
                self._succeeded(task)
                return
            move(task, TASK_STARTED)
            task._emit_started()
            for child in list(task.tasks.values()):
                if child._done_ok or child.state == TASK_FAILED:
                    continue
                child._blockers -= 1
                if child._blockers == 0:
                    self.ready.append(child)
            return
        if task.runs_inline:
            if type(task) is BuiltinTask and task.on_success is None:
                # Fast path for the many state/event tasks: no handler, no events on success.
                try:
                    task.result = task._fn()
                except Exception as exc:  # noqa: BLE001 - classified by the normal path
                    self._handle(task, False, exc, traceback.format_exc())
                    return
                move(task, TASK_SUCCEEDED)
                self._succeeded(task)
                return
            ok, payload, tb = task._attempt()
            self._handle(task, ok, payload, tb)
            return
        # An operation: run here, with the mutex free for the other runners meanwhile.
        self.mutex.release()
        try:
            try:
                ok, payload, tb = task._attempt()
            except BaseException as exc:  # noqa: BLE001 - never lose an outcome
                if _stops_the_run(exc):
                    raise
                ok, payload, tb = False, exc, traceback.format_exc()
        finally:
            self.mutex.acquire()
        if self.closed:
            return  # the supervisor left (wait_after_fail): this outcome is not handled
        self._handle(task, ok, payload, tb)

    # -- outcomes -------------------------------------------------------------------
    def _handle(self, task: WorkflowTask, ok: bool, payload: Any, tb: str | None) -> None:
        decision = task._finish_attempt(ok, payload, tb)
        self.run.task_ended(task, retrying=decision.action == HandlerResult.HANDLER_RETRY)
        sub = task.containing_subgraph
        if sub is not None and sub.state in (TASK_FAILED, TASK_SUCCEEDED):
            return  # its subgraph already failed and dropped the rest
        action = decision.action
        if action == HandlerResult.HANDLER_RETRY:
            if self.run.cancel_requested():
                return
            task._prepare_retry(decision)
            heapq.heappush(self.delayed, (task.execute_after, next(self._seq), task))
        elif action in (HandlerResult.HANDLER_CONTINUE, HandlerResult.HANDLER_IGNORE):
            self._succeeded(task)
        else:
            self._failed(task, task)

    def _succeeded(self, task: WorkflowTask) -> None:
        task._done_ok = True
        for dependent in task._dependents:
            dependent._blockers -= 1
            if dependent._blockers == 0 and not dependent._dropped:
                self.ready.appendleft(dependent)
        sub = task.containing_subgraph
        if sub is not None and sub.state == TASK_STARTED:
            sub._open_children -= 1
            if sub._open_children == 0:
                move(sub, TASK_SUCCEEDED)
                sub._emit_succeeded()
                self._succeeded(sub)

    def _failed(self, task: WorkflowTask, origin: WorkflowTask) -> None:
        sub = task.containing_subgraph
        if sub is not None and sub.state == TASK_STARTED:
            sub.failed_task = origin
            self._drop_children(sub)
            exc = origin.error if origin.error is not None else RuntimeError(f"task {origin.name} failed")
            causes = origin.error_causes or [error_cause(exc)]
            sub.error = exc
            sub.error_causes = causes
            move(sub, TASK_FAILED)
            sub._emit_failure(exc, causes)
            decision = sub._decide_failure(exc) if sub.on_failure is not None else HandlerResult.fail()
            if decision.action == HandlerResult.HANDLER_IGNORE:
                sub.ignored = True
                self._succeeded(sub)
            else:
                self._failed(sub, origin)
            return
        if origin not in self.errors:
            self.errors.append(origin)
        if self.first_error_at is None:
            self.first_error_at = clock.monotonic()
            self._nudge.set()  # the supervisor's wait_after_fail starts now

    def _drop_children(self, sub: SubgraphTask) -> None:
        for child in sub.tasks.values():
            if child.state in (TASK_PENDING,) or child.is_subgraph:
                child._dropped = True
                if child.is_subgraph and child.state == TASK_STARTED:
                    move(child, TASK_FAILED)
                    self._drop_children(child)
        self.delayed = [entry for entry in self.delayed if not entry[2]._dropped]
        heapq.heapify(self.delayed)


def graph_failure(errors: list[WorkflowTask]) -> GraphFailed:
    lines = []
    causes: list = []
    tracebacks = []
    for task in errors:
        exc = task.error
        cause_text = f"{type(exc).__name__} `{exc}`" if exc is not None else ""
        lines.append(f"{task.short_description}: {cause_text}")
        for cause in task.error_causes or []:
            causes.append(cause)
            if cause.get("traceback"):
                tracebacks.append(f"Traceback of {task.name} (most recent call last):\n{cause['traceback']}")
    if len(lines) == 1:
        message = f"Task failed: {lines[0]}"
    else:
        message = f"{len(lines)} operation errors:\n" + "\n".join(lines)
    return GraphFailed(message, causes, "\n".join(tracebacks))
