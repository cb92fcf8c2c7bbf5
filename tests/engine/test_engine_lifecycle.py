"""install / uninstall / reinstall / execute_operation / start / stop through run_workflow."""
from __future__ import annotations

from cfy_local.deployments import api

OPS = """
from cloudify import ctx
from cloudify.decorators import operation


@operation
def record(**kwargs):
    ctx.instance.runtime_properties[ctx.operation.name.rsplit('.', 1)[-1]] = True
    ctx.instance.runtime_properties['address'] = 'addr-' + ctx.instance.id


def rel(**kwargs):
    side = ctx.operation.relationship
    mine, other = (ctx.source, ctx.target) if side == 'source' else (ctx.target, ctx.source)
    mine.instance.runtime_properties[side + '_' + ctx.operation.name.rsplit('.', 1)[-1]] = other.instance.id


def noop(**kwargs):
    return None


def fail(**kwargs):
    raise RuntimeError('stop failed on ' + ctx.instance.id)
"""

LIFECYCLE = """
      cloudify.interfaces.lifecycle:
        precreate: p.PKG.ops.record
        create: p.PKG.ops.record
        configure: p.PKG.ops.record
        start: p.PKG.ops.record
        poststart: p.PKG.ops.record
        prestop: p.PKG.ops.record
        stop: p.PKG.ops.record
        delete: p.PKG.ops.record
        postdelete: p.PKG.ops.record
"""

BLUEPRINT = """
node_templates:
  host:
    type: cloudify.nodes.Compute
    properties:
      agent_config: {install_method: none}
    interfaces:
""" + LIFECYCLE + """
  db:
    type: cloudify.nodes.Root
    interfaces:
""" + LIFECYCLE + """
    relationships:
      - type: cloudify.relationships.contained_in
        target: host
  app:
    type: cloudify.nodes.Root
    interfaces:
""" + LIFECYCLE + """
    relationships:
      - type: cloudify.relationships.contained_in
        target: host
      - type: cloudify.relationships.connected_to
        target: db
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            preconfigure: p.PKG.ops.rel
            establish: p.PKG.ops.rel
            unlink: p.PKG.ops.rel
        target_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish: p.PKG.ops.rel
outputs:
  app_address:
    value: { get_attribute: [app, address] }
"""

INSTALL_ORDER = ["precreate", "create", "configure", "start", "poststart"]


def _ops_of(outcome, instance_id):
    return [op.rsplit(".", 1)[-1] for who, op in outcome.ops_started() if who == instance_id]


def test_install_runs_lifecycle_in_order_targets_first_and_persists_state(env):
    env.deploy(BLUEPRINT, OPS)
    outcome = env.run("install")
    assert outcome.error is None, outcome.error
    host, db, app = env.by_node("host")[0], env.by_node("db")[0], env.by_node("app")[0]
    for inst in (host, db, app):
        assert _ops_of(outcome, inst["id"]) == INSTALL_ORDER
        assert inst["state"] == "started"
        assert inst["runtime_properties"]["poststart"] is True
    order = [who for who, _ in outcome.ops_started()]
    # contained_in and connected_to targets are started before their sources begin
    assert max(i for i, w in enumerate(order) if w == host["id"]) < min(i for i, w in enumerate(order) if w == db["id"])
    assert max(i for i, w in enumerate(order) if w == db["id"]) < min(i for i, w in enumerate(order) if w == app["id"])
    # relationship operations: preconfigure (source side only) then establish on both sides
    rel_ops = [op.rsplit(".", 1)[-1] for who, op in outcome.ops_started() if "->" in who]
    assert rel_ops[0] == "preconfigure" and sorted(rel_ops[1:]) == ["establish", "establish"]
    assert app["runtime_properties"]["source_establish"] == db["id"]
    assert db["runtime_properties"]["target_establish"] == app["id"]
    texts = outcome.texts()
    assert texts[0] == "Starting 'install' workflow execution"
    assert texts[-1] == "'install' workflow execution succeeded"
    assert f"Subgraph started 'install_{app['id']}'" in texts
    for text in ("Creating node instance", "Node instance created", "Configuring node instance",
                 "Node instance configured", "Starting node instance", "Node instance started",
                 "Pre-configuring relationships", "Relationships established"):
        assert text in texts
    assert "Task started 'PKG.ops.record'".replace("PKG", env.pkg) in texts
    sending = outcome.texts("sending_task")
    assert len(sending) == 15 + 3  # 5 ops x 3 instances + 3 relationship operations
    # outputs read live runtime properties
    assert api.evaluate_outputs(env.home, "dep")["app_address"]["value"] == "addr-" + app["id"]


def test_a_run_hands_every_object_back_to_the_cyclic_collector(env):
    # A run sets what it keeps aside from the collector (gc.freeze: the ctx's snapshot, the
    # graph once built; engine/collector.py); nothing may stay set aside after a run, whether
    # it succeeded, failed or ran no graph (a long-lived process would never collect it).
    import gc

    code = OPS + "\n\ndef look(ctx, **kwargs):\n    return len(list(ctx.node_instances))\n"
    env.deploy(BLUEPRINT + "workflows:\n  look: p.PKG.ops.look\n", code)
    before = gc.get_freeze_count()
    assert env.run("install").error is None
    assert gc.get_freeze_count() == before == 0
    outcome = env.run("look")  # no graph: only the snapshot was set aside
    assert outcome.error is None and outcome.result == 3
    assert gc.get_freeze_count() == 0
    env.deploy(BLUEPRINT.replace("stop: p.PKG.ops.record", "stop: p.PKG.ops.fail"), code, dep="failing")
    assert env.run("install", dep="failing").error is None
    assert "stop failed" in (env.run("uninstall", dep="failing").error or "")
    assert gc.get_freeze_count() == 0


def test_state_transitions_are_written(env):
    env.deploy(BLUEPRINT, OPS)
    env.run("install")
    states = [i["state"] for i in env.instances().values()]
    assert states == ["started"] * 3
    version_after_install = env.by_node("host")[0]["version"]
    assert version_after_install > 1
    again = env.run("install")
    assert again.error is None
    assert "Node instance started (nothing to do)" in again.texts()
    assert again.ops_started() == []


def test_uninstall_reverse_order_keeps_runtime_properties(env):
    env.deploy(BLUEPRINT, OPS)
    env.run("install")
    outcome = env.run("uninstall")
    assert outcome.error is None, outcome.error
    host, db, app = env.by_node("host")[0], env.by_node("db")[0], env.by_node("app")[0]
    for inst in (host, db, app):
        assert _ops_of(outcome, inst["id"]) == ["prestop", "stop", "delete", "postdelete"]
        assert inst["state"] == "deleted"
        assert inst["runtime_properties"]["create"] is True  # not cleared by uninstall
    order = [who for who, _ in outcome.ops_started()]
    assert max(i for i, w in enumerate(order) if w == app["id"]) < min(i for i, w in enumerate(order) if w == db["id"])
    assert max(i for i, w in enumerate(order) if w == db["id"]) < min(i for i, w in enumerate(order) if w == host["id"])
    assert "Stopping node instance" in outcome.texts() and "Deleted node instance" in outcome.texts()
    assert "Unlinking relationships" in outcome.texts()


def test_uninstall_of_never_installed_instances(env):
    env.deploy(BLUEPRINT, OPS)
    outcome = env.run("uninstall")
    assert outcome.error is None
    assert outcome.ops_started() == []
    assert "Stop: instance already uninitialized" in outcome.texts()
    assert "Delete: instance already uninitialized" in outcome.texts()
    assert {i["state"] for i in env.instances().values()} == {"deleted"}


def test_uninstall_ignore_failure_goes_on(env):
    body = """
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        stop: p.PKG.ops.fail
        delete: p.PKG.ops.record
"""
    env.deploy(body, OPS)
    env.run("install")
    failing = env.run("uninstall", retries=0)
    assert failing.error is not None and "stop failed on" in failing.error
    assert env.by_node("a")[0]["state"] == "stopping"
    outcome = env.run("uninstall", {"ignore_failure": True}, retries=3)
    assert outcome.error is None, outcome.error
    assert f"Ignoring task {env.pkg}.ops.fail failure" in outcome.texts()
    # the handler replaces the default one: no retries of the failing stop
    assert len([t for t in outcome.texts("task_failed") if "stop failed" in t]) == 1
    assert env.by_node("a")[0]["state"] == "deleted"


def test_execute_operation_with_kwargs_and_filters(env):
    env.deploy(BLUEPRINT, OPS)
    outcome = env.run("execute_operation", {"operation": "cloudify.interfaces.lifecycle.configure",
                                            "node_ids": ["db"], "operation_kwargs": {"x": 1}})
    assert outcome.error is None, outcome.error
    db = env.by_node("db")[0]
    assert outcome.ops_started() == [(db["id"], "cloudify.interfaces.lifecycle.configure")]
    assert "Starting operation cloudify.interfaces.lifecycle.configure (Operation parameters: {'x': 1})" in outcome.texts()
    assert "Finished operation cloudify.interfaces.lifecycle.configure" in outcome.texts()
    assert db["state"] == "uninitialized"  # execute_operation never changes states


def test_execute_operation_duplicate_kwarg_fails_before_running(env):
    body = """
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: p.PKG.ops.record
          inputs:
            x: 1
"""
    env.deploy(body, OPS)
    outcome = env.run("execute_operation", {"operation": "cloudify.interfaces.lifecycle.create",
                                            "operation_kwargs": {"x": 2}})
    assert outcome.error.startswith("Duplicate definition of x in operation properties and in kwargs")
    assert outcome.ops_started() == []
    ok = env.run("execute_operation", {"operation": "cloudify.interfaces.lifecycle.create",
                                       "operation_kwargs": {"x": 2}, "allow_kwargs_override": True})
    assert ok.error is None


def test_stop_orders_like_start_and_restart_runs_both(env):
    env.deploy(BLUEPRINT, OPS)
    outcome = env.run("stop")
    assert outcome.error is None
    host, db, app = env.by_node("host")[0], env.by_node("db")[0], env.by_node("app")[0]
    assert [who for who, _ in outcome.ops_started()] == [host["id"], db["id"], app["id"]]
    restart = env.run("restart")
    assert [op.rsplit(".", 1)[-1] for _, op in restart.ops_started()] == ["stop"] * 3 + ["start"] * 3


def test_reinstall_uninstalls_then_installs(env):
    env.deploy(BLUEPRINT, OPS)
    env.run("install")
    outcome = env.run("reinstall", {"node_ids": ["app"]})
    assert outcome.error is None, outcome.error
    app = env.by_node("app")[0]
    assert _ops_of(outcome, app["id"]) == ["prestop", "stop", "delete", "postdelete"] + INSTALL_ORDER
    assert app["state"] == "started"
    assert _ops_of(outcome, env.by_node("db")[0]["id"]) == []
    rel = [op.rsplit(".", 1)[-1] for who, op in outcome.ops_started() if "->" in who]
    assert rel[0] == "unlink" and "establish" in rel


def test_dry_run_runs_nothing(env):
    env.deploy(BLUEPRINT, OPS)
    outcome = env.run("install", dry_run=True)
    assert outcome.error is None
    assert outcome.texts()[0] == "Starting 'install' workflow execution (dry run)"
    assert outcome.texts()[-1] == "'install' workflow execution succeeded (dry run)"
    started = outcome.texts("task_started")
    assert any(t == f"Task started '{env.pkg}.ops.record' (dry run)" for t in started)
    for inst in env.instances().values():
        assert inst["state"] == "uninitialized" and inst["runtime_properties"] == {}


MANY_NOOP = """
node_templates:
  thing:
    type: cloudify.nodes.Root
    capabilities:
      scalable:
        properties:
          default_instances: 40
"""


def test_instance_states_are_one_file_per_deployment(env):
    """State changes of a whole workflow go to the deployment's states file: installing and
    uninstalling instances with nothing to run never rewrites an instance's own file."""
    import json
    import os

    env.deploy(MANY_NOOP)
    folder = env.home.node_instances_dir("dep")
    inodes = {name: os.stat(os.path.join(folder, name)).st_ino for name in os.listdir(folder)}
    assert len(inodes) == 40
    for workflow, state in (("install", "started"), ("uninstall", "deleted")):
        outcome = env.run(workflow)
        assert outcome.error is None, outcome.error
        with open(env.home.instance_states_file("dep")) as fh:
            recorded = json.load(fh)["states"]
        assert recorded == {name[:-5]: state for name in inodes}
        assert {i["state"] for i in env.instances().values()} == {state}
        assert {name: os.stat(os.path.join(folder, name)).st_ino for name in os.listdir(folder)} == inodes
