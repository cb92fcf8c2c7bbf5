"""A plugin built on the real cloudify-utilities-plugins-sdk 0.0.130 (from the package
registry, with cloudify-common 7.0.5): its helpers read the ctx, call get_rest_client() and
walk relationships through cfy-local."""
from __future__ import annotations

import textwrap

from cfy_local import secrets
from cfy_local.deployments import api
from cfy_local.store.paths import Home
from engine.conftest import EngineEnv
from plugin_builds import sdk_plugin_home


def test_sdk_helpers_work_in_the_plugins_env(tmp_path):
    home = Home.open(str(sdk_plugin_home(tmp_path / "home")))
    secrets.create_secret(home, "api_key", "k-123")
    folder = tmp_path / "bp"
    folder.mkdir()
    (folder / "blueprint.yaml").write_text(textwrap.dedent("""\
        tosca_definitions_version: cloudify_dsl_1_4
        imports:
          - cloudify/types/types.yaml
          - plugin:sdk-test-plugin
        node_templates:
          a:
            type: sdkp.Thing
            relationships:
              - {type: sdkp.uses, target: b}
          b:
            type: sdkp.Thing
        """))
    api.upload_blueprint(home, str(folder / "blueprint.yaml"), "bp-dep")
    api.create_deployment(home, "dep", "bp-dep", {})
    outcome = EngineEnv(tmp_path, home).run("install")
    assert outcome.error is None, outcome.error
    instances = {i["node_id"]: i for i in api.list_node_instances(home, "dep")}
    a = instances["a"]["runtime_properties"]
    assert a["secret"] == "k-123" and a["version_ok"] is True
    assert a["config"] == {"region": "eu-1"}
    assert a["hidden"]["user"] == "u" and a["hidden"]["password"] != "p4ss"
    assert a["target_id"] == instances["b"]["id"]
    report = EngineEnv(tmp_path, home).run("report")
    assert report.error is None, report.error
    line = next(t for t in report.texts() if t.startswith("report "))
    assert "'nodes': ['a', 'b']" in line and "k-123" not in line
