"""Behaviours where cfy-local used to differ from Cloudify's engine, each pinned on its own:
``ctx.capabilities``, ``-1`` retries (forever) and the switch to graph mode after tasks ran."""
from __future__ import annotations

import pytest

CAPS_OPS = """
from cloudify import ctx
from cloudify.exceptions import NonRecoverableError


def provide(value=None, **kwargs):
    ctx.instance.runtime_properties['url'] = value
    ctx.instance.runtime_properties['only_' + ctx.node.id] = True


def consume(**kwargs):
    caps = ctx.capabilities
    props = ctx.instance.runtime_properties
    props['all'] = sorted(sorted(values) for values in caps.get_all().values())
    props['only_db'] = caps['only_db']
    props['has_only_cache'] = 'only_cache' in caps
    props['has_missing'] = 'missing' in caps
    for key in ('url', 'missing'):
        try:
            caps[key]
        except NonRecoverableError as exc:
            props[key + '_error'] = str(exc).split(' [')[0]


def source_side(**kwargs):
    # On the source side of a relationship Cloudify reads the *target's* relationships.
    ctx.source.instance.runtime_properties['target_caps'] = len(ctx.capabilities.get_all())
"""

CAPS_BLUEPRINT = """
node_templates:
  db:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: p.PKG.ops.provide, inputs: {value: db-url}}
  cache:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: p.PKG.ops.provide, inputs: {value: cache-url}}
  web:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        configure: p.PKG.ops.consume
    relationships:
      - type: cloudify.relationships.connected_to
        target: db
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish: p.PKG.ops.source_side
      - type: cloudify.relationships.connected_to
        target: cache
"""


def test_capabilities_expose_relationship_targets_runtime_properties(env):
    env.deploy(CAPS_BLUEPRINT, CAPS_OPS)
    outcome = env.run("install")
    assert outcome.error is None, outcome.error
    web = env.by_node("web")[0]["runtime_properties"]
    assert web["all"] == [["only_cache", "url"], ["only_db", "url"]]
    assert web["only_db"] is True
    assert web["has_only_cache"] is True and web["has_missing"] is False
    assert web["url_error"] == "'url' capability ambiguity"
    assert web["missing_error"] == "capability 'missing' not found"
    assert web["target_caps"] == 0  # db has no relationships of its own


FOREVER_OPS = """
from cloudify import ctx
from cloudify.exceptions import RecoverableError


def flaky(times=0, **kwargs):
    if ctx.operation.retry_number < times:
        raise RecoverableError('not yet')
    ctx.instance.runtime_properties['attempts'] = ctx.operation.retry_number + 1
    ctx.instance.runtime_properties['max_retries'] = ctx.operation.max_retries
"""


@pytest.mark.parametrize("run_retries,op_max_retries", [(-1, None), (0, -1)])
def test_minus_one_retries_forever(env, run_retries, op_max_retries):
    max_line = f", max_retries: {op_max_retries}" if op_max_retries is not None else ""
    env.deploy(f"""
node_templates:
  one:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {{implementation: p.PKG.ops.flaky, inputs: {{times: 4}}{max_line}}}
""", FOREVER_OPS)
    outcome = env.run("install", retries=run_retries)
    assert outcome.error is None, outcome.error
    props = env.by_node("one")[0]["runtime_properties"]
    assert props == {"attempts": 5, "max_retries": -1}
    assert any(text.endswith("[retry 4]") for text in outcome.texts())  # no "/-1"


def test_cli_accepts_minus_one_task_retries_and_refuses_less(cfy, tmp_path):
    blueprint = tmp_path / "bp" / "blueprint.yaml"
    blueprint.parent.mkdir()
    blueprint.write_text("tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\n"
                         "node_templates:\n  one: {type: cloudify.nodes.Root}\n")
    assert cfy("blueprints", "upload", str(blueprint), "-b", "bp").exit_code == 0
    assert cfy("deployments", "create", "d", "-b", "bp").exit_code == 0
    refused = cfy("executions", "start", "install", "-d", "d", "--task-retries", "-2")
    assert refused.exit_code != 0
    assert "task_retries" in refused.stderr and "-1 (retry forever)" in refused.stderr
    started = cfy("executions", "start", "install", "-d", "d", "--task-retries", "-1")
    assert started.exit_code == 0, started


GRAPH_OPS = """
from cloudify import ctx


def op(**kwargs):
    ctx.instance.runtime_properties['ran'] = True
"""

GRAPH_WORKFLOWS = """
from cloudify.decorators import workflow


@workflow
def awaited_then_graph(ctx, **kwargs):
    for instance in ctx.get_node('one').instances:
        instance.execute_operation('custom.op').get()
    graph = ctx.graph_mode()
    graph.execute()


@workflow
def unawaited_then_graph(ctx, **kwargs):
    for instance in ctx.get_node('one').instances:
        instance.execute_operation('custom.op')
    ctx.graph_mode()
"""


def _graph_blueprint():
    return """
node_templates:
  one:
    type: cloudify.nodes.Root
    interfaces:
      custom:
        op: p.PKG.ops.op
workflows:
  awaited_then_graph: p.PKG.wf.awaited_then_graph
  unawaited_then_graph: p.PKG.wf.unawaited_then_graph
"""


def test_graph_mode_refused_while_a_non_graph_task_was_not_awaited(env):
    env.deploy(_graph_blueprint(), GRAPH_OPS, files={f"plugin/{env.pkg}/wf.py": GRAPH_WORKFLOWS})
    outcome = env.run("unawaited_then_graph")
    assert outcome.error is not None
    assert "Cannot switch to graph mode when tasks have already been executed" in outcome.error


def test_graph_mode_allowed_after_awaited_tasks(env):
    env.deploy(_graph_blueprint(), GRAPH_OPS, files={f"plugin/{env.pkg}/wf.py": GRAPH_WORKFLOWS})
    outcome = env.run("awaited_then_graph")
    assert outcome.error is None, outcome.error
    assert env.by_node("one")[0]["runtime_properties"] == {"ran": True}
