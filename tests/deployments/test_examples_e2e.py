"""Both examples, end to end through real processes: upload, create, install, outputs."""
from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.slow


def test_hello_world_installs_and_outputs_follow(cfy_proc):
    assert cfy_proc("blueprints", "upload", str(EXAMPLES / "hello-world" / "blueprint.yaml")).exit_code == 0
    assert cfy_proc("deployments", "create", "hw", "-b", "hello-world", "-i", "greeting=Hi").exit_code == 0
    result = cfy_proc("executions", "start", "install", "-d", "hw", timeout=120)
    assert result.exit_code == 0, result
    outputs = cfy_proc("deployments", "outputs", "hw", "--json").json
    assert outputs["message"]["value"] == "Hi, world"
    assert outputs["database_address"]["value"] == "127.0.0.1:5432"
    web = cfy_proc("node-instances", "list", "-d", "hw", "-n", "web", "--json").json[0]
    assert web["state"] == "started"
    assert web["runtime_properties"]["db_url"] == "db://127.0.0.1:5432/hello_db"
    assert web["runtime_properties"]["linked_db"] == "127.0.0.1:5432"


def test_python_plugin_custom_workflow_with_typed_parameters(cfy_proc):
    assert cfy_proc("blueprints", "upload", str(EXAMPLES / "python-plugin" / "blueprint.yaml")).exit_code == 0
    assert cfy_proc("deployments", "create", "pp", "-b", "python-plugin").exit_code == 0
    assert cfy_proc("executions", "start", "install", "-d", "pp", timeout=120).exit_code == 0
    refused = cfy_proc("executions", "start", "greet_all", "-d", "pp", "-p", "repeat=9")
    assert refused.exit_code == 1
    assert 'Parameter "repeat" does not meet its constraints: in_range' in refused.stderr
    result = cfy_proc("executions", "start", "greet_all", "-d", "pp", "-p", "repeat=2;shout=true", timeout=120)
    assert result.exit_code == 0, result
    greetings = cfy_proc("deployments", "outputs", "pp", "--json").json["greetings"]["value"]
    assert greetings == ["HELLO alice, HELLO bob", "HELLO alice, HELLO bob"]
