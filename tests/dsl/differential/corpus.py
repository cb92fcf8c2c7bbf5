"""The differential corpus: blueprints (with their imported files, deployment inputs and
existing secrets) that cfy-local's parser and Cloudify's own parser both judge. Names say
what Cloudify does: ``valid_*`` are accepted and deployed, ``invalid_*`` are refused at
upload or at deployment create."""
from __future__ import annotations

V13 = "tosca_definitions_version: cloudify_dsl_1_3\nimports: [http://cloudify.co/spec/cloudify/7.0.0/types.yaml]\n"
V14 = "tosca_definitions_version: cloudify_dsl_1_4\nimports: [http://cloudify.co/spec/cloudify/7.0.0/types.yaml]\n"
V15 = "tosca_definitions_version: cloudify_dsl_1_5\nimports: [http://cloudify.co/spec/cloudify/7.0.0/types.yaml]\n"
VM = """  vm:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
"""
ROOT = "  app: {type: cloudify.nodes.Root}\n"


def case(blueprint: str, *, files: dict | None = None, inputs: dict | None = None, secrets: dict | None = None,
         runtime_only: bool = False) -> dict:
    return {"files": {"blueprint.yaml": blueprint, **(files or {})}, "inputs": inputs or {},
            "secrets": secrets or {}, "runtime_only": runtime_only}


DT_NESTED = """data_types:
  inner:
    properties:
      a: {type: integer, default: 1}
      b: {type: string, default: bee}
  outer:
    properties:
      inner: {type: inner, default: {a: 5}}
      name: {type: string}
      port: {type: integer, default: 80}
  derived:
    derived_from: outer
    properties:
      port: {type: integer, default: 8080}
node_types:
  t:
    derived_from: cloudify.nodes.Root
    properties:
      conf: {type: outer}
"""

CASES: dict[str, dict] = {
    # --- inputs: types, defaults, required, constraints --------------------------------
    "valid_inputs_defaults": case(V14 + """inputs:
  a: {type: integer, default: 3}
  b: {type: boolean, default: true}
  c: {type: float, default: 1.5}
  d: {type: list, default: [1, 2]}
  e: {type: dict, default: {k: v}}
node_templates:
""" + ROOT + """outputs:
  all: {value: [{get_input: a}, {get_input: b}, {get_input: c}, {get_input: d}, {get_input: e}]}
"""),
    "valid_string_takes_numbers": case(V14 + """inputs:
  port: {type: string, default: 8000}
  flag: {type: string, default: false}
node_templates:
""" + ROOT + """outputs:
  port: {value: {get_input: port}}
  flag: {value: {get_input: flag}}
"""),
    "valid_input_given": case(V14 + """inputs:
  n: {type: integer}
node_templates:
""" + ROOT + """outputs:
  n: {value: {get_input: n}}
""", inputs={"n": 7}),
    "invalid_input_missing": case(V14 + """inputs:
  n: {type: integer}
node_templates:
""" + ROOT),
    "invalid_input_unknown": case(V14 + """inputs:
  n: {type: integer, default: 1}
node_templates:
""" + ROOT, inputs={"zz": 1}),
    "invalid_input_default_wrong_type": case(V14 + """inputs:
  n: {type: integer, default: abc}
node_templates:
""" + ROOT),
    "invalid_input_constraint_default": case(V14 + """inputs:
  n:
    type: integer
    default: 10
    constraints: [{less_than: 5}]
node_templates:
""" + ROOT),
    "invalid_input_constraint_given": case(V14 + """inputs:
  n:
    type: integer
    constraints: [{in_range: [1, 3]}]
node_templates:
""" + ROOT, inputs={"n": 9}),
    "valid_input_constraints_ok": case(V14 + """inputs:
  name:
    type: string
    default: web-1
    constraints: [{pattern: "web-[0-9]+"}, {min_length: 3}, {valid_values: [web-1, web-2]}]
node_templates:
""" + ROOT + """outputs:
  n: {value: {get_input: name}}
"""),
    "valid_input_not_required": case(V14 + """inputs:
  x: {type: string, required: false}
node_templates:
""" + ROOT),
    "invalid_input_unknown_type": case(V14 + """inputs:
  x: {type: strang}
node_templates:
""" + ROOT),
    "invalid_input_wrong_type_given": case(V14 + """inputs:
  n: {type: integer}
node_templates:
""" + ROOT, inputs={"n": "many"}),
    "invalid_input_bad_constraint_name": case(V14 + """inputs:
  n:
    type: integer
    default: 1
    constraints: [{bigger_than: 0}]
node_templates:
""" + ROOT),
    # --- data types ------------------------------------------------------------------
    "valid_data_type_nested_defaults": case(V14 + DT_NESTED + """node_templates:
  n:
    type: t
    properties:
      conf: {name: x}
"""),
    "valid_data_type_function_inside": case(V14 + DT_NESTED + """inputs:
  who: {default: me}
node_templates:
  n:
    type: t
    properties:
      conf: {name: {get_input: who}, inner: {b: {get_input: who}}}
"""),
    "valid_data_type_derived_default": case(V14 + DT_NESTED.replace("conf: {type: outer}", "conf: {type: derived}")
                                            + """node_templates:
  n:
    type: t
    properties:
      conf: {name: y}
"""),
    "valid_data_type_partial_type_default": case(V14 + DT_NESTED.replace("conf: {type: outer}",
                                                                          "conf: {type: outer, default: {name: d}}")
                                                 + """node_templates:
  n:
    type: t
    properties:
      conf: {port: 1}
  m: {type: t}
"""),
    "invalid_data_type_missing_required": case(V14 + DT_NESTED + """node_templates:
  n:
    type: t
    properties:
      conf: {port: 1}
"""),
    "invalid_data_type_undefined_field": case(V14 + DT_NESTED + """node_templates:
  n:
    type: t
    properties:
      conf: {name: x, colour: red}
"""),
    "invalid_data_type_wrong_field_type": case(V14 + DT_NESTED + """node_templates:
  n:
    type: t
    properties:
      conf: {name: x, port: eighty}
"""),
    "invalid_data_type_unknown_parent": case(V14 + """data_types:
  a: {derived_from: nothere, properties: {x: {type: string}}}
node_templates:
""" + ROOT),
    "valid_input_of_data_type": case(V14 + DT_NESTED + """inputs:
  conf: {type: outer}
node_templates:
""" + ROOT + """outputs:
  conf: {value: {get_input: conf}}
""", inputs={"conf": {"name": "given"}}),
    "invalid_input_of_data_type_missing": case(V14 + DT_NESTED + """inputs:
  conf: {type: outer}
node_templates:
""" + ROOT, inputs={"conf": {"port": 2}}),
    # --- intrinsic functions -----------------------------------------------------------
    "valid_functions_everywhere": case(V14 + """inputs:
  host: {default: example.com}
  port: {type: integer, default: 80}
node_types:
  t:
    derived_from: cloudify.nodes.Root
    properties:
      url: {}
      copy: {}
      low: {}
      merged: {}
node_templates:
  a:
    type: t
    properties:
      url: {concat: ["http://", {get_input: host}, ":", {get_input: port}]}
      copy: {get_property: [SELF, url]}
      low: {string_upper: {get_input: host}}
      merged: {merge: [{x: 1}, {y: {get_input: port}}]}
  b:
    type: t
    properties:
      url: {get_property: [a, url]}
      copy: {get_attribute: [a, ip]}
      low: {string_replace: [{get_input: host}, example, test]}
      merged: {string_split: ["a,b,c", ",", 1]}
outputs:
  url: {value: {get_property: [b, url]}}
  split: {value: {string_split: ["a,b,c", ","]}}
  find: {value: {string_find: [{get_input: host}, com]}}
"""),
    "invalid_get_input_unknown": case(V14 + """node_types:
  t: {derived_from: cloudify.nodes.Root, properties: {p: {}}}
node_templates:
  a: {type: t, properties: {p: {get_input: nope}}}
"""),
    "invalid_get_property_unknown_node": case(V14 + """node_types:
  t: {derived_from: cloudify.nodes.Root, properties: {p: {}}}
node_templates:
  a: {type: t, properties: {p: {get_property: [ghost, p]}}}
"""),
    "invalid_get_property_unknown_property": case(V14 + """node_types:
  t: {derived_from: cloudify.nodes.Root, properties: {p: {}}}
node_templates:
  a: {type: t, properties: {p: {get_property: [SELF, q]}}}
"""),
    "invalid_get_attribute_unknown_node": case(V14 + """node_templates:
""" + ROOT + """outputs:
  o: {value: {get_attribute: [ghost, ip]}}
"""),
    "valid_get_input_nested_path": case(V14 + """inputs:
  cfg: {default: {a: {b: [10, 20]}}}
node_templates:
""" + ROOT + """outputs:
  deep: {value: {get_input: [cfg, a, b, 1]}}
"""),
    "valid_get_secret_exists": case(V14 + """node_types:
  t: {derived_from: cloudify.nodes.Root, properties: {pw: {}}}
node_templates:
  a: {type: t, properties: {pw: {get_secret: db_password}}}
""", secrets={"db_password": "s3cret"}),
    "invalid_get_secret_missing": case(V14 + """node_types:
  t: {derived_from: cloudify.nodes.Root, properties: {pw: {}}}
node_templates:
  a: {type: t, properties: {pw: {get_secret: db_password}}}
"""),
    "invalid_get_secret_missing_in_output": case(V14 + """node_templates:
""" + ROOT + """outputs:
  pw: {value: {get_secret: [api_keys, main]}}
"""),
    "invalid_get_secret_missing_runtime_only": case(V14 + """node_types:
  t: {derived_from: cloudify.nodes.Root, properties: {pw: {}}}
node_templates:
  a: {type: t, properties: {pw: {get_secret: db_password}}}
""", runtime_only=True),
    "invalid_get_secret_name_from_input": case(V14 + """inputs:
  which: {default: token}
node_templates:
""" + ROOT + """outputs:
  pw: {value: {get_secret: {get_input: which}}}
"""),
    # --- instance counts -----------------------------------------------------------------
    "valid_instances_from_input": case(V14 + """inputs:
  n: {type: integer, default: 3}
node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: {get_input: n}, max_instances: 5}
  app:
    type: cloudify.nodes.Root
    relationships: [{type: cloudify.relationships.contained_in, target: vm}]
"""),
    "valid_instances_min_max_from_input": case(V14 + """inputs:
  lo: {default: 1}
  hi: {default: 4}
node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: 2, min_instances: {get_input: lo}, max_instances: {get_input: hi}}
""", inputs={"hi": 6}),
    "valid_instances_zero": case(V14 + """node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: 0}
"""),
    "valid_instances_unbounded": case(V14 + """node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: 2, max_instances: UNBOUNDED}
"""),
    "valid_instances_deploy_legacy": case(V14 + """node_templates:
""" + VM + """    instances: {deploy: 2}
"""),
    "invalid_instances_deploy_function": case(V14 + """inputs:
  n: {default: 2}
node_templates:
""" + VM + """    instances: {deploy: {get_input: n}}
"""),
    "invalid_instances_negative": case(V14 + """node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: -1}
"""),
    "invalid_instances_default_above_max": case(V14 + """node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: 5, max_instances: 2}
"""),
    "invalid_instances_bad_string": case(V14 + """node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {max_instances: lots}
"""),
    "invalid_instances_both_forms": case(V14 + """node_templates:
""" + VM + """    instances: {deploy: 2}
    capabilities:
      scalable:
        properties: {default_instances: 2}
"""),
    "invalid_instances_not_a_function": case(V14 + """node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: {two: 2}}
"""),
    "invalid_instances_unknown_input": case(V14 + """node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: {get_input: n}}
"""),
    # --- scaling groups and policies ---------------------------------------------------
    "valid_scaling_group": case(V14 + """inputs:
  n: {default: 2}
node_templates:
""" + VM + """  ip: {type: cloudify.nodes.VirtualIP}
groups:
  pair: {members: [vm, ip]}
policies:
  scale_pair:
    type: cloudify.policies.scaling
    targets: [pair]
    properties: {default_instances: {get_input: n}}
"""),
    "valid_scaling_group_contained": case(V14 + """node_templates:
""" + VM + """  app:
    type: cloudify.nodes.Root
    relationships: [{type: cloudify.relationships.contained_in, target: vm}]
groups:
  g: {members: [vm]}
policies:
  p:
    type: cloudify.policies.scaling
    targets: [g]
    properties: {default_instances: 3, max_instances: 4}
"""),
    "invalid_policy_unknown_group": case(V14 + """node_templates:
""" + VM + """policies:
  p: {type: cloudify.policies.scaling, targets: [nope]}
"""),
    "invalid_group_unknown_member": case(V14 + """node_templates:
""" + VM + """groups:
  g: {members: [ghost]}
"""),
    "invalid_policy_counts": case(V14 + """node_templates:
""" + VM + """groups:
  g: {members: [vm]}
policies:
  p:
    type: cloudify.policies.scaling
    targets: [g]
    properties: {default_instances: 1, min_instances: 2}
"""),
    "invalid_policy_unknown_type": case(V14 + """node_templates:
""" + VM + """groups:
  g: {members: [vm]}
policies:
  p: {type: my.policy, targets: [g]}
"""),
    # --- imports -------------------------------------------------------------------------
    "valid_import_relative": case(V14.replace("]\n", ", parts/types.yaml]\n") + """node_templates:
  a: {type: my.t}
""", files={"parts/types.yaml": "imports: [more.yaml]\nnode_types:\n  my.t: {derived_from: my.base}\n",
            "parts/more.yaml": "node_types:\n  my.base: {derived_from: cloudify.nodes.Root}\n"}),
    "valid_import_same_file_twice": case(V14.replace("]\n", ", a.yaml, b.yaml]\n") + """node_templates:
  x: {type: my.t}
""", files={"a.yaml": "imports: [common.yaml]\n", "b.yaml": "imports: [common.yaml]\n",
            "common.yaml": "node_types:\n  my.t: {derived_from: cloudify.nodes.Root}\n"}),
    "valid_import_cycle": case(V14.replace("]\n", ", a.yaml]\n") + """node_templates:
  x: {type: my.a}
""", files={"a.yaml": "imports: [b.yaml]\nnode_types:\n  my.a: {derived_from: my.b}\n",
            "b.yaml": "imports: [a.yaml]\nnode_types:\n  my.b: {derived_from: cloudify.nodes.Root}\n"}),
    "invalid_import_duplicate_node_template": case(V14.replace("]\n", ", a.yaml]\n") + """node_templates:
  web: {type: cloudify.nodes.Root}
""", files={"a.yaml": "node_templates:\n  web: {type: cloudify.nodes.Root}\n"}),
    "invalid_import_duplicate_node_type": case(V14.replace("]\n", ", a.yaml, b.yaml]\n") + """node_templates:
  x: {type: my.t}
""", files={"a.yaml": "node_types:\n  my.t: {derived_from: cloudify.nodes.Root}\n",
            "b.yaml": "node_types:\n  my.t: {derived_from: cloudify.nodes.Compute}\n"}),
    "invalid_import_duplicate_input": case(V14.replace("]\n", ", a.yaml]\n") + """inputs:
  n: {default: 1}
node_templates:
""" + ROOT, files={"a.yaml": "inputs:\n  n: {default: 2}\n"}),
    "invalid_import_duplicate_output": case(V14.replace("]\n", ", a.yaml]\n") + """node_templates:
""" + ROOT + """outputs:
  o: {value: 1}
""", files={"a.yaml": "outputs:\n  o: {value: 2}\n"}),
    "invalid_import_duplicate_relationship": case(V14.replace("]\n", ", a.yaml]\n") + """relationships:
  my.rel: {derived_from: cloudify.relationships.depends_on}
node_templates:
""" + ROOT, files={"a.yaml": "relationships:\n  my.rel: {derived_from: cloudify.relationships.connected_to}\n"}),
    "valid_import_workflow_merged": case(V14.replace("]\n", ", a.yaml]\n") + """workflows:
  wf: {mapping: scripts/wf.py}
plugins:
  script: {executor: central_deployment_agent, install: false}
node_templates:
""" + ROOT, files={"a.yaml": "workflows:\n  wf: {mapping: scripts/wf.py, parameters: {x: {default: 1}}}\n",
                   "scripts/wf.py": "pass\n"}),
    "invalid_import_missing_file": case(V14.replace("]\n", ", nothere.yaml]\n") + """node_templates:
""" + ROOT),
    "invalid_import_not_a_list": case("""tosca_definitions_version: cloudify_dsl_1_4
imports: http://cloudify.co/spec/cloudify/7.0.0/types.yaml
node_templates:
""" + ROOT),
    "valid_import_overrides_cloudify_type": case(V14.replace("]\n", ", a.yaml]\n") + """node_templates:
""" + ROOT, files={"a.yaml": "node_types:\n  cloudify.nodes.Root: {interfaces: {}}\n"}),
    # --- type inheritance ------------------------------------------------------------------
    "valid_type_inheritance_properties": case(V14 + """node_types:
  base:
    derived_from: cloudify.nodes.Root
    properties:
      a: {default: 1}
      b: {type: string, default: x}
  child:
    derived_from: base
    properties:
      b: {type: string, default: y}
      c: {type: integer, default: 3}
node_templates:
  n: {type: child, properties: {a: 9}}
"""),
    "invalid_type_unknown_parent": case(V14 + """node_types:
  t: {derived_from: nothere}
node_templates:
  n: {type: t}
"""),
    "invalid_template_unknown_type": case(V14 + """node_templates:
  n: {type: nothere}
"""),
    "invalid_template_undeclared_property": case(V14 + """node_templates:
  n: {type: cloudify.nodes.Root, properties: {colour: red}}
"""),
    "invalid_template_missing_property": case(V14 + """node_types:
  t: {derived_from: cloudify.nodes.Root, properties: {needed: {type: string}}}
node_templates:
  n: {type: t}
"""),
    "invalid_property_wrong_type": case(V14 + """node_types:
  t: {derived_from: cloudify.nodes.Root, properties: {n: {type: integer}}}
node_templates:
  x: {type: t, properties: {n: "3"}}
"""),
    "valid_relationship_inheritance": case(V14 + """relationships:
  my.rel:
    derived_from: cloudify.relationships.connected_to
    properties:
      weight: {type: integer, default: 2}
node_templates:
""" + VM + """  app:
    type: cloudify.nodes.Root
    relationships:
      - {type: cloudify.relationships.contained_in, target: vm}
  db:
    type: cloudify.nodes.Root
    relationships:
      - {type: my.rel, target: app, properties: {weight: 5}}
      - {type: cloudify.relationships.depends_on, target: vm}
"""),
    "invalid_relationship_unknown_type": case(V14 + """node_templates:
""" + VM + """  app:
    type: cloudify.nodes.Root
    relationships: [{type: my.rel, target: vm}]
"""),
    "invalid_relationship_unknown_target": case(V14 + """node_templates:
  app:
    type: cloudify.nodes.Root
    relationships: [{type: cloudify.relationships.depends_on, target: ghost}]
"""),
    "invalid_relationship_undefined_property": case(V14 + """node_templates:
""" + VM + """  app:
    type: cloudify.nodes.Root
    relationships: [{type: cloudify.relationships.depends_on, target: vm, properties: {nope: 1}}]
"""),
    # --- interfaces and operation inputs ---------------------------------------------------
    "valid_operation_inputs": case(V14 + """inputs:
  greeting: {default: hi}
plugins:
  script: {executor: central_deployment_agent, install: false}
node_types:
  t:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/create.sh
          inputs:
            who: {default: world}
            greeting: {type: string, default: hello}
node_templates:
  a:
    type: t
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          inputs: {greeting: {get_input: greeting}}
""", files={"scripts/create.sh": "echo\n"}),
    "invalid_operation_unknown_plugin": case(V14 + """node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: nothere.tasks.create
"""),
    "invalid_operation_missing_input": case(V14 + """plugins:
  script: {executor: central_deployment_agent, install: false}
node_types:
  t:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/create.sh
          inputs:
            who: {type: string}
node_templates:
  a: {type: t}
""", files={"scripts/create.sh": "echo\n"}),
    "invalid_operation_unknown_key": case(V14 + """plugins:
  script: {executor: central_deployment_agent, install: false}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: scripts/create.sh, colour: red}
""", files={"scripts/create.sh": "echo\n"}),
    "valid_custom_interface": case(V14 + """plugins:
  script: {executor: central_deployment_agent, install: false}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      my.ops:
        check: {implementation: scripts/create.sh, max_retries: 2, retry_interval: 1}
""", files={"scripts/create.sh": "echo\n"}),
    # --- workflows and parameters ------------------------------------------------------------
    "valid_workflow_parameters": case(V14 + """plugins:
  script: {executor: central_deployment_agent, install: false}
workflows:
  wf:
    mapping: scripts/wf.py
    parameters:
      count: {type: integer, default: 2}
      names: {type: list, item_type: string, default: [a]}
node_templates:
""" + ROOT, files={"scripts/wf.py": "pass\n"}),
    "invalid_workflow_no_mapping": case(V14 + """workflows:
  wf: {parameters: {x: {}}}
node_templates:
""" + ROOT),
    "invalid_workflow_parameter_bad_default": case(V14 + """plugins:
  script: {executor: central_deployment_agent, install: false}
workflows:
  wf:
    mapping: scripts/wf.py
    parameters:
      count: {type: integer, default: many}
node_templates:
""" + ROOT, files={"scripts/wf.py": "pass\n"}),
    "invalid_workflow_unknown_plugin": case(V14 + """workflows:
  wf: nothere.workflows.run
node_templates:
""" + ROOT),
    # --- deployment_settings ------------------------------------------------------------------
    "valid_deployment_settings": case(V14 + """deployment_settings:
  default_schedules:
    nightly:
      workflow: install
      since: "+1h"
      recurrence: 1 day
node_templates:
""" + ROOT),
    "valid_deployment_settings_unknown_workflow": case(V14 + """deployment_settings:
  default_schedules:
    nightly: {workflow: nothere, since: "+1h"}
node_templates:
""" + ROOT),
    "invalid_deployment_settings_unknown_key": case(V14 + """deployment_settings:
  colour: red
node_templates:
""" + ROOT),
    "invalid_deployment_settings_bad_recurrence": case(V14 + """deployment_settings:
  default_schedules:
    s: {workflow: install, since: "+1h", recurrence: often}
node_templates:
""" + ROOT),
    # --- dsl_definitions -------------------------------------------------------------------------
    "valid_dsl_definitions_anchor": case(V14 + """dsl_definitions:
  agent: &agent
    install_method: none
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties:
      agent_config: *agent
"""),
    "valid_dsl_definitions_merge_key": case(V14 + """dsl_definitions:
  common: &common
    install_method: none
    port: 2222
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties:
      agent_config:
        <<: *common
        port: 22
"""),
    # --- DSL versions ---------------------------------------------------------------------------
    "valid_version_1_3": case(V13 + """inputs:
  n: {type: integer, default: 2}
node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: {get_input: n}}
"""),
    "valid_version_1_5": case(V15 + """inputs:
  op: {type: string, default: x}
node_templates:
""" + ROOT),
    "invalid_version_unknown": case("""tosca_definitions_version: cloudify_dsl_9_9
node_templates:
  a: {type: cloudify.nodes.Root}
"""),
    "invalid_version_missing": case("""node_templates:
  a: {type: cloudify.nodes.Root}
"""),
    "invalid_version_1_3_item_type": case(V13 + """inputs:
  xs: {type: list, item_type: string, default: []}
node_templates:
""" + ROOT),
    "invalid_version_1_3_object_type": case(V13 + """inputs:
  n: {type: node_id, default: app}
node_templates:
""" + ROOT),
    "invalid_version_1_4_operation_name": case(V14 + """inputs:
  op: {type: operation_name, default: x}
node_templates:
""" + ROOT),
    # --- structure ------------------------------------------------------------------------------
    "invalid_unknown_top_level_key": case(V14 + """colour: red
node_templates:
""" + ROOT),
    "invalid_yaml_syntax": case(V14 + """node_templates:
  a: {type: cloudify.nodes.Root
"""),
    "invalid_template_unknown_key": case(V14 + """node_templates:
  a: {type: cloudify.nodes.Root, colour: red}
"""),
    "invalid_template_missing_type": case(V14 + """node_templates:
  a: {properties: {}}
"""),
    "valid_outputs_and_capabilities": case(V14 + """inputs:
  a: {default: 1}
node_templates:
""" + ROOT + """outputs:
  o: {value: {get_input: a}, description: the a}
capabilities:
  c: {value: {concat: [x, {get_input: a}]}}
"""),
    "invalid_output_without_value": case(V14 + """node_templates:
""" + ROOT + """outputs:
  o: {description: nothing}
"""),
    "valid_get_attribute_output_kept": case(V14 + """node_templates:
""" + VM + """outputs:
  ip: {value: {get_attribute: [vm, ip]}}
  both: {value: {concat: [{get_attribute: [vm, ip]}, ":80"]}}
"""),
    "valid_list_item_type_checked": case(V14 + """inputs:
  ports: {type: list, item_type: integer, default: [80, 443]}
node_templates:
""" + ROOT + """outputs:
  p: {value: {get_input: ports}}
"""),
    "valid_property_default_used": case(V14 + """node_types:
  t:
    derived_from: cloudify.nodes.Root
    properties:
      size: {type: integer, default: 3}
      name: {type: string, required: false}
node_templates:
  a: {type: t}
"""),
    "valid_all_to_one_relationship": case(V14 + """node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: 2}
  lb: {type: cloudify.nodes.Root}
  app:
    type: cloudify.nodes.Root
    relationships:
      - type: cloudify.relationships.contained_in
        target: vm
      - type: cloudify.relationships.connected_to
        target: lb
        properties: {connection_type: all_to_one}
"""),
    "valid_merge_and_concat_in_outputs": case(V14 + """inputs:
  a: {default: {x: 1}}
node_templates:
""" + ROOT + """outputs:
  m: {value: {merge: [{get_input: a}, {y: 2}]}}
  c: {value: {concat: [a, b, 3]}}
"""),
    "valid_nested_contained_in": case(V14 + """node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: 2}
  mid:
    type: cloudify.nodes.Root
    capabilities:
      scalable:
        properties: {default_instances: 2}
    relationships: [{type: cloudify.relationships.contained_in, target: vm}]
  leaf:
    type: cloudify.nodes.Root
    relationships: [{type: cloudify.relationships.contained_in, target: mid}]
"""),
    "valid_relationship_property_functions": case(V14 + """inputs:
  kind: {default: all_to_one}
relationships:
  my.rel:
    derived_from: cloudify.relationships.connected_to
    properties:
      label: {type: string, default: none}
node_templates:
""" + VM + """  db:
    type: cloudify.nodes.Root
    relationships:
      - type: my.rel
        target: vm
        properties: {label: {concat: [to-, {get_property: [TARGET, agent_config, install_method]}]},
                     connection_type: all_to_one}
"""),
    "valid_capabilities_evaluated": case(V14 + """inputs:
  endpoint: {default: "http://x"}
node_templates:
""" + ROOT + """capabilities:
  url: {value: {get_input: endpoint}}
  upper: {value: {string_upper: {get_input: endpoint}}}
"""),
    "valid_runtime_functions_kept": case(V14 + """node_templates:
""" + ROOT + """outputs:
  dep: {value: {get_sys: [deployment, id]}}
  attrs: {value: {get_attributes_list: [app, ip]}}
  both: {value: {concat: [{get_sys: [tenant, name]}, "-", {get_attribute: [app, ip]}]}}
"""),
    "valid_operation_inputs_source_target": case(V14 + """plugins:
  script: {executor: central_deployment_agent, install: false}
node_templates:
""" + VM + """  app:
    type: cloudify.nodes.Root
    relationships:
      - type: cloudify.relationships.contained_in
        target: vm
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            preconfigure:
              implementation: scripts/create.sh
              inputs:
                host: {get_property: [TARGET, os_family]}
                me: {get_attribute: [SOURCE, name]}
""", files={"scripts/create.sh": "echo\n"}),
    "valid_instances_from_get_property": case(V14 + """node_types:
  sized:
    derived_from: cloudify.nodes.Root
    properties:
      count: {type: integer, default: 3}
node_templates:
  cfg: {type: sized}
  app:
    type: cloudify.nodes.Root
    capabilities:
      scalable:
        properties: {default_instances: {get_property: [cfg, count]}}
"""),
    "valid_number_as_string_property": case(V14 + """node_types:
  t:
    derived_from: cloudify.nodes.Root
    properties:
      port: {type: string}
      flag: {type: string}
      listy: {type: string}
node_templates:
  a: {type: t, properties: {port: 8080, flag: true, listy: [1, 2]}}
"""),
    "valid_deployment_settings_with_parameters": case(V14 + """inputs:
  level: {default: 2}
deployment_settings:
  default_schedules:
    s1:
      workflow: execute_operation
      since: "12:00"
      recurrence: 2 hours
      count: 3
      workflow_parameters:
        operation: cloudify.interfaces.lifecycle.start
        operation_kwargs: {level: {get_input: level}}
node_templates:
""" + ROOT),
    "invalid_deployment_settings_get_attribute": case(V14 + """deployment_settings:
  default_schedules:
    s1:
      workflow: install
      since: "+1h"
      workflow_parameters: {x: {get_attribute: [app, ip]}}
node_templates:
""" + ROOT),
    "invalid_input_of_unknown_data_type_field": case(V14 + DT_NESTED + """inputs:
  conf: {type: outer}
node_templates:
""" + ROOT, inputs={"conf": {"name": "x", "extra": 1}}),
    "invalid_boolean_mapping_key": case(V14 + """node_types:
  t:
    derived_from: cloudify.nodes.Root
    properties:
      on: {type: string, default: x}
node_templates:
  a: {type: t}
"""),
    "invalid_concat_of_unknown_input": case(V14 + """node_templates:
""" + ROOT + """outputs:
  o: {value: {concat: [a, {get_input: missing}]}}
"""),
    "valid_operation_override_other_implementation": case(V14 + """plugins:
  script: {executor: central_deployment_agent, install: false}
node_types:
  t:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/a.sh
          inputs:
            kept: {default: from-type}
node_templates:
  n:
    type: t
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/b.sh
          inputs: {mine: 1}
""", files={"scripts/a.sh": "echo\n", "scripts/b.sh": "echo\n"}),
    "valid_workflow_parameter_default_function": case(V14 + """inputs:
  level: {default: 3}
plugins:
  script: {executor: central_deployment_agent, install: false}
workflows:
  wf:
    mapping: scripts/wf.py
    parameters:
      level: {default: {get_input: level}}
node_templates:
""" + ROOT, files={"scripts/wf.py": "pass\n"}),
    "valid_get_property_through_data_type": case(V14 + DT_NESTED + """node_templates:
  n:
    type: t
    properties:
      conf: {name: x}
  other:
    type: t
    properties:
      conf: {name: {get_property: [n, conf, inner, b]}}
outputs:
  port: {value: {get_property: [n, conf, port]}}
"""),
    "valid_nested_imports_in_folders": case(V14.replace("]\n", ", lib/a.yaml]\n") + """node_templates:
  x: {type: my.c}
""", files={"lib/a.yaml": "imports: [sub/b.yaml]\nnode_types:\n  my.c: {derived_from: my.b}\n",
            "lib/sub/b.yaml": "imports: [c.yaml]\nnode_types:\n  my.b: {derived_from: my.a}\n",
            "lib/sub/c.yaml": "node_types:\n  my.a: {derived_from: cloudify.nodes.Root, properties: {p: {default: 1}}}\n"}),
    "valid_import_inputs_and_outputs_merged": case(V14.replace("]\n", ", a.yaml]\n") + """inputs:
  a: {default: 1}
node_templates:
""" + ROOT + """outputs:
  a: {value: {get_input: a}}
""", files={"a.yaml": "inputs:\n  b: {default: 2}\noutputs:\n  b: {value: {get_input: b}}\n"}),
    "invalid_import_duplicate_plugin": case(V14.replace("]\n", ", a.yaml]\n") + """plugins:
  mine: {executor: central_deployment_agent, install: false}
node_templates:
""" + ROOT, files={"a.yaml": "plugins:\n  mine: {executor: host_agent, install: false}\n"}),
    "invalid_import_duplicate_data_type": case(V14.replace("]\n", ", a.yaml]\n") + """data_types:
  d: {properties: {x: {default: 1}}}
node_templates:
""" + ROOT, files={"a.yaml": "data_types:\n  d: {properties: {y: {default: 1}}}\n"}),
    "invalid_import_policies_twice": case(V14.replace("]\n", ", a.yaml]\n") + """node_templates:
""" + VM + """groups:
  g: {members: [vm]}
  h: {members: [vm]}
policies:
  p: {type: cloudify.policies.scaling, targets: [g]}
""", files={"a.yaml": "policies:\n  q: {type: cloudify.policies.scaling, targets: [h]}\n"}),
    "valid_node_template_id_with_space": case(V14 + """node_templates:
  "bad id": {type: cloudify.nodes.Root}
"""),
    "invalid_operation_bad_executor": case(V14 + """plugins:
  script: {executor: central_deployment_agent, install: false}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: scripts/create.sh, executor: elsewhere}
""", files={"scripts/create.sh": "echo\n"}),
    "invalid_relationship_unknown_key": case(V14 + """node_templates:
""" + VM + """  app:
    type: cloudify.nodes.Root
    relationships: [{type: cloudify.relationships.depends_on, target: vm, colour: red}]
"""),
    "invalid_two_contained_in": case(V14 + """node_templates:
""" + VM + """  vm2:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
  app:
    type: cloudify.nodes.Root
    relationships:
      - {type: cloudify.relationships.contained_in, target: vm}
      - {type: cloudify.relationships.contained_in, target: vm2}
"""),
    "valid_node_template_extended_by_import": case(V14.replace("]\n", ", more.yaml]\n") + """node_templates:
""" + VM + """  db: {type: cloudify.nodes.Root}
  app:
    type: cloudify.nodes.Root
    relationships: [{type: cloudify.relationships.contained_in, target: vm}]
""", files={"more.yaml": "node_templates:\n  app:\n    relationships:\n"
                        "      - {type: cloudify.relationships.depends_on, target: db}\n"}),
    "valid_node_template_relationships_first": case(V14.replace("]\n", ", more.yaml]\n") + """node_templates:
""" + VM + """  app:
    relationships: [{type: cloudify.relationships.contained_in, target: vm}]
""", files={"more.yaml": "node_templates:\n  app: {type: cloudify.nodes.Root}\n"}),
    "valid_deployment_settings_display_name": case(V14 + """inputs:
  env: {default: prod}
deployment_settings:
  display_name: {concat: [web-, {get_input: env}]}
  default_groups: [web]
  id_template: "web-{uuid}"
node_templates:
""" + ROOT),
    "valid_resource_tags": case(V14.replace("]\n", ", a.yaml]\n") + """resource_tags:
  owner: me
node_templates:
""" + ROOT, files={"a.yaml": "resource_tags:\n  team: web\n"}),
    "invalid_deployment_settings_groups_not_list": case(V14 + """deployment_settings:
  default_groups: web
node_templates:
""" + ROOT),
    "invalid_node_template_description": case(V14 + """node_templates:
  a: {type: cloudify.nodes.Root, description: the app}
"""),
    "invalid_instances_unknown_key": case(V14 + """node_templates:
""" + VM + """    capabilities:
      scalable:
        properties: {default_instances: 1, current_instances: 1}
"""),
    "invalid_unknown_capability": case(V14 + """node_templates:
""" + VM + """    capabilities:
      elastic: {properties: {}}
"""),
    "invalid_get_input_path_into_a_number": case(V14 + """inputs:
  n: {default: 2}
plugins:
  script: {executor: central_deployment_agent, install: false}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: scripts/a.sh, inputs: {x: {get_input: [n, 0]}}}
""", files={"scripts/a.sh": "echo\n"}),
    "invalid_operation_input_unknown_property": case(V14 + """plugins:
  script: {executor: central_deployment_agent, install: false}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: scripts/a.sh, inputs: {x: {get_property: [SELF, nope]}}}
""", files={"scripts/a.sh": "echo\n"}),
    "valid_operation_timeouts": case(V14 + """plugins:
  script: {executor: central_deployment_agent, install: false}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: scripts/a.sh, timeout: 10, timeout_recoverable: true, retry_interval: 2.5}
""", files={"scripts/a.sh": "echo\n"}),
    "invalid_operation_retries_from_input": case(V14 + """inputs:
  n: {default: 2}
plugins:
  script: {executor: central_deployment_agent, install: false}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: scripts/a.sh, max_retries: {get_input: n}}
""", files={"scripts/a.sh": "echo\n"}),
}
