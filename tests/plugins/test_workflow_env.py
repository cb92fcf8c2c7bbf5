"""A workflow of an uploaded plugin runs in the plugin's environment: its interpreter, and
its own version of a package cfy-local has too (tzdata), while its operations still run in
the plugin's operation host and the task graph works."""
from __future__ import annotations

import json
import os

from cfy_local.deployments import api
from cfy_local.store.paths import Home
from plugin_builds import deploy_with_plugin, source_plugin

CODE = """
import sys

import tzdata
from cloudify import ctx as op_ctx


def create(**kwargs):
    op_ctx.instance.runtime_properties['op_python'] = sys.executable
    op_ctx.instance.runtime_properties['op_tzdata'] = tzdata.IANA_VERSION


def which(ctx, **kwargs):
    ctx.logger.info('workflow python=%s tzdata=%s' % (sys.executable, tzdata.IANA_VERSION))
    graph = ctx.graph_mode()
    for instance in ctx.node_instances:
        graph.add_task(instance.execute_operation('cloudify.interfaces.lifecycle.create'))
    graph.execute()
    return tzdata.IANA_VERSION
"""

YAML = """\
plugins:
  wfenv:
    executor: central_deployment_agent
    package_name: wfenv-plug
    package_version: '1.0.0'
node_types:
  wfenv.Node:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: wfenv.wfenv.tasks.create
workflows:
  which: wfenv.wfenv.tasks.which
"""


def test_uploaded_plugin_workflow_runs_on_the_plugins_interpreter(cfy, tmp_path, home):
    import tzdata as ours

    plugin = source_plugin(tmp_path, "wfenv-plug", "1.0.0", CODE, module="wfenv", requires=["tzdata==2023.3"],
                           yaml=YAML)
    assert ours.IANA_VERSION != "2023c"  # cfy-local's own tzdata differs from the plugin's pin
    deploy_with_plugin(cfy, tmp_path, plugin, "wfenv-plug", "n: {type: wfenv.Node}\n")
    done = cfy("executions", "start", "which", "-d", "dep")
    assert done.exit_code == 0, done
    venv = os.path.join(str(home), "plugin-envs", "wfenv-plug", "1.0.0")
    python = os.path.join(venv, "bin", "python")
    assert f"workflow python={python} tzdata=2023c" in done.stdout
    props = api.list_node_instances(Home.open(str(home)), "dep")[0]["runtime_properties"]
    assert props == {"op_python": python, "op_tzdata": "2023c"}
    execution = json.loads(cfy("executions", "list", "-d", "dep", "--json").stdout)[-1]
    assert execution["status"] == "terminated"
    # a built-in workflow of the same deployment still runs in cfy-local's own interpreter
    assert cfy("executions", "start", "install", "-d", "dep").exit_code == 0
