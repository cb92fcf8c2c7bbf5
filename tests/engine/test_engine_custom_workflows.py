"""Custom workflows, the workflow ctx API, graph mode and the ``cloudify`` aliases."""
from __future__ import annotations

import subprocess
import sys

OPS = """
from cloudify import ctx
from cloudify.decorators import operation, workflow
from cloudify.exceptions import NonRecoverableError
from cloudify.state import ctx_parameters
from cloudify.workflows import ctx as wctx, parameters, api
from cloudify.workflows.tasks_graph import forkjoin
from cloudify.workflows.tasks import HandlerResult
from cloudify.plugins import lifecycle


@operation
def mark(value=None, **kwargs):
    assert ctx_parameters.get('value') == value
    assert ctx_parameters.ctx is ctx._get_current_object()
    props = ctx.instance.runtime_properties
    props['marks'] = props.get('marks', []) + [value]
    ctx.logger.info('marked %s with %s', ctx.instance.id, value)
    return value


@operation
def boom(**kwargs):
    raise NonRecoverableError('boom')


@workflow
def inspect(ctx, label='x', **kwargs):
    node = ctx.get_node('app')
    seen = {
        'label': label,
        'parameters_label': parameters.label,
        'nodes': sorted(n.id for n in ctx.nodes),
        'has_create': node.has_operation('cloudify.interfaces.lifecycle.create'),
        'has_stop': node.has_operation('cloudify.interfaces.lifecycle.stop'),
        'properties': node.properties,
        'instances': len(list(node.instances)),
        'all_instances': len(list(ctx.node_instances)),
        'targets': sorted(r.target_id for i in node.instances for r in i.relationships),
        'target_nodes': sorted(r.target_node_instance.node_id for i in node.instances for r in i.relationships),
        'deployment': ctx.deployment.id,
        'blueprint': ctx.blueprint.id,
        'execution_id': ctx.execution_id,
        'workflow_id': ctx.workflow_id,
        'cancel': api.has_cancel_request(),
        'same_ctx': wctx._get_current_object() is ctx,
    }
    ctx.send_event('inspected').get()
    ctx.logger.info('inspection done')
    instance = next(node.instances)
    result = instance.execute_operation('cloudify.interfaces.lifecycle.create', kwargs={'value': 'direct'}).get()
    seen['direct_result'] = result
    seen['local'] = ctx.local_task(lambda a, b: a + b, kwargs={'a': 1, 'b': 2}, name='adder').get()
    instance.set_state('configured').get()
    instance.send_event('instance event').get()
    return seen


@workflow
def graph(ctx, **kwargs):
    g = ctx.graph_mode()
    app = next(ctx.get_node('app').instances)
    db = next(ctx.get_node('db').instances)
    first = db.execute_operation('cloudify.interfaces.lifecycle.create', kwargs={'value': 'one'})
    second = app.execute_operation('cloudify.interfaces.lifecycle.create', kwargs={'value': 'two'})
    third = db.execute_operation('cloudify.interfaces.lifecycle.create', kwargs={'value': 'three'})
    sub = g.subgraph('my_subgraph')
    seq = sub.sequence()
    seq.add(app.send_event('in subgraph'), second)
    g.add_task(first)
    g.add_task(third)
    g.add_dependency(sub, first)
    g.add_dependency(third, sub)
    g.execute()
    return 'graph done'


@workflow
def cyclic(ctx, **kwargs):
    g = ctx.graph_mode()
    app = next(ctx.get_node('app').instances)
    a = g.add_task(app.execute_operation('cloudify.interfaces.lifecycle.create', kwargs={'value': 'a'}))
    b = g.add_task(app.execute_operation('cloudify.interfaces.lifecycle.create', kwargs={'value': 'b'}))
    g.add_dependency(a, b)
    g.add_dependency(b, a)
    g.execute()


@workflow
def ignoring(ctx, **kwargs):
    g = ctx.graph_mode()
    app = next(ctx.get_node('app').instances)
    bad = app.execute_operation('cloudify.interfaces.lifecycle.stop')
    bad.on_failure = lambda task: HandlerResult.ignore()
    after = app.execute_operation('cloudify.interfaces.lifecycle.create', kwargs={'value': 'after'})
    g.sequence().add(bad, after)
    g.execute()


@workflow
def broken_handler(ctx, **kwargs):
    g = ctx.graph_mode()
    app = next(ctx.get_node('app').instances)
    task = app.execute_operation('cloudify.interfaces.lifecycle.create', kwargs={'value': 'handled'})

    def on_success(task):
        raise ValueError('the handler broke')

    task.on_success = on_success
    g.add_task(task)
    g.execute()
    return 'not reached'


@workflow
def use_lifecycle(ctx, **kwargs):
    graph = ctx.graph_mode()
    lifecycle.install_node_instances(graph=graph, node_instances=set(ctx.node_instances))
    return sorted(i.id for i in ctx.node_instances)


def uses_manager(ctx, **kwargs):
    from cloudify.manager import get_rest_client
    return get_rest_client().deployments.get(ctx.deployment.id).id
"""

BODY = """
node_types:
  test.App:
    derived_from: cloudify.nodes.Root
    properties:
      port: {}
node_templates:
  db:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.mark
  app:
    type: test.App
    properties:
      port: 8080
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.mark
        stop: p.PKG.ops.boom
    relationships:
      - type: cloudify.relationships.connected_to
        target: db
workflows:
  inspect:
    mapping: p.PKG.ops.inspect
    parameters:
      label:
        default: dflt
  graph: p.PKG.ops.graph
  cyclic: p.PKG.ops.cyclic
  ignoring: p.PKG.ops.ignoring
  broken_handler: p.PKG.ops.broken_handler
  use_lifecycle: p.PKG.ops.use_lifecycle
  uses_manager: p.PKG.ops.uses_manager
  missing: p.PKG.ops.not_there
"""


def test_workflow_ctx_api_and_non_graph_tasks(env):
    env.deploy(BODY, OPS)
    outcome = env.run("inspect", {"label": "given"})
    assert outcome.error is None, outcome.error
    seen = outcome.result
    app = env.by_node("app")[0]
    db = env.by_node("db")[0]
    assert seen == {
        "label": "given", "parameters_label": "given", "nodes": ["app", "db"], "has_create": True,
        "has_stop": True, "properties": {"port": 8080, "use_external_resource": False}, "instances": 1, "all_instances": 2,
        "targets": [db["id"]], "target_nodes": ["db"], "deployment": "dep", "blueprint": "bp-dep",
        "execution_id": outcome.execution_id, "workflow_id": "inspect", "cancel": False, "same_ctx": True,
        "direct_result": "direct", "local": 3,
    }
    assert app["runtime_properties"]["marks"] == ["direct"]
    assert app["state"] == "configured"
    texts = outcome.texts()
    assert "inspected" in texts and "instance event" in texts and "inspection done" in texts
    assert f"marked {app['id']} with direct" in texts
    assert "Task succeeded 'adder' - 3" in texts
    log = next(e for e in outcome.events if e["message"]["text"].startswith("marked"))
    assert log["type"] == "cloudify_log" and log["level"] == "info"
    assert log["context"]["node_id"] == app["id"] and log["context"]["operation"] == "cloudify.interfaces.lifecycle.create"


def test_default_parameter_values_are_passed(env):
    env.deploy(BODY, OPS)
    assert env.run("inspect").result["label"] == "dflt"


def test_graph_mode_sequence_subgraph_and_dependencies(env):
    env.deploy(BODY, OPS)
    outcome = env.run("graph")
    assert outcome.error is None, outcome.error
    assert outcome.result == "graph done"
    marks = [e["message"]["text"].split(" with ")[1] for e in outcome.events
             if e["message"]["text"].startswith("marked")]
    assert marks == ["one", "two", "three"]
    texts = outcome.texts()
    assert texts.index("Subgraph started 'my_subgraph'") < texts.index("in subgraph") \
        < texts.index("Subgraph succeeded 'my_subgraph'")


def test_cycle_in_task_graph_fails_clearly(env):
    env.deploy(BODY, OPS)
    outcome = env.run("cyclic")
    assert "The task graph has a dependency cycle" in outcome.error
    assert "Traceback" in outcome.error
    failed = outcome.events[-1]
    assert failed["event_type"] == "workflow_failed"
    assert "dependency cycle" in failed["message"]["text"]
    assert "Traceback" in failed["context"]["task_error_causes"][-1]["traceback"]
    assert all(i["runtime_properties"] == {} for i in env.instances().values())


def test_on_failure_ignore_lets_dependents_run(env):
    env.deploy(BODY, OPS)
    outcome = env.run("ignoring")
    assert outcome.error is None, outcome.error
    assert env.by_node("app")[0]["runtime_properties"]["marks"] == ["after"]


def test_lifecycle_helpers_from_custom_workflow(env):
    env.deploy(BODY.replace("        stop: p.PKG.ops.boom\n", ""), OPS)
    outcome = env.run("use_lifecycle")
    assert outcome.error is None, outcome.error
    assert {i["state"] for i in env.instances().values()} == {"started"}
    assert len(outcome.result) == 2


def test_workflow_mapping_to_nothing_and_manager_apis(env):
    env.deploy(BODY, OPS)
    missing = env.run("missing")
    assert f"{env.pkg}.ops has no function named 'not_there'" in missing.error
    manager = env.run("uses_manager")
    assert manager.error is None and manager.result == "dep"  # answered by the state dir
    unknown = env.run("nope")
    assert "Workflow nope does not exist in the deployment dep" in unknown.error


def test_no_cloudify_package_outside_the_engine():
    code = "import cfy_local.engine, cfy_local.cli\nimport cloudify\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0 and "No module named 'cloudify'" in proc.stderr


def test_error_caught_by_the_workflow_does_not_fail_it(env):
    code = OPS + '''

def tolerant(ctx, **kwargs):
    app = next(ctx.get_node('app').instances)
    try:
        app.execute_operation('cloudify.interfaces.lifecycle.stop').get()
    except NonRecoverableError as exc:
        return 'caught ' + str(exc)


def careless(ctx, **kwargs):
    app = next(ctx.get_node('app').instances)
    app.execute_operation('cloudify.interfaces.lifecycle.stop')
'''
    env.deploy(BODY + "  tolerant: p.PKG.ops.tolerant\n  careless: p.PKG.ops.careless\n", code)
    tolerant = env.run("tolerant")
    assert tolerant.error is None and tolerant.result == "caught boom"
    careless = env.run("careless")
    assert careless.error is not None and "NonRecoverableError `boom`" in careless.error


def test_an_error_in_a_task_handler_fails_the_workflow_with_it(env):
    # As in Cloudify's graph: the handler's exception leaves execute() and ends the workflow.
    env.deploy(BODY, OPS)
    outcome = env.run("broken_handler")
    assert outcome.error is not None and "the handler broke" in outcome.error
    assert "dependency cycle" not in outcome.error
    assert env.by_node("app")[0]["runtime_properties"]["marks"] == ["handled"]
