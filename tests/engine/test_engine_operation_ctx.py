"""The operation ctx: inputs with runtime functions, resources, properties, persistence rules."""
from __future__ import annotations

OPS = """
import os

from cloudify import ctx
from cloudify.exceptions import NonRecoverableError
from cloudify.state import ctx_parameters


def produce(**kwargs):
    ctx.instance.runtime_properties['address'] = '10.0.0.' + str(ctx.instance.index)
    ctx.instance.runtime_properties['nested'] = {'a': 1}


def consume(own=None, joined=None, **kwargs):
    props = ctx.instance.runtime_properties
    props['own'] = own
    props['joined'] = joined
    props['param_keys'] = sorted(k for k in ctx_parameters if k != 'ctx')


def link(target_address=None, **kwargs):
    ctx.source.instance.runtime_properties['linked_to'] = target_address
    try:
        ctx.instance
    except NonRecoverableError as exc:
        ctx.source.instance.runtime_properties['instance_error'] = str(exc)
    try:
        ctx.target.node.properties['x'] = 1
    except NonRecoverableError as exc:
        ctx.source.instance.runtime_properties['property_error'] = str(exc)


def resources(**kwargs):
    props = ctx.instance.runtime_properties
    props['content'] = ctx.get_resource('files/data.txt').decode()
    path = ctx.download_resource('files/data.txt')
    props['downloaded'] = open(path).read()
    os.unlink(path)
    try:
        ctx.get_resource('../../../../etc/passwd')
    except NonRecoverableError as exc:
        props['escape'] = str(exc)
    try:
        ctx.get_resource('files/missing.txt')
    except Exception as exc:
        props['missing'] = str(exc)
    ctx.logger.warning('resources checked')
    ctx.send_event('plugin says hi')


def nested_only(**kwargs):
    ctx.instance.runtime_properties['nested']['a'] = 2   # nested change: not saved (Cloudify)


def refresh_dirty(**kwargs):
    ctx.instance.runtime_properties['x'] = 1
    try:
        ctx.instance.refresh()
    except NonRecoverableError as exc:
        ctx.instance.runtime_properties['refresh_error'] = str(exc)
    ctx.instance.update()
    ctx.instance.runtime_properties['after_update'] = ctx.instance.runtime_properties['x']


def fail_after_write(**kwargs):
    ctx.instance.runtime_properties['written_before_failure'] = True
    raise NonRecoverableError('failed after writing')


def slow(gate=None, **kwargs):
    # Runs until the test opens the gate (bounded), so "still running" is a fact, not a race.
    import time
    deadline = time.monotonic() + 30
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    ctx.instance.runtime_properties['slow_done'] = True


def quick_fail(**kwargs):
    raise NonRecoverableError('quick failure')
"""

BODY = """
node_templates:
  source:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.produce
        configure:
          implementation: p.PKG.ops.consume
          inputs:
            own: { get_attribute: [SELF, address] }
            joined: { concat: ['at ', { get_attribute: [target, address] }] }
    relationships:
      - type: cloudify.relationships.connected_to
        target: target
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish:
              implementation: p.PKG.ops.link
              inputs:
                target_address: { get_attribute: [TARGET, address] }
  target:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.produce
"""


def test_runtime_functions_in_inputs_see_live_values(env):
    env.deploy(BODY, OPS)
    outcome = env.run("install")
    assert outcome.error is None, outcome.error
    source, target = env.by_node("source")[0], env.by_node("target")[0]
    props = source["runtime_properties"]
    assert props["own"] == source["runtime_properties"]["address"]
    assert props["joined"] == "at " + target["runtime_properties"]["address"]
    assert props["linked_to"] == target["runtime_properties"]["address"]
    assert props["param_keys"] == ["joined", "own"]
    assert props["instance_error"].startswith("ctx.node/ctx.instance can only be used in a node-instance context")
    assert props["property_error"] == "Cannot override read only properties"


def _single(env, op, files=None):
    body = f"""
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.produce
        configure: p.PKG.ops.{op}
"""
    env.deploy(body, OPS, files=files)
    return env.run("install")


def test_resources_and_escapes(env):
    outcome = _single(env, "resources", files={"files/data.txt": "hello resource"})
    assert outcome.error is None, outcome.error
    props = env.by_node("a")[0]["runtime_properties"]
    assert props["content"] == "hello resource" and props["downloaded"] == "hello resource"
    assert "outside the blueprint folder" in props["escape"]
    assert "Resource not found: files/missing.txt" in props["missing"]
    log = next(e for e in outcome.events if e["message"]["text"] == "resources checked")
    assert log["level"] == "warning"
    event = next(e for e in outcome.events if e["message"]["text"] == "plugin says hi")
    assert event["event_type"] == "plugin_event"


def test_nested_changes_alone_are_not_saved(env):
    _single(env, "nested_only")
    assert env.by_node("a")[0]["runtime_properties"]["nested"] == {"a": 1}


def test_refresh_of_dirty_properties_refused_and_update_flushes(env):
    outcome = _single(env, "refresh_dirty")
    assert outcome.error is None, outcome.error
    props = env.by_node("a")[0]["runtime_properties"]
    assert props["refresh_error"].startswith("runtime_properties are dirty")
    assert props["after_update"] == 1


def test_properties_saved_even_when_the_operation_fails(env):
    outcome = _single(env, "fail_after_write")
    assert outcome.error is not None
    assert env.by_node("a")[0]["runtime_properties"]["written_before_failure"] is True


def test_wait_after_fail_bounds_the_wait_for_running_tasks(env, tmp_path):
    import json
    import threading

    from cfy_local.store.event_log import read_from
    from polling import wait_for

    def body(gate):
        return f"""
node_templates:
  slow:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: p.PKG.ops.slow
          inputs: {{gate: {json.dumps(str(gate))}}}
  fast:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.quick_fail
"""

    # wait_after_fail=0: the run fails at once while `slow` is still held at its gate.
    first_gate = tmp_path / "gate1"
    env.deploy(body(first_gate), OPS)
    try:
        outcome = env.run("install", wait_after_fail=0)
        assert "quick failure" in outcome.error
        assert "slow_done" not in env.by_node("slow")[0]["runtime_properties"]
    finally:
        first_gate.write_text("open")  # let the abandoned operation end

    # wait_after_fail=600: after the failure the run waits for `slow`; open its gate only
    # once the failure is in the events, then the run ends with slow's work saved.
    second_gate = tmp_path / "gate2"
    env.deploy(body(second_gate), OPS, dep="dep2")
    result = {}
    runner = threading.Thread(target=lambda: result.update(
        outcome=env.run("install", dep="dep2", wait_after_fail=600, execution_id="waits")))
    runner.start()
    try:
        path = env.home.events_file("waits")
        wait_for(lambda: any(e.get("event_type") == "task_failed" for e in read_from(path)[0]),
                 timeout=30, message="the fast operation's failure")
        assert runner.is_alive()  # still waiting for the running operation
    finally:
        second_gate.write_text("open")
        runner.join(60)
    assert not runner.is_alive()
    assert "quick failure" in result["outcome"].error
    assert env.by_node("slow", dep="dep2")[0]["runtime_properties"].get("slow_done") is True


def test_script_operations_go_to_the_script_runner(env):
    body = """
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/set.sh
          inputs:
            greeting: hello
"""
    script = "#!/bin/sh\nctx instance runtime-properties greeting \"$greeting from script\"\n"
    env.deploy(body, OPS, files={"scripts/set.sh": script})
    outcome = env.run("install")
    assert outcome.error is None, outcome.error
    assert env.by_node("a")[0]["runtime_properties"]["greeting"] == "hello from script"
    assert "Task succeeded 'script_runner.tasks.run'" in outcome.texts()


GATED_OPS = OPS + """

def wait_for_gate(gate=None, **kwargs):
    import os, time
    ctx.logger.info('waiting at the gate')
    deadline = time.monotonic() + 30
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)
"""


def _gated_node(name: str, gate) -> str:
    import json

    return f"""
  {name}:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: p.PKG.ops.wait_for_gate
          inputs: {{gate: {json.dumps(str(gate))}}}"""


def _run_in_background(env, execution_id: str):
    import threading

    runner = threading.Thread(target=lambda: env.run("install", execution_id=execution_id))
    runner.start()
    return runner


def test_events_of_a_running_operation_are_readable_while_it_runs(env, tmp_path):
    from cfy_local.store.event_log import read_from
    from polling import wait_for

    gate = tmp_path / "gate"
    env.deploy("node_templates:" + _gated_node("a", gate) + "\n", GATED_OPS)
    execution_id = "live-events-run"
    runner = _run_in_background(env, execution_id)
    try:
        path = env.home.events_file(execution_id)
        wait_for(lambda: any(e["message"]["text"] == "waiting at the gate" for e in read_from(path)[0]),
                 timeout=20, message="the operation's log line while it still runs")
    finally:
        gate.write_text("open")
        runner.join(30)
    assert not runner.is_alive()


def test_progress_catches_up_while_a_long_operation_runs(env, tmp_path):
    """graph.json (what `executions get` and the TUI show as progress) is written by the
    graph loop while it waits, not only when an operation ends."""
    from cfy_local.engine.graphstate import progress
    from polling import wait_for

    gate = tmp_path / "gate"
    quick = "".join(f"""
  quick{i}:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.produce""" for i in range(5))
    env.deploy("node_templates:" + quick + _gated_node("slow", gate) + "\n", GATED_OPS)
    execution_id = "progress-run"
    runner = _run_in_background(env, execution_id)
    try:
        # Five quick creates end at once (the first write may come after only one of them);
        # the count must reach five while `slow` still holds the run.
        wait_for(lambda: progress(env.home, execution_id) == (6, 5), timeout=20,
                 message="progress to show the five finished operations")
        assert runner.is_alive()
    finally:
        gate.write_text("open")
        runner.join(30)
    assert progress(env.home, execution_id) == (6, 6)
