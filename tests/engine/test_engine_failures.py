"""Retries, failures, cancel, resume and bad input."""
from __future__ import annotations

import json
import os



class FileCancel:
    """A cancel flag an operation raises by creating a file (as the worker's CancelFlag)."""

    def __init__(self, path: str):
        self.path = path

    def is_set(self) -> bool:
        return os.path.exists(self.path)

OPS = """
import os
import threading
import time

from cloudify import ctx
from cloudify.exceptions import NonRecoverableError, OperationRetry, RecoverableError

_lock = threading.Lock()
_running = [0, 0]   # now, peak


def _count(name):
    props = ctx.instance.runtime_properties
    props[name] = props.get(name, 0) + 1
    return props[name]


def flaky(**kwargs):
    if _count('flaky') < 3:
        raise ValueError('not yet %d' % ctx.operation.retry_number)
    return 'ok'


def recoverable(**kwargs):
    if _count('recoverable') < 2:
        raise RecoverableError('later', retry_after=0)


def ask_retry(**kwargs):
    _count('ask_retry')
    return ctx.operation.retry('waiting for it', retry_after=0)


def fatal(**kwargs):
    _count('fatal')
    raise NonRecoverableError('broken for good')


def count(**kwargs):
    _count('count')


def gate(marker=None, **kwargs):
    _count('gate')
    if not os.path.exists(marker):
        raise NonRecoverableError('gate closed')


def cancel_here(flag=None, **kwargs):
    _count('cancel_here')
    open(flag, 'w').close()


def busy(**kwargs):
    with _lock:
        _running[0] += 1
        _running[1] = max(_running[1], _running[0])
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:
        time.sleep(0.005)
    with _lock:
        _running[0] -= 1
    ctx.instance.runtime_properties['peak'] = _running[1]


_arrived = threading.Condition()
_count_arrived = [0]


def rendezvous(n=0, **kwargs):
    # Returns only once n operations are inside it at the same time (or fails after 20 s).
    with _arrived:
        _count_arrived[0] += 1
        _arrived.notify_all()
        if not _arrived.wait_for(lambda: _count_arrived[0] >= n, timeout=20):
            raise NonRecoverableError(f"only {_count_arrived[0]} of {n} operations ran at once")
"""


def task_failures(outcome):
    return [t for t in outcome.texts("task_failed") if t.startswith("Task failed")]


def _node(name, op, create="count", extra=""):
    return f"""
  {name}:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: p.PKG.ops.{create}
{extra}        start: p.PKG.ops.{op}
"""


def test_unclassified_exception_is_retried_with_retry_suffix(env):
    env.deploy("node_templates:" + _node("a", "flaky"), OPS)
    outcome = env.run("install", retries=3)
    assert outcome.error is None, outcome.error
    name = f"{env.pkg}.ops.flaky"
    failed = task_failures(outcome)
    assert failed == [f"Task failed '{name}' -> not yet 0", f"Task failed '{name}' -> not yet 1 [retry 1/3]"]
    assert f"Task started '{name}' [retry 2/3]" in outcome.texts("task_started")
    assert f"Task succeeded '{name}' - ok [retry 2/3]" in outcome.texts("task_succeeded")
    causes = [e["context"]["task_error_causes"] for e in outcome.events if e.get("event_type") == "task_failed"]
    assert causes[0][-1]["type"] == "ValueError" and "Traceback" in causes[0][-1]["traceback"]
    assert env.by_node("a")[0]["runtime_properties"]["flaky"] == 3


def test_retries_exhausted_fail_the_workflow(env):
    env.deploy("node_templates:" + _node("a", "flaky"), OPS)
    outcome = env.run("install", retries=1)
    assert outcome.error.startswith(f"Task failed: {env.pkg}.ops.flaky (")
    assert "ValueError `not yet 1`" in outcome.error
    assert outcome.texts()[-1].startswith("'install' workflow execution failed: Task failed")
    assert env.by_node("a")[0]["state"] == "starting"


def test_operation_max_retries_overrides_default(env):
    body = """
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        start:
          implementation: p.PKG.ops.flaky
          max_retries: 0
"""
    env.deploy(body, OPS)
    outcome = env.run("install", retries=5)
    assert outcome.error is not None
    assert len(task_failures(outcome)) == 1


def test_recoverable_error_retry_after_and_message(env):
    env.deploy("node_templates:" + _node("a", "recoverable"), OPS)
    outcome = env.run("install", retries=2, interval=30)  # retry_after=0 beats the 30 s interval
    assert outcome.error is None
    assert task_failures(outcome) == [f"Task failed '{env.pkg}.ops.recoverable' -> later [retry_after=0]"]


def test_operation_retry_counts_against_max_retries(env):
    env.deploy("node_templates:" + _node("a", "ask_retry"), OPS)
    outcome = env.run("install", retries=1)
    name = f"{env.pkg}.ops.ask_retry"
    assert outcome.texts("task_rescheduled") == [f"Task rescheduled '{name}' -> waiting for it [retry_after=0]",
                                                 f"Task rescheduled '{name}' -> waiting for it [retry_after=0] [retry 1/1]"]
    assert outcome.error is not None
    assert env.by_node("a")[0]["runtime_properties"]["ask_retry"] == 2


def test_non_recoverable_fails_at_once_and_blocks_only_dependents(env):
    body = "node_templates:" + _node("bad", "fatal") + _node("free", "count") + """
  child:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.count
    relationships:
      - type: cloudify.relationships.depends_on
        target: bad
"""
    env.deploy(body, OPS)
    outcome = env.run("install", retries=5)
    assert task_failures(outcome) == [f"Task failed '{env.pkg}.ops.fatal' -> broken for good"]
    assert "NonRecoverableError `broken for good`" in outcome.error
    assert "Traceback" in outcome.error
    assert env.by_node("bad")[0]["runtime_properties"]["fatal"] == 1
    assert env.by_node("free")[0]["state"] == "started"        # independent branch finished
    assert env.by_node("child")[0]["state"] == "uninitialized"  # dependent never started
    failed_event = outcome.events[-1]
    assert failed_event["event_type"] == "workflow_failed"
    assert failed_event["context"]["task_error_causes"]


def test_cancel_is_seen_between_tasks(env, tmp_path):
    flag = str(tmp_path / "cancel-flag")
    body = f"""
node_templates:
  first:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: p.PKG.ops.cancel_here
          inputs: {{flag: {json.dumps(flag)}}}
        start: p.PKG.ops.count
  second:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.count
    relationships:
      - type: cloudify.relationships.depends_on
        target: first
"""
    env.deploy(body, OPS)
    outcome = env.run("install", cancel=FileCancel(flag))
    assert outcome.cancelled
    assert outcome.texts()[-1] == "'install' workflow execution cancelled"
    assert env.by_node("first")[0]["runtime_properties"] == {"cancel_here": 1}
    assert env.by_node("second")[0]["runtime_properties"] == {}


def test_resume_skips_operations_that_succeeded(env, tmp_path):
    marker = str(tmp_path / "open")
    body = f"""
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.count
        configure:
          implementation: p.PKG.ops.gate
          inputs: {{marker: {json.dumps(marker)}}}
        start: p.PKG.ops.count
"""
    env.deploy(body, OPS)
    first = env.run("install")
    assert first.error is not None
    graph = json.loads(open(env.home.graph_file(first.execution_id)).read())
    states = sorted(op["state"] for op in graph["operations"].values())
    assert states == ["failed", "pending", "succeeded"]
    assert (graph["total_operations"], graph["finished_operations"]) == (3, 2)
    from cfy_local.engine.graphstate import progress
    assert progress(env.home, first.execution_id) == (3, 2)
    open(marker, "w").close()
    second = env.run("install", execution_id=first.execution_id, resume=True)
    assert second.error is None, second.error
    assert second.texts()[0] == "Resuming 'install' workflow execution"
    props = env.by_node("a")[0]["runtime_properties"]
    assert props["count"] == 2   # create once (first run, skipped on resume) + start once
    assert props["gate"] == 2
    assert env.by_node("a")[0]["state"] == "started"
    assert progress(env.home, first.execution_id) == (3, 3)


def test_missing_function_and_module_fail_with_clear_errors(env):
    body = """
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.nowhere
  b:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.missing_module.run
"""
    env.deploy(body, OPS)
    outcome = env.run("install", retries=3)
    assert f"{env.pkg}.ops has no function named 'nowhere'" in outcome.error
    assert f"No module named {env.pkg}.missing_module" in outcome.error
    assert outcome.error.startswith("2 operation errors:")
    assert len(task_failures(outcome)) == 2  # NonRecoverable: no retries
    assert all(i["runtime_properties"] == {} for i in env.instances().values())


def _eight_creating(create: str) -> str:
    """A node of eight instances whose ``create`` is ``create`` (YAML at the operation's
    indentation)."""
    return """
node_templates:
  a:
    type: cloudify.nodes.Root
    capabilities:
      scalable:
        properties:
          default_instances: 8
    interfaces:
      cloudify.interfaces.lifecycle:
        create: """ + create + "\n"


def test_thread_pool_bounds_parallel_operations(env):
    env.deploy(_eight_creating("p.PKG.ops.busy"), OPS)
    outcome = env.run("install", pool=3)
    assert outcome.error is None
    peaks = [i["runtime_properties"]["peak"] for i in env.instances().values()]
    assert max(peaks) <= 3
    assert max(peaks) >= 2  # they did run in parallel


def test_operations_that_wait_get_the_whole_pool(env):
    # The pool starts threads as operations block, not all at once: eight operations that
    # each wait until all eight are running must still all run together.
    env.deploy(_eight_creating("{implementation: p.PKG.ops.rendezvous, inputs: {n: 8}}"), OPS)
    outcome = env.run("install", pool=8)
    assert outcome.error is None, outcome.error


def test_version_conflict_is_detected(env):
    from cfy_local.engine.storage import DeploymentStorage, StorageConflictError

    env.deploy("node_templates:" + _node("a", "count"), OPS)
    storage = DeploymentStorage(env.home, "dep")
    instance = env.by_node("a")[0]
    storage.update_instance(instance["id"], expected_version=instance["version"], runtime_properties={"x": 1})
    try:
        storage.update_instance(instance["id"], expected_version=instance["version"], runtime_properties={"x": 2})
    except StorageConflictError as exc:
        assert "was changed by another operation" in str(exc)
    else:
        raise AssertionError("a stale write was accepted")
    merged = storage.update_instance(instance["id"], expected_version=instance["version"],
                                     runtime_properties={"y": 2}, on_conflict=lambda mine, fresh: {**fresh, **mine})
    assert merged["runtime_properties"] == {"x": 1, "y": 2}
    assert os.path.exists(env.home.node_instance_file("dep", instance["id"]))


def test_missing_plugin_code_fails_clearly(env):
    import shutil

    env.deploy("node_templates:" + _node("a", "count"), OPS)
    shutil.rmtree(env.home.blueprint_resources("bp-dep") + "/plugin")
    outcome = env.run("install", retries=3)
    assert "Plugin `p`: source folder `plugin` does not exist in the blueprint folder" in outcome.error
    assert len(task_failures(outcome)) == 1
    assert env.by_node("a")[0]["runtime_properties"] == {}
