"""The DSL behaviours Cloudify's parser has, through the real CLI: instance counts from
inputs, secrets checked at deployment create, merge conflicts across imports, `string`
keeping any value, data-type defaults around intrinsic functions, and `cfy status` counts.
A refusal is one line naming the thing and leaves the state dir as it was."""
from __future__ import annotations

import json

from deployments.state_fingerprint import fingerprint

HEADER = "tosca_definitions_version: cloudify_dsl_1_4\nimports:\n  - cloudify/types/types.yaml\n"

SCALED = HEADER + """inputs:
  n: {type: integer, default: 2}
  groups: {default: 1}
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
    capabilities:
      scalable:
        properties: {default_instances: {get_input: n}, max_instances: 5}
  app:
    type: cloudify.nodes.Root
    relationships: [{type: cloudify.relationships.contained_in, target: vm}]
  ip: {type: cloudify.nodes.VirtualIP}
groups:
  g: {members: [ip]}
policies:
  p:
    type: cloudify.policies.scaling
    targets: [g]
    properties: {default_instances: {get_input: groups}}
"""

SECRET = HEADER + """inputs:
  which: {default: other}
node_types:
  t:
    derived_from: cloudify.nodes.Root
    properties:
      pw: {}
      computed: {required: false}
node_templates:
  a:
    type: t
    properties:
      pw: {get_secret: db_password}
      computed: {get_secret: {get_input: which}}
"""

DATA_TYPES = HEADER + """inputs:
  who: {default: me}
  port: {type: string, default: 8000}
data_types:
  inner:
    properties:
      a: {type: integer, default: 1}
      b: {type: string, default: bee}
  outer:
    properties:
      inner: {type: inner, default: {a: 5}}
      name: {type: string}
      port: {type: integer, default: 80}
node_types:
  t:
    derived_from: cloudify.nodes.Root
    properties:
      conf: {type: outer}
node_templates:
  n:
    type: t
    properties:
      conf: {name: {get_input: who}}
"""


def _write(tmp_path, text, name="bp", files=None):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "blueprint.yaml").write_text(text)
    for rel, body in (files or {}).items():
        (folder / rel).write_text(body)
    return str(folder / "blueprint.yaml")


def _counts(cfy, deployment):
    rows = cfy("node-instances", "list", "-d", deployment, "--json").json
    out: dict[str, int] = {}
    for row in rows:
        out[row["node_id"]] = out.get(row["node_id"], 0) + 1
    return out


def test_instance_counts_come_from_inputs_at_create(cfy, home, tmp_path):
    assert cfy("blueprints", "upload", _write(tmp_path, SCALED), "-b", "sc").exit_code == 0
    assert cfy("deployments", "create", "d1", "-b", "sc").exit_code == 0
    assert _counts(cfy, "d1") == {"vm": 2, "app": 2, "ip": 1}
    result = cfy("deployments", "create", "d2", "-b", "sc", "-i", "n=4", "-i", "groups=3")
    assert result.exit_code == 0, result
    assert _counts(cfy, "d2") == {"vm": 4, "app": 4, "ip": 3}
    nodes = json.loads((home / "deployments" / "d2" / "nodes.json").read_text())["nodes"]
    vm = next(n for n in nodes if n["id"] == "vm")
    assert vm["number_of_instances"] == 4 and vm["max_number_of_instances"] == 5
    record = json.loads((home / "deployments" / "d2" / "deployment.json").read_text())
    assert record["scaling_groups"]["g"]["properties"]["current_instances"] == 3


def test_an_instance_count_out_of_range_refuses_the_deployment(cfy, home, tmp_path):
    assert cfy("blueprints", "upload", _write(tmp_path, SCALED), "-b", "sc").exit_code == 0
    before = fingerprint(home)
    result = cfy("deployments", "create", "d1", "-b", "sc", "-i", "n=9")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Unable to create deployment: node 'vm': default_instances (9) cannot be greater than max_instances (5)"]
    assert fingerprint(home) == before


def test_an_instance_count_that_is_no_function_is_refused_at_upload(cfy, home, tmp_path):
    path = _write(tmp_path, SCALED.replace("{get_input: n}", "{two: 2}"))
    before = fingerprint(home)
    result = cfy("blueprints", "upload", path, "-b", "sc")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert "\n" not in line and "blueprint.yaml:" in line
    assert line.endswith("default_instances should be a valid intrinsic function or a value.")
    assert fingerprint(home) == before


def test_missing_secrets_refuse_the_deployment_with_the_managers_text(cfy, home, tmp_path):
    assert cfy("blueprints", "upload", _write(tmp_path, SECRET), "-b", "sec").exit_code == 0
    before = fingerprint(home)
    result = cfy("deployments", "create", "d1", "-b", "sec")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Unable to create deployment: Required secrets: [db_password, other] don't "
                                     "exist in this tenant")
    assert fingerprint(home) == before
    # With runtime-only evaluation a computed name is not known yet; a literal one still is checked.
    result = cfy("deployments", "create", "d1", "-b", "sec", "--runtime-only-evaluation")
    assert result.stderr.strip() == ("Unable to create deployment: Required secrets: [db_password] don't exist "
                                     "in this tenant")
    assert cfy("secrets", "create", "db_password", "-s", "pw").exit_code == 0
    result = cfy("deployments", "create", "d1", "-b", "sec", "--runtime-only-evaluation")
    assert result.exit_code == 0, result
    record = json.loads((home / "deployments" / "d1" / "deployment.json").read_text())
    assert record["runtime_only_evaluation"] is True
    assert cfy("secrets", "create", "other", "-s", "x").exit_code == 0
    assert cfy("deployments", "create", "d2", "-b", "sec").exit_code == 0


def test_a_node_template_defined_in_two_files_is_a_merge_conflict(cfy, home, tmp_path):
    text = HEADER.replace("  - cloudify/types/types.yaml\n", "  - cloudify/types/types.yaml\n  - more.yaml\n") + \
        "node_templates:\n  web: {type: cloudify.nodes.Root}\n"
    path = _write(tmp_path, text, files={"more.yaml": "node_templates:\n  web: {type: cloudify.nodes.Root}\n"})
    before = fingerprint(home)
    result = cfy("blueprints", "upload", path, "-b", "dup")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Failed parsing blueprint: blueprint.yaml:6: Import failed: Could not merge 'node_templates' due to "
                                     "conflict on 'web' (also defined at more.yaml:2)")
    assert fingerprint(home) == before


def test_string_keeps_numbers_and_data_type_defaults_fill_around_functions(cfy, home, tmp_path):
    assert cfy("blueprints", "upload", _write(tmp_path, DATA_TYPES), "-b", "dt").exit_code == 0
    assert cfy("blueprints", "inputs", "dt", "--json").exit_code == 0
    assert cfy("deployments", "create", "d", "-b", "dt").exit_code == 0
    nodes = json.loads((home / "deployments" / "d" / "nodes.json").read_text())["nodes"]
    assert nodes[0]["properties"]["conf"] == {"inner": {"a": 5, "b": "bee"}, "name": "me", "port": 80}
    assert cfy("deployments", "inputs", "d", "--json").json["port"] == 8000


def test_status_counts_blueprints_and_deployments(cfy, home, tmp_path):
    assert cfy("blueprints", "upload", _write(tmp_path, SCALED), "-b", "sc").exit_code == 0
    assert cfy("deployments", "create", "d1", "-b", "sc").exit_code == 0
    data = cfy("status", "--json").json
    assert data["blueprints"] == {"total": 1}
    assert data["deployments"] == {"total": 1, "with_active_run": 0}
    assert data["plugins"] == {"total": 0}
    text = cfy("status").stdout
    assert "Blueprints:" in text and "1 (0 with an active run)" in text and "Plugins:" in text


def test_runtime_only_deployment_keeps_functions_until_a_run_reads_them(cfy, home, tmp_path):
    from cfy_local.engine.storage import DeploymentStorage

    text = SECRET.replace("      computed: {get_secret: {get_input: which}}\n", "      computed: {get_input: which}\n")
    assert cfy("blueprints", "upload", _write(tmp_path, text), "-b", "rt").exit_code == 0
    assert cfy("secrets", "create", "db_password", "-s", "first").exit_code == 0
    assert cfy("deployments", "create", "d", "-b", "rt", "--runtime-only-evaluation").exit_code == 0
    stored = json.loads((home / "deployments" / "d" / "nodes.json").read_text())["nodes"][0]["properties"]
    assert stored["pw"] == {"get_secret": "db_password"} and stored["computed"] == {"get_input": "which"}
    evaluated = DeploymentStorage(home, "d").node_map()["a"]["properties"]
    assert evaluated["pw"] == "first" and evaluated["computed"] == "other"
    assert cfy("secrets", "create", "db_password", "-s", "second", "-u").exit_code == 0
    assert DeploymentStorage(home, "d").node_map()["a"]["properties"]["pw"] == "second"


def test_deployment_settings_display_name_names_the_deployment(cfy, home, tmp_path):
    text = HEADER + """inputs:
  env: {default: prod}
deployment_settings:
  display_name: {concat: [web-, {get_input: env}]}
resource_tags:
  owner: me
node_templates:
  a: {type: cloudify.nodes.Root}
"""
    assert cfy("blueprints", "upload", _write(tmp_path, text), "-b", "ds").exit_code == 0
    result = cfy("deployments", "create", "d1", "-b", "ds", "-i", "env=test")
    assert result.exit_code == 0, result
    assert "Deployment `web-test` created. The deployment's id is d1" in result.stdout
    record = json.loads((home / "deployments" / "d1" / "deployment.json").read_text())
    assert record["resource_tags"] == {"owner": "me"}
    assert cfy("deployments", "create", "d2", "-b", "ds", "-n", "given").stdout.strip().endswith(
        "Deployment `given` created. The deployment's id is d2")
