"""Service components: a ``cloudify.nodes.ServiceComponent`` / ``Component`` node deploys its
blueprint as a child deployment of the same state dir (install runs the child's install and
waits; uninstall runs its uninstall and deletes it), all through the real CLI and workers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

PARENT = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  child:
    type: cloudify.nodes.ServiceComponent
    properties:
      resource_config:
        blueprint:
          id: child-bp
          blueprint_archive: ARCHIVE
          main_file_name: blueprint.yaml
        deployment:
          id: child-dep
          inputs:
            greeting: hello from the parent
  other:
    type: cloudify.nodes.Component
    properties:
      resource_config:
        blueprint:
          id: child-bp
          external_resource: true
        deployment:
          id: other-dep
    relationships:
      - type: cloudify.relationships.depends_on
        target: child
outputs:
  said:
    value: { get_attribute: [child, deployment, outputs, said] }
"""

CHILD = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  greeting:
    default: nobody
node_templates:
  thing:
    type: cloudify.nodes.Root
outputs:
  said:
    value: { get_input: greeting }
capabilities:
  loud:
    value: { concat: [ { get_input: greeting }, "!" ] }
"""


def _cfy(home, *args, timeout=240):
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "cfy_local", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def _json(home, *args):
    done = _cfy(home, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _parent(tmp_path, archive="child"):
    folder = tmp_path / "parent"
    (folder / "child").mkdir(parents=True)
    (folder / "child" / "blueprint.yaml").write_text(CHILD)
    (folder / "blueprint.yaml").write_text(PARENT.replace("ARCHIVE", archive))
    return folder / "blueprint.yaml"


def test_component_install_deploys_the_child_and_uninstall_removes_it(tmp_path):
    home = tmp_path / "home"
    assert _cfy(home, "blueprints", "upload", str(_parent(tmp_path)), "-b", "parent").returncode == 0
    assert _cfy(home, "deployments", "create", "parent", "-b", "parent").returncode == 0
    done = _cfy(home, "executions", "start", "install", "-d", "parent", "--task-retry-interval", "0")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    # the child of `child`, and the one `other` made of the same (external) blueprint
    assert {d["id"] for d in _json(home, "deployments", "list")} == {"parent", "child-dep", "other-dep"}
    child_runs = _json(home, "executions", "list", "-d", "child-dep")
    assert [(e["workflow_id"], e["status"]) for e in child_runs if e["workflow_id"] == "install"] == \
        [("install", "terminated")]
    instances = {i["node_id"]: i for i in _json(home, "node-instances", "list", "-d", "parent")}
    props = instances["child"]["runtime_properties"]["deployment"]
    assert props == {"id": "child-dep", "outputs": {"said": "hello from the parent"},
                     "capabilities": {"loud": "hello from the parent!"}}
    assert instances["other"]["runtime_properties"]["deployment"]["outputs"] == {"said": "nobody"}
    outputs = _json(home, "deployments", "outputs", "parent")
    assert "hello from the parent" in json.dumps(outputs)

    gone = _cfy(home, "executions", "start", "uninstall", "-d", "parent", "--task-retry-interval", "0")
    assert gone.returncode == 0, gone.stdout[-3000:] + gone.stderr
    assert {d["id"] for d in _json(home, "deployments", "list")} == {"parent"}
    # the blueprint `child` uploaded went with it; `other` used it as an external resource
    assert {b["id"] for b in _json(home, "blueprints", "list")} == {"parent"}


def test_what_needs_a_manager_is_refused_in_one_line(tmp_path):
    home = tmp_path / "home"
    blueprint = _parent(tmp_path, archive="https://example.com/child.zip")
    text = blueprint.read_text().split("  other:")[0]
    blueprint.write_text(text)
    assert _cfy(home, "blueprints", "upload", str(blueprint), "-b", "parent").returncode == 0
    assert _cfy(home, "deployments", "create", "parent", "-b", "parent").returncode == 0
    done = _cfy(home, "executions", "start", "install", "-d", "parent", "--task-retries", "0")
    assert done.returncode == 1
    assert ("Component child: blueprint_archive `https://example.com/child.zip` is a URL; cfy-local never "
            "fetches from the network") in done.stderr
    assert "Traceback" not in done.stderr
    assert {d["id"] for d in _json(home, "deployments", "list")} == {"parent"}
