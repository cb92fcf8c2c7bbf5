"""What a worker loads before its run's first task, and what it loads only when asked."""
from __future__ import annotations

import subprocess
import sys

from cfy_local.store.paths import Home
from engine.conftest import EngineEnv

OPS = """
from cloudify import ctx
from cloudify.manager import get_rest_client


def ask(**kwargs):
    ctx.instance.runtime_properties['deployment'] = get_rest_client().deployments.get(ctx.deployment.id).id
"""

BODY = """
node_templates:
  app:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.ask
"""


def test_the_worker_entry_loads_the_rest_client_only_when_an_operation_asks():
    probe = ("import sys, cfy_local.worker_process; "
             "print(sorted(m for m in ('cfy_local.plugins.rest_client', 'cfy_local.deployments.api', "
             "'cfy_local.executions.api') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_get_rest_client_answers_an_operation_in_a_real_worker(tmp_path, home, cfy_proc):
    env = EngineEnv(tmp_path, Home.open(str(home)))
    env.deploy(BODY, OPS)
    result = cfy_proc("executions", "start", "install", "-d", "dep")
    assert result.exit_code == 0, result
    [app] = env.by_node("app")
    assert app["runtime_properties"]["deployment"] == "dep"
