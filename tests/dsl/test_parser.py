"""Parsing blueprints: the examples, the bundled types, and every class of bad input."""
from __future__ import annotations

from pathlib import Path

import pytest

from cfy_local.dsl.parser import BUNDLED_TYPES, parse_blueprint
from cfy_local.dsl.loader import load_yaml_file
from cfy_local.errors import DSLError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def node(plan, node_id):
    return next(n for n in plan["nodes"] if n["id"] == node_id)


def test_hello_world_example_parses():
    plan = parse_blueprint(str(EXAMPLES / "hello-world" / "blueprint.yaml"))
    web = node(plan, "web")
    assert web["host_id"] == "host"
    assert web["type_hierarchy"][0] == "cloudify.nodes.Root" and web["type_hierarchy"][-1] == "cloudify.nodes.WebServer"
    configure = web["operations"]["cloudify.interfaces.lifecycle.configure"]
    assert configure["plugin"] == "script"
    assert configure["operation"] == "script_runner.tasks.run"
    assert configure["inputs"]["script_path"] == "scripts/web_configure.sh"
    assert configure["inputs"]["greeting"] == {"get_input": "greeting"}
    assert web["operations"]["configure"] is not None  # short name: unambiguous
    assert "create" not in web["operations"]  # lifecycle.create and validation.create: ambiguous
    types = [r["type"] for r in web["relationships"]]
    assert types == ["cloudify.relationships.contained_in", "cloudify.relationships.connected_to"]
    establish = web["relationships"][1]["source_operations"]["cloudify.interfaces.relationship_lifecycle.establish"]
    assert establish["inputs"]["script_path"] == "scripts/link_db.sh"
    host = node(plan, "host")
    agent_create = host["operations"]["cloudify.interfaces.cloudify_agent.create"]
    assert agent_create["implementation"] == "" and agent_create["plugin"] is None  # no agents locally
    assert agent_create["declared_implementation"] == "agent.cloudify_agent.installer.operations.create"
    assert host["properties"]["agent_config"] == {"install_method": "none", "port": 22, "network": "default"}
    assert set(plan["outputs"]) == {"url", "message", "database_address"}
    assert plan["workflows"]["install"]["plugin"] == "default_workflows"
    assert plan["workflows"]["install"]["operation"] == "cloudify.plugins.workflows.install"


def test_python_plugin_example_parses():
    plan = parse_blueprint(str(EXAMPLES / "python-plugin" / "blueprint.yaml"))
    greeter = node(plan, "greeter")
    assert greeter["number_of_instances"] == 2
    start = greeter["operations"]["cloudify.interfaces.lifecycle.start"]
    assert start["plugin"] == "greeter" and start["operation"] == "greeter.tasks.greet"
    assert start["inputs"] == {"salutation": "Hi"}
    workflow = plan["workflows"]["greet_all"]
    assert workflow["plugin"] == "greeter" and workflow["operation"] == "greeter.workflows.greet_all"
    assert workflow["parameters"]["repeat"]["type"] == "integer"
    assert plan["plugins"]["greeter"]["source"] == "plugins/greeter"


def test_bundled_types_declare_what_cloudify_declares():
    types = load_yaml_file(BUNDLED_TYPES)
    assert len(types["node_types"]) == 27
    assert len(types["relationships"]) == 8
    assert list(types["workflows"]) == ["install", "check_status", "check_drift", "uninstall", "reinstall", "start",
                                        "stop", "restart", "execute_operation", "heal", "scale",
                                        "install_new_agents", "validate_agents", "rollback", "pull"]
    assert len(types["data_types"]) == 7
    assert set(types["plugins"]) == {"cfy_extensions", "agent", "default_workflows", "script"}
    assert len(types["policy_types"]) == 3 and len(types["policy_triggers"]) == 1
    assert types["workflows"]["heal"]["mapping"].endswith("auto_heal_reinstall_node_subgraph")
    assert types["workflows"]["scale"]["parameters"]["delta"] == {"type": "integer", "default": 1}
    assert types["workflows"]["check_drift"]["parameters"]["run_by_dependency_order"]["default"] is True
    assert types["workflows"]["start"]["parameters"]["operation_parms"]["default"] == {}
    assert len(types["node_types"]["cloudify.nodes.Root"]["interfaces"]["cloudify.interfaces.lifecycle"]) == 20


@pytest.mark.parametrize("url", [
    "http://cloudify.co/spec/cloudify/6.4.0/types.yaml",
    "https://cloudify.co/spec/cloudify/7.0.0/types.yaml",
    "http://www.getcloudify.org/spec/cloudify/4.5/types.yaml",
    "cloudify/types/types.yaml",
])
def test_cloudify_type_urls_resolve_to_the_bundled_file(write_blueprint, url):
    path = write_blueprint(f"""
        tosca_definitions_version: cloudify_dsl_1_3
        imports: [{url}]
        node_templates:
          vm: {{type: cloudify.nodes.Compute}}
    """, header=False)
    plan = parse_blueprint(str(path))
    assert node(plan, "vm")["host_id"] == "vm"


def test_relative_imports_and_anchors(write_blueprint):
    path = write_blueprint("""
        imports:
          - types/mine.yaml
        dsl_definitions:
          common: &common
            port: 8080
        node_templates:
          app:
            type: my.App
            properties:
              <<: *common
    """, files={"types/mine.yaml": """
        node_types:
          my.App:
            derived_from: cloudify.nodes.ApplicationModule
            properties:
              port: {type: integer}
              name: {default: app}
    """}, header=False)
    text = path.read_text().replace("imports:\n  - types/mine.yaml\n", "")
    path.write_text("tosca_definitions_version: cloudify_dsl_1_4\nimports:\n  - cloudify/types/types.yaml\n"
                    "  - types/mine.yaml\n" + text)
    plan = parse_blueprint(str(path))
    assert node(plan, "app")["properties"] == {"use_external_resource": False, "port": 8080, "name": "app"}


def test_operation_override_merges_inputs_key_by_key(write_blueprint):
    path = write_blueprint("""
        plugins:
          p: {executor: central_deployment_agent}
        node_types:
          t:
            derived_from: cloudify.nodes.Root
            interfaces:
              cloudify.interfaces.lifecycle:
                create:
                  implementation: p.mod.create
                  max_retries: 3
                  inputs:
                    a: {default: 1}
                    b: {default: {x: 1}}
                    c: {type: string}
        node_templates:
          same:
            type: t
            interfaces:
              cloudify.interfaces.lifecycle:
                create:
                  inputs: {b: {y: 2}, c: given, extra: 5}
          other:
            type: t
            interfaces:
              cloudify.interfaces.lifecycle:
                create:
                  implementation: p.mod.other
                  inputs: {z: 1}
    """)
    plan = parse_blueprint(str(path))
    same = node(plan, "same")["operations"]["cloudify.interfaces.lifecycle.create"]
    assert same["inputs"] == {"a": 1, "b": {"y": 2}, "c": "given", "extra": 5}
    assert same["max_retries"] == 3 and same["operation"] == "mod.create"
    other = node(plan, "other")["operations"]["cloudify.interfaces.lifecycle.create"]
    assert other["inputs"] == {"z": 1} and other["max_retries"] is None and other["operation"] == "mod.other"


def test_scaling_groups_and_instances(write_blueprint):
    path = write_blueprint("""
        node_templates:
          vm:
            type: cloudify.nodes.Compute
            capabilities: {scalable: {properties: {default_instances: 2, max_instances: 5}}}
          app:
            type: cloudify.nodes.SoftwareComponent
            instances: {deploy: 3}
            relationships: [{type: cloudify.relationships.contained_in, target: vm}]
        groups:
          g: {members: [vm]}
        policies:
          p: {type: cloudify.policies.scaling, targets: [g], properties: {default_instances: 2}}
    """)
    plan = parse_blueprint(str(path))
    assert node(plan, "vm")["number_of_instances"] == 2 and node(plan, "vm")["max_number_of_instances"] == 5
    assert node(plan, "app")["number_of_instances"] == 3 and node(plan, "app")["host_id"] == "vm"
    assert plan["scaling_groups"]["g"]["members"] == ["vm"]
    assert plan["scaling_groups"]["g"]["properties"]["default_instances"] == 2


def test_default_schedules_are_validated_and_kept(write_blueprint):
    path = write_blueprint("""
        node_templates: {}
        deployment_settings:
          default_schedules:
            nightly:
              workflow: install
              since: '+1h'
              recurrence: 1 day
              weekdays: [mo, tu]
              default_enabled: false
    """)
    plan = parse_blueprint(str(path))
    assert plan["default_schedules"]["nightly"]["workflow"] == "install"
    assert plan["default_schedules"]["nightly"]["default_enabled"] is False


BAD = {
    "malformed_yaml": ("node_templates:\n  a: [1\n  b: 2\n", "blueprint.yaml:"),
    "unknown_type": ("node_templates:\n  a: {type: nope.Type}\n", "Could not locate node type: 'nope.Type'"),
    "unknown_relationship": ("node_templates:\n  a: {type: cloudify.nodes.Root, relationships: "
                             "[{type: nope, target: a}]}\n", "declares an undefined relationship type 'nope'"),
    "relationship_to_missing_node": ("node_templates:\n  a: {type: cloudify.nodes.Root, relationships: "
                                     "[{type: cloudify.relationships.depends_on, target: ghost}]}\n",
                                     "declares an undefined target node 'ghost'"),
    "circular_derived_from": ("node_types:\n  x: {derived_from: y}\n  y: {derived_from: x}\n"
                              "node_templates:\n  a: {type: x}\n", "circular derived_from"),
    "circular_relationships": ("node_templates:\n"
                               "  a: {type: cloudify.nodes.Root, relationships: [{type: cloudify.relationships.depends_on, target: b}]}\n"
                               "  b: {type: cloudify.nodes.Root, relationships: [{type: cloudify.relationships.depends_on, target: a}]}\n",
                               "circular dependency"),
    "get_property_missing": ("node_templates:\n  a: {type: cloudify.nodes.Root, properties: {resource_id: "
                             "{get_property: [SELF, no_such_property]}}}\n", "no_such_property"),
    "get_input_missing": ("node_templates:\n  a: {type: cloudify.nodes.Root, properties: {resource_id: "
                          "{get_input: no_such_input}}}\n", "no_such_input"),
    "duplicate_key": ("node_templates:\n  a: {type: cloudify.nodes.Root}\n  a: {type: cloudify.nodes.Root}\n",
                      "duplicate key 'a'"),
    "bad_input_default_type": ("inputs:\n  port: {type: integer, default: abc}\nnode_templates: {}\n",
                               "type is 'integer'"),
    "constraint_violation": ("inputs:\n  port: {type: integer, default: 5, constraints: [{greater_than: 10}]}\n"
                             "node_templates: {}\n", "violates constraint greater_than"),
    "unknown_top_level_key": ("nodes: {}\n", "'nodes' is not in schema. Valid schema values: ['tosca_definitions_version'"),
    "unknown_property": ("node_templates:\n  a: {type: cloudify.nodes.Root, properties: {bogus: 1}}\n",
                         "'bogus' property is not part of the derived type properties schema"),
    "missing_mandatory_property": ("node_templates:\n  a: {type: cloudify.nodes.FileSystem}\n",
                                   "does not provide a value for mandatory 'fs_type' property"),
    "unknown_import": ("tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml, missing/other.yaml]\nnode_templates: {}\n", "missing/other.yaml"),
    "network_import": ("tosca_definitions_version: cloudify_dsl_1_4\nimports: ['https://example.com/x.yaml']\nnode_templates: {}\n", "https://example.com/x.yaml"),
    "plugin_import": ("tosca_definitions_version: cloudify_dsl_1_4\nimports: ['plugin:cloudify-aws-plugin']\nnode_templates: {}\n", "plugin:cloudify-aws-plugin"),
    "unknown_plugin_operation": ("node_templates:\n  a:\n    type: cloudify.nodes.Root\n    interfaces:\n"
                                 "      cloudify.interfaces.lifecycle:\n        create: nope.mod.func\n",
                                 "Could not extract plugin or a script resource is not found"),
    "workflow_without_mapping": ("workflows:\n  w: {parameters: {}}\nnode_templates: {}\n", "'mapping' key is required"),
    "bad_node_id": ("node_templates:\n  ../x: {type: cloudify.nodes.Root}\n", "not a valid id"),
    "two_contained_in": ("node_templates:\n  h1: {type: cloudify.nodes.Compute}\n  h2: {type: cloudify.nodes.Compute}\n"
                         "  a: {type: cloudify.nodes.Root, relationships: [{type: cloudify.relationships.contained_in, target: h1},"
                         " {type: cloudify.relationships.contained_in, target: h2}]}\n", "has more than one relationship that is derived from 'cloudify.relationships.contained_in'"),
    "non_scaling_policy": ("node_templates:\n  a: {type: cloudify.nodes.Root}\ngroups:\n  g: {members: [a]}\n"
                           "policies:\n  p: {type: other, targets: [g]}\n",
                           "'other' policy type is not implemented. Only 'cloudify.policies.scaling' policy type is "
                           "supported."),
    "schedule_bad_weekday": ("node_templates: {}\ndeployment_settings:\n  default_schedules:\n    s: {workflow: install, "
                             "since: '+1h', weekdays: [xx]}\n", "xx is not a valid weekday value"),
    "schedule_runtime_parameter": ("node_templates: {}\ndeployment_settings:\n  default_schedules:\n    s:\n"
                                   "      workflow: install\n      since: '+1h'\n      workflow_parameters:\n"
                                   "        a: {get_attribute: [x, y]}\n", "Please remove the `get_attribute` function"),
    "lifecycle_operation_not_on_target": ("node_templates:\n  t: {type: cloudify.nodes.Root}\n  s:\n"
                                          "    type: cloudify.nodes.Root\n    relationships:\n"
                                          "      - {type: cloudify.relationships.depends_on_lifecycle_operation, "
                                          "target: t, properties: {operation: configure}}\n",
                                          'Please define "configure" operation in the target node t'),
    "script_outside_folder": ("node_templates:\n  a:\n    type: cloudify.nodes.Root\n    interfaces:\n"
                              "      cloudify.interfaces.lifecycle:\n        create: ../outside.sh\n", "../outside.sh"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_blueprints_are_refused_with_one_line(write_blueprint, tmp_path, case):
    body, fragment = BAD[case]
    (tmp_path / "outside.sh").write_text("echo hi\n")
    path = write_blueprint(body, header=not body.startswith("tosca"))
    with pytest.raises(DSLError) as info:
        parse_blueprint(str(path))
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_error_names_file_and_line(write_blueprint):
    path = write_blueprint("node_templates:\n  a:\n    type: nope.Type\n")
    with pytest.raises(DSLError, match=r"^blueprint\.yaml:6: Could not locate node type: 'nope\.Type'"):
        parse_blueprint(str(path))


def test_bad_version(write_blueprint):
    path = write_blueprint("tosca_definitions_version: cloudify_dsl_9_9\nnode_templates: {}\n", header=False)
    with pytest.raises(DSLError, match="cloudify_dsl_9_9' is not supported"):
        parse_blueprint(str(path))


def test_missing_path():
    with pytest.raises(DSLError, match="does not exist"):
        parse_blueprint("/nonexistent/blueprint.yaml")
