"""Blueprints, deployments, node instances and secrets through the real CLI (in-process)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from state_fingerprint import fingerprint

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HELLO = str(EXAMPLES / "hello-world" / "blueprint.yaml")
INSTANCE_ID = re.compile(r"^[a-z]+_[a-z0-9]{6}$")


@pytest.fixture
def uploaded(cfy):
    result = cfy("blueprints", "upload", HELLO)
    assert result.exit_code == 0, result
    return "hello-world"


@pytest.fixture
def deployed(cfy, uploaded):
    result = cfy("deployments", "create", "hw", "-b", uploaded, "-i", "port=9090")
    assert result.exit_code == 0, result
    return "hw"


def test_upload_copies_the_folder_and_lists(cfy, home, uploaded):
    assert (home / "blueprints" / "hello-world" / "resources" / "scripts" / "db_create.sh").is_file()
    assert (home / "blueprints" / "hello-world" / "plan.json").is_file()
    listing = cfy("bl", "li")  # unique prefixes
    assert listing.exit_code == 0 and "hello-world" in listing.stdout
    assert "Showing 1 of 1 blueprints" in listing.stdout
    data = cfy("blueprints", "list", "--json").json
    assert [b["id"] for b in data] == ["hello-world"] and data[0]["main_file_name"] == "blueprint.yaml"
    got = cfy("blueprints", "get", "hello-world", "--json").json
    assert got["deployments"] == [] and got["state"] == "uploaded"
    inputs = cfy("blueprints", "inputs", "hello-world", "--json").json
    assert {i["name"] for i in inputs} == {"greeting", "port", "db_name"}


def test_default_blueprint_id_rules(cfy, tmp_path):
    folder = tmp_path / "my_app"
    folder.mkdir()
    (folder / "other.yaml").write_text("tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\n")
    result = cfy("blueprints", "upload", str(folder / "other.yaml"))
    assert result.exit_code == 0, result
    assert "The blueprint's id is my-app.other" in result.stdout


def test_deployment_create_builds_instances(cfy, home, deployed):
    instances = cfy("node-instances", "list", "-d", deployed, "--json").json
    assert len(instances) == 3
    by_node = {i["node_id"]: i for i in instances}
    assert all(INSTANCE_ID.match(i["id"]) for i in instances)
    host = by_node["host"]["id"]
    assert {i["host_id"] for i in instances} == {host}
    assert all(i["state"] == "uninitialized" and i["runtime_properties"] == {} for i in instances)
    web_rels = by_node["web"]["relationships"]
    assert [(r["target_name"], r["target_id"]) for r in web_rels] == [("host", host),
                                                                       ("database", by_node["database"]["id"])]
    single = cfy("node-instances", "get", by_node["web"]["id"], "--json").json
    assert single["node_id"] == "web" and single["host_id"] == host and "runtime_properties" in single
    assert cfy("deployments", "inputs", deployed, "--json").json == {"greeting": "Hello", "port": 9090,
                                                                     "db_name": "hello_db"}
    nodes = json.loads((home / "deployments" / "hw" / "nodes.json").read_text())["nodes"]
    web = next(n for n in nodes if n["id"] == "web")
    assert web["properties"]["port"] == 9090  # get_input evaluated at create
    executions = json.loads(json.dumps([json.loads(p.read_text()) for p in (home / "executions").glob("*.json")]))
    assert [(e["workflow_id"], e["status"]) for e in executions] == [("create_deployment_environment", "terminated")]


def test_instance_states_file_overrides_and_corruption_is_named(cfy, home, deployed):
    instances = cfy("node-instances", "list", "-d", deployed, "--json").json
    first = instances[0]["id"]
    states_file = home / "deployments" / deployed / "instance-states.json"
    states_file.write_text(json.dumps({"schema_version": 1, "states": {first: "started"}}))
    listed = {i["id"]: i["state"] for i in cfy("node-instances", "list", "-d", deployed, "--json").json}
    assert listed[first] == "started" and set(listed.values()) == {"started", "uninitialized"}
    assert cfy("node-instances", "get", first, "--json").json["state"] == "started"
    states_file.write_text("{not json")
    broken = cfy("node-instances", "list", "-d", deployed)
    assert broken.exit_code != 0
    assert str(states_file) in broken.stderr and len(broken.stderr.strip().splitlines()) == 1


def test_outputs_follow_runtime_properties(cfy, home, deployed):
    outputs = cfy("deployments", "outputs", deployed, "--json").json
    assert outputs["url"]["value"] == "http://127.0.0.1:9090"
    assert outputs["message"]["value"] is None
    web_file = next((home / "deployments" / "hw" / "node-instances").glob("web_*.json"))
    record = json.loads(web_file.read_text())
    record["runtime_properties"]["message"] = "Hello, world"
    web_file.write_text(json.dumps(record))
    outputs = cfy("deployments", "outputs", deployed, "--json").json
    assert outputs["message"] == {"value": "Hello, world", "description": "What the web app says."}
    text = cfy("deployments", "outputs", deployed)
    assert ' - "message":\n     Description: What the web app says.\n     Value: Hello, world' in text.stdout


def test_deployment_list_and_delete(cfy, home, deployed):
    rows = cfy("deployments", "list", "--json").json
    assert rows[0]["id"] == "hw" and rows[0]["installation_status"] == "inactive"
    assert cfy("deployments", "list", "-b", "hello-world", "--json").json[0]["id"] == "hw"
    refused = cfy("blueprints", "delete", "hello-world")
    assert refused.exit_code == 1 and "hw" in refused.stderr
    deleted = cfy("deployments", "delete", "hw")
    assert deleted.exit_code == 0 and "Deployment deleted" in deleted.stdout
    assert not (home / "deployments" / "hw").exists()
    assert cfy("deployments", "list", "--json").json == []
    assert cfy("blueprints", "delete", "hello-world").exit_code == 0
    assert not (home / "blueprints" / "hello-world").exists()


def test_delete_refused_while_executions_are_queued(cfy, home, deployed):
    from cfy_local.executions import records
    from cfy_local.store.paths import Home

    record = records.new_record(workflow_id="install", deployment_id="hw", blueprint_id="hello-world",
                                status="queued")
    records.save(Home.open(str(home)), record)
    result = cfy("deployments", "delete", "hw")
    assert result.exit_code == 1
    assert (f"Can't delete deployment hw - There are running or queued executions for this deployment. "
            f"Running executions ids: {record['id']}") in result.stderr
    assert (home / "deployments" / "hw" / "deployment.json").exists()
    assert cfy("deployments", "delete", "hw", "-f").exit_code == 0


def test_blueprint_delete_with_force(cfy, home, deployed):
    assert cfy("blueprints", "delete", "hello-world", "-f").exit_code == 0
    assert not (home / "blueprints" / "hello-world").exists()


def test_secrets_and_get_secret(cfy, home, tmp_path):
    assert cfy("secrets", "create", "db_password", "-s", "s3cret").exit_code == 0
    assert cfy("secrets", "create", "db_password", "-s", "x").exit_code == 1
    assert cfy("secrets", "create", "db_password", "-s", "new", "-u").exit_code == 0
    assert cfy("secrets", "get", "db_password", "--json").json["value"] == "new"
    assert [s["key"] for s in cfy("secrets", "list", "--json").json] == ["db_password"]
    folder = tmp_path / "sec"
    folder.mkdir()
    (folder / "blueprint.yaml").write_text(
        "tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\n"
        "node_templates:\n  a: {type: cloudify.nodes.Root}\n"
        "outputs:\n  pw: {value: {get_secret: db_password}}\n  dep: {value: {get_sys: [deployment, id]}}\n")
    assert cfy("blueprints", "upload", str(folder / "blueprint.yaml")).exit_code == 0
    assert cfy("deployments", "create", "-b", "sec").exit_code == 0  # id defaults to the blueprint id
    outputs = cfy("deployments", "outputs", "sec", "--json").json
    assert outputs["pw"]["value"] == "new" and outputs["dep"]["value"] == "sec"
    assert cfy("secrets", "delete", "db_password").exit_code == 0
    missing = cfy("secrets", "get", "db_password")
    assert missing.exit_code == 1 and "Requested `Secret` with ID `db_password` was not found" in missing.stderr


BAD_CREATE = [
    (["-i", "nope=1"], "Unknown inputs ['nope'] specified"),
    (["-i", "port=abc"], "the defined type is 'integer', yet it was assigned with the value 'abc'"),
    (["-i", "port=80"], "violates constraint in_range"),
    (["-i", "[1,2]"], "Invalid input: [1,2]. It must represent a dictionary."),
]


@pytest.mark.parametrize("extra, fragment", BAD_CREATE)
def test_bad_deployment_inputs_change_nothing(cfy, home, uploaded, extra, fragment):
    before = fingerprint(home)
    result = cfy("deployments", "create", "d1", "-b", uploaded, *extra)
    assert result.exit_code == 1, result
    assert fragment in result.stderr
    assert fingerprint(home) == before


def test_missing_required_input(cfy, home, tmp_path):
    folder = tmp_path / "req"
    folder.mkdir()
    (folder / "blueprint.yaml").write_text(
        "tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\n"
        "inputs:\n  needed: {type: string}\nnode_templates: {}\n")
    assert cfy("blueprints", "upload", str(folder / "blueprint.yaml")).exit_code == 0
    before = fingerprint(home)
    result = cfy("deployments", "create", "-b", "req")
    assert result.exit_code == 1
    assert "Unable to create deployment: Required inputs ['needed'] were not specified" in result.stderr
    assert fingerprint(home) == before


@pytest.mark.parametrize("args, fragment", [
    (["blueprints", "upload", HELLO, "-b", "../x"], "contains illegal characters"),
    (["blueprints", "upload", HELLO, "-b", "/x"], "contains illegal characters"),
    (["blueprints", "upload", HELLO, "-b", "a/b"], "contains illegal characters"),
    (["blueprints", "upload", "/no/such/blueprint.yaml"], "/no/such/blueprint.yaml does not exist"),
    (["deployments", "create", "../x", "-b", "hello-world"], "contains illegal characters"),
    (["deployments", "create", "a/b", "-b", "hello-world"], "contains illegal characters"),
    (["deployments", "create", "d", "-b", "ghost"], "Requested `Blueprint` with ID `ghost` was not found"),
    (["deployments", "delete", "ghost"], "Requested `Deployment` with ID `ghost` was not found"),
    (["node-instances", "get", "ghost_abcdef"], "Requested `NodeInstance` with ID `ghost_abcdef` was not found"),
    (["node-instances", "list", "-d", "ghost"], "Requested `Deployment` with ID `ghost` was not found"),
    (["blueprints", "upload", HELLO], "Blueprint `hello-world` already exists"),
    (["blueprints", "validate", str(EXAMPLES / "nope.yaml")], "does not exist"),
])
def test_bad_requests_change_nothing(cfy, home, uploaded, args, fragment):
    before = fingerprint(home)
    result = cfy(*args)
    assert result.exit_code == 1, result
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3
    assert fingerprint(home) == before


def test_duplicate_deployment(cfy, home, deployed):
    before = fingerprint(home)
    result = cfy("deployments", "create", "hw", "-b", "hello-world")
    assert result.exit_code == 1 and "Deployment `hw` already exists" in result.stderr
    assert fingerprint(home) == before


def test_malformed_blueprint_upload_writes_nothing(cfy, home, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "blueprint.yaml").write_text("tosca_definitions_version: cloudify_dsl_1_4\nnode_templates: [\n")
    before = fingerprint(home)
    result = cfy("blueprints", "upload", str(folder / "blueprint.yaml"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Failed parsing blueprint: blueprint.yaml:")
    assert fingerprint(home) == before
    validated = cfy("blueprints", "validate", str(folder / "blueprint.yaml"))
    assert validated.exit_code == 1 and validated.stderr.startswith("Failed to validate blueprint: blueprint.yaml:")
    good = cfy("blueprints", "validate", HELLO)
    assert good.exit_code == 0 and "Blueprint validated successfully" in good.stdout


def test_maintenance_mode_refuses_changes(cfy, home, uploaded):
    from cfy_local import maintenance
    from cfy_local.store.paths import Home

    maintenance.activate(Home.open(str(home)))
    before = fingerprint(home)
    result = cfy("deployments", "create", "d", "-b", uploaded)
    assert result.exit_code == 1 and "maintenance mode" in result.stderr
    assert fingerprint(home) == before


def test_schedule_subgroup_is_listed(cfy):
    result = cfy("deployments", "--help")
    assert "schedule" in result.stdout


def test_schedule_subgroup_accepts_prefixes(cfy):
    result = cfy("dep", "sch", "li")
    assert result.exit_code == 0, result
    assert "Showing 0 of 0 deployment schedules" in result.stdout


def test_parameters_are_checked_against_the_deployment(cfy, home, deployed):
    from cfy_local.deployments import api
    from cfy_local.dsl.parameters import merge_workflow_parameters
    from cfy_local.errors import ValidationError
    from cfy_local.store.paths import Home

    deployment = api.load_deployment(Home.open(str(home)), deployed)
    data = api.runtime_data(Home.open(str(home)), deployed)
    merged = merge_workflow_parameters(deployment, "install", {"node_ids": ["web"]}, False, data=data)
    assert merged["node_ids"] == ["web"] and merged["type_names"] == []
    with pytest.raises(ValidationError, match='Parameter "node_ids" does not meet its constraints: Node ghost'):
        merge_workflow_parameters(deployment, "install", {"node_ids": ["ghost"]}, False, data=data)
    with pytest.raises(ValidationError, match='Parameter "node_instance_ids" does not meet its constraints'):
        merge_workflow_parameters(deployment, "install", {"node_instance_ids": ["web_zzzzzz"]}, False, data=data)


def test_parameters_left_empty_do_not_read_the_deployments_instances(home, deployed):
    """A start of install (whose node_instance_ids default to []) must not read every
    instance of a large deployment; a value given is still checked against them."""
    from cfy_local.deployments import api
    from cfy_local.dsl.parameters import merge_workflow_parameters
    from cfy_local.store.paths import Home

    store = Home.open(str(home))
    deployment = api.load_deployment(store, deployed)
    data = api.runtime_data(store, deployed)
    reads = []

    class Counted(type(data)):
        def instance_ids(self):
            reads.append(1)
            return super().instance_ids()

    counted = Counted(store, deployment)
    assert merge_workflow_parameters(deployment, "install", {}, False, data=counted)["node_instance_ids"] == []
    assert reads == []
    [web] = [i["id"] for i in api.list_node_instances(store, deployed) if i["node_id"] == "web"]
    merged = merge_workflow_parameters(deployment, "install", {"node_instance_ids": [web]}, False, data=counted)
    assert merged["node_instance_ids"] == [web] and reads == [1]
