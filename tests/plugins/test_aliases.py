"""The built-in ``cloudify`` aliases: every name Cloudify's own test plugins and the most used
real plugins import at module level, and ``get_rest_client()`` answered by the state dir."""
from __future__ import annotations

from cfy_local import secrets

OPS = """
import os

from cloudify import ctx, constants, context
from cloudify import utils as cfy_utils
import cloudify.utils
from cloudify.constants import NODE_INSTANCE, RELATIONSHIP_INSTANCE
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError, OperationRetry, HttpException, RecoverableError
from cloudify.logs import CloudifyPluginLoggingHandler, init_cloudify_logger
from cloudify.manager import get_node_instance_ip, get_rest_client
from cloudify.utils import (create_temp_folder, get_tenant_name, ipv6_url_compat, exception_to_error_cause,
                            id_generator, LocalCommandRunner, _get_current_context)
from cloudify.workflows import tasks as workflow_tasks
from cloudify_rest_client.exceptions import CloudifyClientError
from cloudify.proxy.client import CTX_SOCKET_URL, ScriptException
from cloudify.workflows.tasks_graph import make_or_get_graph
from script_runner.tasks import ProcessException, ILLEGAL_CTX_OPERATION_ERROR


@operation
def host_create(**kwargs):
    ctx.instance.runtime_properties['ip'] = '10.1.1.' + str(ctx.instance.index)


@operation(resumable=True)
def app_create(**kwargs):
    props = ctx.instance.runtime_properties
    props['type_is_node_instance'] = ctx.type == NODE_INSTANCE == constants.NODE_INSTANCE
    props['host_ip'] = get_node_instance_ip(ctx.instance.id)
    props['tenant'] = get_tenant_name()
    props['v6'] = ipv6_url_compat('fe80::1')
    props['v4'] = ipv6_url_compat('10.0.0.1')
    folder = create_temp_folder()
    props['temp_is_dir'] = os.path.isdir(folder)
    os.rmdir(folder)
    props['current_ctx_id'] = _get_current_context().instance.id
    props['managers'] = [m.private_ip for m in ctx.get_managers()]
    props['brokers'] = len(ctx.get_brokers())
    props['run'] = LocalCommandRunner().run('echo hi').std_out
    props['process_exception'] = ProcessException('false', 1).exit_code
    client = get_rest_client()
    props['secret'] = client.secrets.get('db_password').value
    client.secrets.create('made_by_plugin', 'v1')
    props['deployment'] = client.deployments.get(ctx.deployment.id).id
    props['instances'] = sorted(i.id for i in client.node_instances.list(deployment_id=ctx.deployment.id,
                                                                         node_id='host'))
    props['node_type'] = client.nodes.get(ctx.deployment.id, 'app').type
    props['version'] = client.manager.get_version()['version']
    props['blueprint'] = client.blueprints.get(ctx.blueprint.id).id
    try:
        client.secrets.get('nope')
    except CloudifyClientError as exc:
        props['missing_status'] = exc.status_code
    logger = init_cloudify_logger(CloudifyPluginLoggingHandler(ctx), 'my.plugin.logger')
    logger.info('through a cloudify handler')


@operation
def link(**kwargs):
    ctx.source.instance.runtime_properties['rel_type'] = ctx.type == RELATIONSHIP_INSTANCE
    # an update made through the REST client is seen by the ctx of the next operation
    client = get_rest_client()
    target = client.node_instances.get(ctx.target.instance.id)
    client.node_instances.update(target.id, runtime_properties=dict(target.runtime_properties, linked=True),
                                 version=target.version)


@operation
def check_link(**kwargs):
    ctx.instance.runtime_properties['seen_linked'] = ctx.instance.runtime_properties.get('linked')
"""

BODY = """
node_templates:
  host:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.host_create
  app:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.app_create
        start: p.PKG.ops.check_link
    relationships:
      - type: cloudify.relationships.contained_in
        target: host
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            preconfigure: p.PKG.ops.link
"""


def test_module_level_names_and_rest_client(env):
    secrets.create_secret(env.home, "db_password", "s3cret")
    env.deploy(BODY, OPS)
    outcome = env.run("install")
    assert outcome.error is None, outcome.error
    app = env.by_node("app")[0]
    host = env.by_node("host")[0]
    props = app["runtime_properties"]
    assert props["type_is_node_instance"] is True
    assert props["host_ip"] == host["runtime_properties"]["ip"]
    assert props["tenant"] == "default_tenant"
    assert (props["v6"], props["v4"]) == ("[fe80::1]", "10.0.0.1")
    assert props["temp_is_dir"] is True and props["current_ctx_id"] == app["id"]
    assert props["managers"] == ["127.0.0.1"] and props["brokers"] == 1
    assert props["run"] == "hi" and props["process_exception"] == 1
    assert props["secret"] == "s3cret"
    assert props["deployment"] == "dep" and props["node_type"] == "cloudify.nodes.Root"
    assert props["instances"] == [host["id"]]
    assert props["version"] and props["blueprint"] == "bp-dep"
    assert props["missing_status"] == 404
    assert props["rel_type"] is True
    assert host["runtime_properties"]["linked"] is True
    assert secrets.get_secret_value(env.home, "made_by_plugin") == "v1"
    assert "through a cloudify handler" in outcome.texts()


def test_client_update_conflict_is_a_409(env):
    code = """
from cloudify import ctx
from cloudify.manager import get_rest_client
from cloudify_rest_client.exceptions import CloudifyClientError


def op(**kwargs):
    client = get_rest_client()
    me = client.node_instances.get(ctx.instance.id)
    client.node_instances.update(me.id, runtime_properties={'a': 1}, version=me.version)
    try:
        client.node_instances.update(me.id, runtime_properties={'a': 2}, version=me.version)
    except CloudifyClientError as exc:
        ctx.logger.info('conflict %s', exc.status_code)
"""
    env.deploy("""
node_templates:
  n:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.op
""", code)
    outcome = env.run("install")
    assert outcome.error is None, outcome.error
    assert "conflict 409" in outcome.texts()
    assert env.by_node("n")[0]["runtime_properties"] == {"a": 1}


def test_workflow_helpers_of_the_utilities_plugin(env):
    """make_or_get_graph and set_send_node_event_on_error_handler, as the utilities plugin's
    rollback workflow uses them: a failed task is reported on its instance and ignored."""
    code = """
from cloudify.exceptions import NonRecoverableError
from cloudify.plugins.lifecycle import set_send_node_event_on_error_handler
from cloudify.workflows.tasks_graph import make_or_get_graph


def fails(**kwargs):
    raise NonRecoverableError('broken on purpose')


@make_or_get_graph
def _graph(ctx, instances):
    graph = ctx.graph_mode()
    for instance in instances:
        task = instance.execute_operation('cloudify.interfaces.lifecycle.create')
        set_send_node_event_on_error_handler(task, instance)
        graph.add_task(task)
    return graph


def tolerant(ctx, **kwargs):
    _graph(ctx, list(ctx.node_instances), name='tolerant').execute()
    return 'done'
"""
    env.deploy("""
node_templates:
  n:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.fails
workflows:
  tolerant: p.PKG.ops.tolerant
""", code)
    outcome = env.run("tolerant")
    assert outcome.error is None and outcome.result == "done", outcome.error
    assert any(t.startswith("Ignoring task ") and t.endswith(" failure") for t in outcome.texts()), outcome.texts()


def test_client_events_and_executions_from_a_workflow(cfy, tmp_path):
    """Through real workers: a workflow reads an earlier execution and its events."""
    code = """
from cloudify.manager import get_rest_client


def op(**kwargs):
    pass


def inspect(ctx, previous=None, **kwargs):
    client = get_rest_client()
    events, total = client.events.get(previous, include_logs=True)
    ctx.logger.info('seen %s', {
        'total': total, 'first': events[0]['event_type'], 'last': events[-1]['event_type'],
        'updates': len(client.deployment_updates.list(deployment_id=ctx.deployment.id)),
        'previous_status': client.executions.get(previous).status,
        'listed': previous in [e.id for e in client.executions.list(deployment_id=ctx.deployment.id)]})
"""
    folder = tmp_path / "bp"
    (folder / "plugin" / "inspector").mkdir(parents=True)
    (folder / "plugin" / "inspector" / "__init__.py").write_text("")
    (folder / "plugin" / "inspector" / "ops.py").write_text(code)
    (folder / "blueprint.yaml").write_text("""\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
plugins:
  p:
    executor: central_deployment_agent
    source: plugin
node_templates:
  n:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.inspector.ops.op
workflows:
  inspect:
    mapping: p.inspector.ops.inspect
    parameters:
      previous: {}
""")
    assert cfy("install", str(folder / "blueprint.yaml"), "-b", "bp", "-d", "dep").exit_code == 0
    previous = [e for e in cfy("executions", "list", "-d", "dep", "--json").json if e["workflow_id"] == "install"][0]
    done = cfy("executions", "start", "inspect", "-d", "dep", "-p", f"previous={previous['id']}")
    assert done.exit_code == 0, done
    line = next(text for text in done.stdout.splitlines() if "seen {" in text)
    assert "'first': 'workflow_started'" in line and "'last': 'workflow_succeeded'" in line
    assert "'updates': 0" in line and "'previous_status': 'terminated'" in line and "'listed': True" in line


def test_script_runner_proxy_helpers_for_processes_an_operation_starts(env):
    """What cloudify-utilities-plugins-sdk's process runner does: start a ctx proxy, build the
    process environment, run a command that calls ``ctx``."""
    code = """
import subprocess

from cloudify import ctx
from script_runner.tasks import _get_process_environment, process_ctx_request, start_ctx_proxy


def op(**kwargs):
    proxy = start_ctx_proxy(ctx, {})
    try:
        env = _get_process_environment({'env': {'GREETING': 'hi'}}, proxy)
        process_ctx_request(proxy)
        subprocess.run(['bash', '-c', 'ctx instance runtime-properties greeting "$GREETING"'], env=env, check=True)
    finally:
        proxy.close()
"""
    env.deploy("""
node_templates:
  n:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.op
""", code)
    outcome = env.run("install")
    assert outcome.error is None, outcome.error
    assert env.by_node("n")[0]["runtime_properties"] == {"greeting": "hi"}
