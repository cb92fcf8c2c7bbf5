"""Deployment-time evaluation: inputs with data types, nested get_property, concat, merge."""
from __future__ import annotations

import json
import textwrap

from cfy_local.deployments import api
from cfy_local.store.paths import Home

BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
data_types:
  my.Endpoint:
    properties:
      host: {type: string}
      port: {type: integer, default: 80}
inputs:
  endpoint:
    type: my.Endpoint
  tags:
    type: list
    default: [a, b]
  extra:
    type: dict
    default: {k: v}
    display_label: Extra settings
node_types:
  my.Service:
    derived_from: cloudify.nodes.Root
    properties:
      endpoint: {type: my.Endpoint}
      url: {}
      settings: {default: {}}
node_templates:
  svc:
    type: my.Service
    properties:
      endpoint: {get_input: endpoint}
      url: {concat: ['http://', {get_property: [SELF, endpoint, host]}, ':', {get_property: [SELF, endpoint, port]}]}
      settings: {merge: [{get_input: extra}, {tag: {get_input: [tags, 1]}}]}
  client:
    type: cloudify.nodes.Root
    properties:
      resource_id: {get_property: [svc, url]}
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/noop.sh
          executor: central_deployment_agent
          inputs:
            target: {get_attribute: [svc, address]}
capabilities:
  endpoint_url: {value: {get_property: [svc, url]}}
"""


def test_inputs_data_types_and_plan_time_functions(home, tmp_path):
    folder = tmp_path / "svc"
    (folder / "scripts").mkdir(parents=True)
    (folder / "scripts" / "noop.sh").write_text("true\n")
    (folder / "blueprint.yaml").write_text(textwrap.dedent(BLUEPRINT))
    state = Home.open(str(home))
    api.upload_blueprint(state, str(folder / "blueprint.yaml"))
    record = api.create_deployment(state, None, "svc", {"endpoint": {"host": "example.org"}})
    assert record["id"] == "svc"
    assert record["inputs"]["endpoint"] == {"host": "example.org", "port": 80}  # data-type default filled
    nodes = {n["id"]: n for n in api.load_nodes(state, "svc")}
    assert nodes["svc"]["properties"]["url"] == "http://example.org:80"
    assert nodes["svc"]["properties"]["settings"] == {"k": "v", "tag": "b"}
    assert nodes["client"]["properties"]["resource_id"] == "http://example.org:80"
    create = nodes["client"]["operations"]["cloudify.interfaces.lifecycle.create"]
    assert create["executor"] == "central_deployment_agent"
    assert create["inputs"]["target"] == {"get_attribute": ["svc", "address"]}  # runtime: kept raw
    assert api.evaluate_capabilities(state, "svc")["endpoint_url"]["value"] == "http://example.org:80"
    saved = json.loads((home / "deployments" / "svc" / "deployment.json").read_text())
    assert saved["schema_version"] == 1 and saved["resources_dir"].endswith("blueprints/svc/resources")
