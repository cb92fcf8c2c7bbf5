"""The engine behind the real CLI and worker process (one end-to-end pass)."""
from __future__ import annotations

import json
import textwrap


def test_install_and_uninstall_through_the_cli(cfy_proc, tmp_path):
    folder = tmp_path / "bp"
    (folder / "plugin" / "e2e_ops_pkg").mkdir(parents=True)
    (folder / "plugin" / "e2e_ops_pkg" / "__init__.py").write_text("")
    (folder / "plugin" / "e2e_ops_pkg" / "ops.py").write_text(textwrap.dedent("""
        from cloudify import ctx
        from cloudify.decorators import operation

        @operation
        def create(**kwargs):
            ctx.instance.runtime_properties['greeting'] = 'hello from ' + ctx.instance.id
            ctx.logger.info('created %s', ctx.instance.id)
    """))
    (folder / "blueprint.yaml").write_text(textwrap.dedent("""
        tosca_definitions_version: cloudify_dsl_1_4
        imports: [cloudify/types/types.yaml]
        plugins:
          e2e:
            executor: central_deployment_agent
            source: plugin
        node_templates:
          thing:
            type: cloudify.nodes.Root
            interfaces:
              cloudify.interfaces.lifecycle:
                create: e2e.e2e_ops_pkg.ops.create
        outputs:
          greeting:
            value: { get_attribute: [thing, greeting] }
    """))
    installed = cfy_proc("install", str(folder / "blueprint.yaml"), "-b", "e2e", "-d", "e2e")
    assert installed.exit_code == 0, installed
    assert "'install' workflow execution succeeded" in installed.stdout
    instances = cfy_proc("node-instances", "list", "-d", "e2e", "--json")
    [instance] = json.loads(instances.stdout)
    assert instance["state"] == "started"
    outputs = cfy_proc("deployments", "outputs", "e2e", "--json")
    assert "hello from " + instance["id"] in outputs.stdout
    executions = json.loads(cfy_proc("executions", "list", "--json").stdout)
    install = next(e for e in executions if e["workflow_id"] == "install")
    assert install["status"] == "terminated"
    record = json.loads(cfy_proc("executions", "get", install["id"], "--json").stdout)
    assert (record["total_operations"], record["finished_operations"]) == (1, 1)
    removed = cfy_proc("uninstall", "e2e")
    assert removed.exit_code == 0, removed
