"""Python scripts run with what Cloudify's script environment has: cloudify-common's
dependencies such as ``requests`` import in a script operation."""
from __future__ import annotations


def test_python_script_imports_requests(env):
    script = """\
import requests
from cloudify import ctx

ctx.instance.runtime_properties['requests'] = requests.__version__
ctx.instance.runtime_properties['has_get'] = callable(requests.get)
"""
    env.deploy("""
node_templates:
  n:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/uses_requests.py
""", files={"scripts/uses_requests.py": script})
    outcome = env.run("install")
    assert outcome.error is None, outcome.error
    props = env.by_node("n")[0]["runtime_properties"]
    assert props["has_get"] is True and props["requests"].count(".") == 2
