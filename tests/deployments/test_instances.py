"""Node-instance building (containment, scaling groups, relationships) and scale helpers."""
from __future__ import annotations

import textwrap

import pytest

from cfy_local.deployments import api, instances
from cfy_local.dsl.functions import evaluate_runtime
from cfy_local.engine.storage import DeploymentStorage
from cfy_local.errors import DSLError, ValidationError
from cfy_local.store.paths import Home

BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_templates:
  vm:
    type: cloudify.nodes.Compute
    capabilities: {scalable: {properties: {default_instances: 2}}}
  app:
    type: cloudify.nodes.SoftwareComponent
    instances: {deploy: 3}
    relationships:
      - {type: cloudify.relationships.contained_in, target: vm}
  db:
    type: cloudify.nodes.DBMS
  lb:
    type: cloudify.nodes.LoadBalancer
    relationships:
      - {type: cloudify.relationships.connected_to, target: app}
      - {type: cloudify.relationships.connected_to, target: db, properties: {connection_type: all_to_one}}
  ip:
    type: cloudify.nodes.VirtualIP
    relationships:
      - {type: cloudify.relationships.connected_to, target: grouped}
  grouped:
    type: cloudify.nodes.Compute
groups:
  pair: {members: [grouped, ip]}
policies:
  scale_pair: {type: cloudify.policies.scaling, targets: [pair], properties: {default_instances: 2}}
outputs:
  app_name: {value: {get_attribute: [app, name]}}
  names: {value: {get_attributes_list: [db, name]}}
"""


@pytest.fixture
def deployment(home, tmp_path):
    folder = tmp_path / "topo"
    folder.mkdir()
    (folder / "blueprint.yaml").write_text(textwrap.dedent(BLUEPRINT))
    state = Home.open(str(home))
    api.upload_blueprint(state, str(folder / "blueprint.yaml"))
    api.create_deployment(state, "topo", "topo", {})
    return state


def by_node(rows):
    out = {}
    for row in rows:
        out.setdefault(row["node_id"], []).append(row)
    return out


def test_containment_multiplies_and_sets_host_ids(deployment):
    rows = by_node(api.list_node_instances(deployment, "topo"))
    assert len(rows["vm"]) == 2 and len(rows["app"]) == 6 and len(rows["db"]) == 1
    vm_ids = {v["id"] for v in rows["vm"]}
    for vm in rows["vm"]:
        assert vm["host_id"] == vm["id"]
        hosted = [a for a in rows["app"] if a["host_id"] == vm["id"]]
        assert len(hosted) == 3
        assert all(a["relationships"][0]["target_id"] == vm["id"] for a in hosted)
    assert rows["db"][0]["host_id"] is None and vm_ids
    lb = rows["lb"][0]
    targets = [r["target_name"] for r in lb["relationships"]]
    assert targets.count("app") == 6 and targets.count("db") == 1  # all_to_all, all_to_one
    assert sorted(a["index"] for a in rows["app"]) == [1, 2, 3, 4, 5, 6]


def test_scaling_group_members_share_group_instances(deployment):
    rows = by_node(api.list_node_instances(deployment, "topo"))
    assert len(rows["grouped"]) == 2 and len(rows["ip"]) == 2
    for ip in rows["ip"]:
        group_id = ip["scaling_groups"][0]["id"]
        assert ip["scaling_groups"][0]["name"] == "pair"
        linked = [g for g in rows["grouped"] if g["id"] == ip["relationships"][0]["target_id"]]
        assert len(ip["relationships"]) == 1 and linked[0]["scaling_groups"][0]["id"] == group_id


def test_get_attribute_needs_an_unambiguous_instance(deployment):
    with pytest.raises(ValidationError, match='More than one node instance found for node "app"'):
        evaluate_runtime({"get_attribute": ["app", "name"]}, DeploymentStorage(deployment, "topo"))
    app = api.list_node_instances(deployment, "topo", "app")[0]
    value = evaluate_runtime({"get_attribute": ["SELF", "node_instance_id"]}, DeploymentStorage(deployment, "topo"),
                             self_instance_id=app["id"])
    assert value == app["id"]
    vm_id = app["host_id"]
    value = evaluate_runtime({"get_attribute": ["vm", "node_instance_id"]}, DeploymentStorage(deployment, "topo"),
                             self_instance_id=app["id"])
    assert value == vm_id  # resolved through the caller's relationship
    assert evaluate_runtime({"get_attributes_list": ["db", "nothing"]}, DeploymentStorage(deployment, "topo")) == [None]


def test_add_and_remove_instances(deployment):
    before = by_node(api.list_node_instances(deployment, "topo"))
    added = instances.add_instances(deployment, "topo", "app", 1)
    assert len(added) == 2 and {a["host_id"] for a in added} == {v["id"] for v in before["vm"]}
    lb = api.list_node_instances(deployment, "topo", "lb")[0]
    assert sum(r["target_name"] == "app" for r in lb["relationships"]) == 8
    nodes = {n["id"]: n for n in api.load_nodes(deployment, "topo")}
    assert nodes["app"]["number_of_instances"] == 8
    vm = before["vm"][0]["id"]
    removed = instances.remove_instances(deployment, "topo", [vm])
    assert vm in removed and len(removed) == 1 + 4  # the vm and the apps it hosts
    after = by_node(api.list_node_instances(deployment, "topo"))
    assert len(after["app"]) == 4 and len(after["vm"]) == 1
    lb = after["lb"][0]
    assert all(r["target_id"] not in removed for r in lb["relationships"])


def test_circular_get_property_is_refused(home, tmp_path):
    folder = tmp_path / "loop"
    folder.mkdir()
    (folder / "blueprint.yaml").write_text(textwrap.dedent("""
        tosca_definitions_version: cloudify_dsl_1_4
        imports: [cloudify/types/types.yaml]
        node_types:
          t:
            derived_from: cloudify.nodes.Root
            properties: {a: {}, b: {}}
        node_templates:
          x:
            type: t
            properties:
              a: {get_property: [SELF, b]}
              b: {get_property: [y, a]}
          y:
            type: t
            properties:
              a: {get_property: [x, a]}
              b: 1
    """))
    state = Home.open(str(home))
    api.upload_blueprint(state, str(folder / "blueprint.yaml"))
    with pytest.raises(DSLError, match="Circular get_property function call detected"):
        api.create_deployment(state, "loop", "loop", {})
    assert not (home / "deployments" / "loop").exists()


def test_add_group_instances_keeps_members_together(deployment):
    added = instances.add_group_instances(deployment, "topo", "pair", 1)
    by = by_node(added)
    assert len(by["grouped"]) == 1 and len(by["ip"]) == 1
    group_id = by["ip"][0]["scaling_groups"][0]["id"]
    assert by["grouped"][0]["scaling_groups"] == [{"name": "pair", "id": group_id}]
    assert [r["target_id"] for r in by["ip"][0]["relationships"]] == [by["grouped"][0]["id"]]
    rows = by_node(api.list_node_instances(deployment, "topo"))
    assert len(rows["grouped"]) == 3 and len(rows["ip"]) == 3
    with pytest.raises(ValidationError, match="No scaling group named nope"):
        instances.add_group_instances(deployment, "topo", "nope", 1)
