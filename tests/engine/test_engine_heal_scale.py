"""heal, scale and check_status."""
from __future__ import annotations

import json

OPS = """
from cloudify import ctx


def count(**kwargs):
    props = ctx.instance.runtime_properties
    key = ctx.operation.name.rsplit('.', 1)[-1]
    props[key] = props.get(key, 0) + 1


def healthy(**kwargs):
    if ctx.node.properties.get('broken'):
        raise RuntimeError('unhealthy ' + ctx.instance.id)
    return 'fine'
"""

LIFECYCLE = """
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.count
        start: p.PKG.ops.count
        stop: p.PKG.ops.count
        delete: p.PKG.ops.count
"""

BODY = """
node_types:
  test.Checked:
    derived_from: cloudify.nodes.Root
    properties:
      broken:
        default: false
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties:
      agent_config: {install_method: none}
    interfaces:
""" + LIFECYCLE + """
  app:
    type: test.Checked
    interfaces:
""" + LIFECYCLE + """
      cloudify.interfaces.validation:
        check_status: p.PKG.ops.healthy
    relationships:
      - type: cloudify.relationships.contained_in
        target: vm
  other:
    type: test.Checked
    properties:
      broken: true
    interfaces:
""" + LIFECYCLE + """
      cloudify.interfaces.validation:
        check_status: p.PKG.ops.healthy
"""


def test_heal_reinstalls_the_host_subgraph_only(env):
    env.deploy(BODY, OPS)
    assert env.run("install").error is None
    app = env.by_node("app")[0]
    outcome = env.run("heal", {"node_instance_id": app["id"]})
    assert outcome.error is None, outcome.error
    vm, app, other = env.by_node("vm")[0], env.by_node("app")[0], env.by_node("other")[0]
    for inst in (vm, app):
        assert inst["state"] == "started"
        assert inst["runtime_properties"]["create"] == 2 and inst["runtime_properties"]["delete"] == 1
    assert other["runtime_properties"]["create"] == 1 and "delete" not in other["runtime_properties"]
    assert f"Starting 'heal' workflow on {app['id']}, Diagnosis: Not provided" in outcome.texts()
    # the real check_status of app said ok, but vm has none: the host's subgraph is reinstalled
    assert app["system_properties"]["status"]["ok"] is True


def test_heal_unknown_instance(env):
    env.deploy(BODY, OPS)
    outcome = env.run("heal", {"node_instance_id": "nope_123456"})
    assert "No node instance with id `nope_123456` was found" in outcome.error


def test_check_status_records_results_and_fails_on_unhealthy(env):
    env.deploy(BODY, OPS)
    env.run("install")
    outcome = env.run("check_status", retries=5)
    other = env.by_node("other")[0]
    assert outcome.error is not None and other["id"] in outcome.error
    assert other["system_properties"]["status"]["ok"] is False
    assert env.by_node("app")[0]["system_properties"]["status"]["ok"] is True
    # not retried despite task_retries=5
    assert len([t for t in outcome.texts("task_failed") if t.startswith("Task failed")]) == 1


def test_scale_out_and_in(env):
    env.deploy(BODY, OPS)
    env.run("install")
    before = set(i["id"] for i in env.by_node("app"))
    outcome = env.run("scale", {"scalable_entity_name": "app", "delta": 2})
    assert outcome.error is None, outcome.error
    apps = env.by_node("app")
    added = [i for i in apps if i["id"] not in before]
    assert len(apps) == 3 and len(added) == 2
    assert all(i["state"] == "started" and i["runtime_properties"]["create"] == 1 for i in added)
    assert env.by_node("vm")[0]["runtime_properties"]["create"] == 1  # untouched
    started = {who for who, _ in outcome.ops_started()}
    assert started == {i["id"] for i in added}
    down = env.run("scale", {"scalable_entity_name": "app", "delta": -2})
    assert down.error is None, down.error
    remaining = env.by_node("app")
    assert len(remaining) == 1
    # the removed instances left the deployment's states file with their own files
    with open(env.home.instance_states_file("dep")) as fh:
        assert set(json.load(fh)["states"]) == set(env.instances())
    assert {who for who, op in down.ops_started()} <= {i["id"] for i in added}
    bad = env.run("scale", {"scalable_entity_name": "app", "delta": -5})
    assert "Provided delta: -5 is illegal. current number of instances of entity app is 1" in bad.error
    missing = env.run("scale", {"scalable_entity_name": "nothing"})
    assert "No scalable entity named nothing was found" in missing.error
    zero = env.run("scale", {"scalable_entity_name": "app", "delta": 0})
    assert "delta parameter is 0, so no scaling will take place." in zero.texts()


def test_rollback_resolves_instances_stuck_mid_install(env):
    body = BODY.replace("        start: p.PKG.ops.count\n", "        start: p.PKG.ops.missing\n", 1)
    env.deploy(body, OPS)
    failed = env.run("install")
    assert failed.error is not None
    assert env.by_node("vm")[0]["state"] == "starting"
    outcome = env.run("rollback")
    assert outcome.error is None, outcome.error
    vm = env.by_node("vm")[0]
    assert vm["state"] == "configured"
    assert vm["runtime_properties"]["stop"] == 1
    assert "Rollbacked node instance" in outcome.texts()


def test_agent_workflows_have_nothing_to_do(env):
    env.deploy(BODY, OPS)
    outcome = env.run("validate_agents")
    assert outcome.error is None
    assert "there are no agents to validate" in outcome.texts()[1]
