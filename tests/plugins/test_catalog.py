"""The plugin catalog through the real CLI: upload (source folder), list/get/delete with
Cloudify's columns and texts, refusals that change nothing, and ``plugin:`` imports."""
from __future__ import annotations

import os
import textwrap

import pytest

from cfy_local.plugins import catalog, resolver
from cfy_local.store.paths import Home
from plugin_builds import deploy_with_plugin, source_plugin

CODE = """
import sys

from cloudify import ctx


def create(**kwargs):
    ctx.instance.runtime_properties['python'] = sys.executable
    ctx.instance.runtime_properties['who'] = ctx.node.properties.get('who')


def create_all(ctx, **kwargs):
    # a workflow of an uploaded plugin: it runs in the worker, its operations in the plugin's env
    graph = ctx.graph_mode()
    for instance in ctx.node_instances:
        graph.add_task(instance.execute_operation('cloudify.interfaces.lifecycle.create'))
    return graph.execute()
"""


def _yaml(name, version, node_type, module):
    return f"""\
plugins:
  {module}:
    executor: central_deployment_agent
    package_name: {name}
    package_version: '{version}'
node_types:
  {node_type}:
    derived_from: cloudify.nodes.Root
    properties:
      who: {{default: '{version}'}}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {module}.{module}.tasks.create
workflows:
  create_all: {module}.{module}.tasks.create_all
"""


def test_upload_list_get_delete(cfy, tmp_path, home):
    folder, plugin_yaml = source_plugin(tmp_path, "demo-plug", "1.2.0", CODE,
                                        yaml=_yaml("demo-plug", "1.2.0", "demo.Node", "demo_plug"))
    result = cfy("plugins", "upload", str(folder), "-y", str(plugin_yaml))
    assert result.exit_code == 0, result
    assert "Installing demo-plug-1.2.0 with pip..." in result.stdout
    plugin_id = result.stdout.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    assert result.stdout.strip().endswith(f"Plugin uploaded. Plugin's id is {plugin_id}")

    listed = cfy("plugins", "list")
    assert listed.exit_code == 0
    header = [c.strip() for c in listed.stdout.splitlines()[4].strip("|").split("|")]
    assert header == catalog.PLUGIN_COLUMNS
    assert "Showing 1 of 1 plugins" in listed.stdout and "1 managers" in listed.stdout
    rows = cfy("plugins", "list", "--json").json
    assert rows[0]["id"] == plugin_id and rows[0]["package_version"] == "1.2.0"
    assert rows[0]["yaml_url_path"].startswith("plugin:demo-plug?version=1.2.0&distribution=")
    assert cfy("status", "--json").json["plugins"] == {"total": 1}
    env = catalog.env_dir(Home.open(str(home)), "demo-plug", "1.2.0")
    assert os.path.exists(os.path.join(env, "bin", "python"))

    got = cfy("plugins", "get", plugin_id)
    assert got.exit_code == 0 and "Plugin installation state:" in got.stdout and "Manager localhost" in got.stdout

    # the same package and version again: refused, nothing added
    again = cfy("plugins", "upload", str(folder), "-y", str(plugin_yaml))
    assert again.exit_code == 1 and "already uploaded" in again.stderr
    assert len(cfy("plugins", "list", "--json").json) == 1

    # a blueprint using it through plugin: blocks deletion unless forced
    bp = tmp_path / "bp"
    bp.mkdir()
    (bp / "blueprint.yaml").write_text(textwrap.dedent("""\
        tosca_definitions_version: cloudify_dsl_1_4
        imports:
          - cloudify/types/types.yaml
          - plugin:demo-plug?version= >=1.0,<2
        node_templates:
          n: {type: demo.Node}
        """))
    assert cfy("blueprints", "upload", str(bp / "blueprint.yaml"), "-b", "bp").exit_code == 0
    assert cfy("deployments", "create", "dep", "-b", "bp").exit_code == 0
    ran = cfy("executions", "start", "create_all", "-d", "dep")
    assert ran.exit_code == 0, ran
    from cfy_local.deployments import api

    props = api.list_node_instances(Home.open(str(home)), "dep")[0]["runtime_properties"]
    assert props == {"python": os.path.join(env, "bin", "python"), "who": "1.2.0"}
    refused = cfy("plugins", "delete", plugin_id)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (f'Plugin "{plugin_id}" is currently in use in blueprints: bp. '
                                      f'You can "force" plugin removal if needed.')
    assert cfy("plugins", "delete", plugin_id, "-f").exit_code == 0
    assert cfy("plugins", "list", "--json").json == []
    assert not os.path.exists(env)
    missing = cfy("plugins", "get", plugin_id)
    assert missing.exit_code == 1 and f"Requested `Plugin` with ID `{plugin_id}` was not found" in missing.stderr


def test_failed_upload_registers_nothing(cfy, tmp_path, home):
    folder, plugin_yaml = source_plugin(tmp_path, "broken-plug", "0.1", CODE)
    (folder / "setup.py").write_text("raise SystemExit('this plugin cannot be built')\n")
    result = cfy("plugins", "upload", str(folder), "-y", str(plugin_yaml))
    assert result.exit_code == 1 and "failed" in result.stderr and "Traceback" not in result.stderr
    h = Home.open(str(home))
    assert catalog.list_plugins(h) == []
    assert [n for n in os.listdir(catalog.envs_dir(h))] == []
    bad_yaml = cfy("plugins", "upload", str(folder), "-y", str(tmp_path / "nope.yaml"))
    assert bad_yaml.exit_code == 1 and "nope.yaml does not exist" in bad_yaml.stderr
    not_a_wagon = tmp_path / "x.wgn"
    not_a_wagon.write_text("garbage")
    bad = cfy("plugins", "upload", str(not_a_wagon), "-y", str(plugin_yaml))
    assert bad.exit_code == 1 and "The provided wagon archive can not be read." in bad.stderr
    invalid = cfy("plugins", "validate", str(not_a_wagon))
    assert invalid.exit_code == 1 and "can not be read" in invalid.stderr


def test_two_versions_and_conflicting_pins_both_work(cfy, tmp_path, home):
    """Two versions of one plugin pin different versions of a dependency; each operation sees
    its own. The blueprint's version constraint picks which one runs."""
    code = """
from cloudify import ctx
import six


def create(**kwargs):
    ctx.instance.runtime_properties['six'] = six.__version__
"""
    for version, six_pin in (("1.0.0", "six==1.15.0"), ("2.0.0", "six==1.16.0")):
        folder, plugin_yaml = source_plugin(tmp_path, "pinned-plug", version, code, requires=[six_pin],
                                            yaml=_yaml("pinned-plug", version, "pinned.Node", "pinned_plug"))
        assert cfy("plugins", "upload", str(folder), "-y", str(plugin_yaml)).exit_code == 0
    for name, spec in (("old", "version=<2"), ("new", "")):
        bp = tmp_path / f"bp-{name}"
        bp.mkdir()
        query = f"?{spec}" if spec else ""
        (bp / "blueprint.yaml").write_text(textwrap.dedent(f"""\
            tosca_definitions_version: cloudify_dsl_1_4
            imports:
              - cloudify/types/types.yaml
              - plugin:pinned-plug{query}
            node_templates:
              n: {{type: pinned.Node}}
            """))
        assert cfy("blueprints", "upload", str(bp / "blueprint.yaml"), "-b", name).exit_code == 0
        assert cfy("deployments", "create", name, "-b", name).exit_code == 0
        done = cfy("executions", "start", "install", "-d", name)
        assert done.exit_code == 0, done
    from cfy_local.deployments import api

    h = Home.open(str(home))
    old = api.list_node_instances(h, "old")[0]["runtime_properties"]
    new = api.list_node_instances(h, "new")[0]["runtime_properties"]
    assert old["six"] == "1.15.0" and new["six"] == "1.16.0"


def test_plugin_import_errors_are_the_managers(cfy, tmp_path, home):
    bp = tmp_path / "bp"
    bp.mkdir()

    def upload(import_line):
        (bp / "blueprint.yaml").write_text(f"tosca_definitions_version: cloudify_dsl_1_4\nimports:\n"
                                           f"  - cloudify/types/types.yaml\n  - {import_line}\n")
        return cfy("blueprints", "upload", str(bp / "blueprint.yaml"), "-b", "x")

    missing = upload("plugin:not-there?version=1.2")
    assert missing.exit_code == 1
    assert 'Couldn\'t find plugin "not-there" with version ===1.2 for ' in missing.stderr
    assert "in the plugins catalog. Please upload the plugin using the console, or cfy plugins upload" in missing.stderr
    bad_param = upload("plugin:not-there?colour=red")
    assert "Error parsing spec for plugin not-there: invalid parameter colour" in bad_param.stderr
    empty = upload("plugin:not-there?version=")
    assert "are in an invalid form. Please refer to the documentation for valid forms of versions" in empty.stderr
    assert not os.path.exists(os.path.join(str(home), "blueprints", "x"))


@pytest.mark.parametrize("files,dsl,expected", [
    (["plugin_1_4.yaml", "plugin_1_5.yaml"], "1_3", ""),
    (["plugin.yaml", "plugin_1_4.yaml", "plugin_1_5.yaml"], "1_3", "plugin.yaml"),
    (["plugin_1_4.yaml"], "1_5", "plugin_1_4.yaml"),
    (["plugin.yaml", "plugin_1_4.yaml", "plugin_1_5.yaml"], "1_4", "plugin_1_4.yaml"),
    (["plugin_1_4.yaml", "plugin_1_5.yaml"], None, "plugin_1_5.yaml"),
])
def test_yaml_chosen_for_the_dsl_version(files, dsl, expected):
    assert resolver.yaml_for_dsl_version(files, dsl) == expected


def test_version_specifiers_are_anded_and_exact_pieces_are_string_equal():
    name, filters = resolver.parse_spec("plugin:p?version=>=1.2,<2&version=!=1.5")
    spec = resolver._specifier_set(filters["package_version"], name)
    assert "1.4" in spec and "1.5" not in spec and "2.0" not in spec and "1.1" not in spec
    exact = resolver._specifier_set(["1.2"], "p")
    assert "1.2" in exact and "1.2.0" not in exact


def test_shim_plugin_host_restarts_after_a_crash(cfy, tmp_path, home):
    """A plugin without cloudify-common gets the shim (ctx, decorators, constants,
    get_rest_client); an operation that kills its host fails the task with a clear error,
    and the deployment's next execution runs normally in a new host."""
    code = """
import os

from cloudify import constants, ctx
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError
from cloudify.manager import get_rest_client


@operation
def create(**kwargs):
    ctx.instance.runtime_properties['pid'] = os.getpid()
    ctx.instance.runtime_properties['kind'] = ctx.type == constants.NODE_INSTANCE
    ctx.instance.runtime_properties['deployment'] = get_rest_client().deployments.get(ctx.deployment.id)['id']


@operation
def crash(**kwargs):
    os._exit(3)


@operation
def refuse(**kwargs):
    raise NonRecoverableError('shim says no')
"""
    yaml = """\
plugins:
  shimp:
    executor: central_deployment_agent
    package_name: shim-plug
    package_version: '0.1'
"""
    plugin = source_plugin(tmp_path, "shim-plug", "0.1", code, module="shimp", yaml=yaml)
    deploy_with_plugin(cfy, tmp_path, plugin, "shim-plug", """\
        n:
          type: cloudify.nodes.Root
          interfaces:
            cloudify.interfaces.lifecycle:
              create: shimp.shimp.tasks.create
              configure: shimp.shimp.tasks.crash
              start: shimp.shimp.tasks.create
              stop: shimp.shimp.tasks.refuse
        """)
    crashed = cfy("executions", "start", "install", "-d", "dep")
    assert crashed.exit_code == 1 and "exited (exit code 3) while the operation ran" in crashed.stdout + crashed.stderr
    from cfy_local.deployments import api

    first = api.list_node_instances(Home.open(str(home)), "dep")[0]["runtime_properties"]
    assert first["kind"] is True and first["deployment"] == "dep"
    again = cfy("executions", "start", "start", "-d", "dep")
    assert again.exit_code == 0, again
    second = api.list_node_instances(Home.open(str(home)), "dep")[0]["runtime_properties"]
    assert second["pid"] != first["pid"]
    refused = cfy("executions", "start", "stop", "-d", "dep")
    assert refused.exit_code == 1 and "shim says no" in refused.stdout + refused.stderr


def test_plugin_output_and_child_processes_cannot_disturb_the_host(cfy, tmp_path, home):
    """Plugin code prints, and starts a process that reads stdin: the operation host's
    messages are on private descriptors, so both are harmless."""
    code = """
import subprocess
import sys

from cloudify import ctx


def create(**kwargs):
    print('plugin chatter on stdout')
    sys.stdout.flush()
    read = subprocess.run(['cat'], capture_output=False, stdout=subprocess.PIPE, timeout=10).stdout
    ctx.instance.runtime_properties['child_read'] = read.decode()
"""
    plugin = source_plugin(tmp_path, "noisy-plug", "0.1", code, module="noisy",
                           yaml=_yaml("noisy-plug", "0.1", "noisy.Node", "noisy"))
    deploy_with_plugin(cfy, tmp_path, plugin, "noisy-plug", "n: {type: noisy.Node}\n")
    done = cfy("executions", "start", "install", "-d", "dep")
    assert done.exit_code == 0, done
    from cfy_local.deployments import api

    assert api.list_node_instances(Home.open(str(home)), "dep")[0]["runtime_properties"] == {"child_read": ""}


def test_leftovers_of_killed_uploads_are_removed_later(tmp_path, home):
    h = Home.open(str(home))
    old = os.path.join(catalog.envs_dir(h), ".staging-dead")
    fresh = os.path.join(catalog.envs_dir(h), ".staging-running")
    for folder in (old, fresh):
        os.makedirs(os.path.join(folder, "bin"))
    os.utime(old, (1, 1))
    folder, plugin_yaml = source_plugin(tmp_path, "tiny-plug", "0.1", CODE)
    catalog.upload_plugin(h, str(folder), [str(plugin_yaml)])
    assert not os.path.exists(old) and os.path.exists(fresh)
