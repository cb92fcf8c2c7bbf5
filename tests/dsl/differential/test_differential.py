"""Differential tests: every blueprint of the corpus is judged by cfy-local and by Cloudify's
own parser (cloudify-common 7.0.5's dsl_parser, run once per session in its own venv over
the whole corpus). Compared: the verdict (accepted, or refused at upload / at deployment
create, and the kind of refusal), then for accepted blueprints the node instances per node
after deployment create with the case's inputs, the relationships (with their properties),
the evaluated node properties, operation inputs, outputs and capabilities, and the scaling
groups; for the refusals in SAME_TEXT, that the one line carries Cloudify's own text. A
disagreement fails unless it is one of DEPARTURES, which mirrors the README's table of
deliberate departures."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys

import pytest

from cfy_local.deployments.api import validate_deployment_inputs
from cfy_local.deployments.instances import build_instances
from cfy_local.dsl import deployment_plan
from cfy_local.dsl.functions import evaluate_deployment_value, has_runtime_function
from cfy_local.dsl.parser import BUNDLED_TYPES, parse_blueprint
from cfy_local.errors import CfyLocalError, DSLError
from cloudify_oracle import VERSION, oracle_venv, run_oracle

sys.path.insert(0, os.path.dirname(__file__))
from corpus import CASES  # noqa: E402

RUNNER = os.path.join(os.path.dirname(__file__), "oracle_runner.py")

# case -> why cfy-local deliberately differs (the README lists the same departures).
DEPARTURES: dict[str, str] = {
    "valid_deployment_settings_unknown_workflow":
        "a default schedule naming an undeclared workflow is refused at upload; Cloudify's parser accepts it "
        "and the manager fails later, when deployment create makes the schedule",
    "valid_relationship_property_functions":
        "relationship properties are evaluated at deployment create like node properties; Cloudify's plan keeps "
        "their intrinsic functions unevaluated",
    "valid_node_template_id_with_space":
        "node template ids must be ids (letters, digits, '-', '.', '_'): they name instance ids and state files",
}


# Refusals whose one line carries Cloudify's own text (after our "file:line:" and context).
SAME_TEXT = frozenset({
    "invalid_boolean_mapping_key",
    "invalid_concat_of_unknown_input",
    "invalid_data_type_missing_required",
    "invalid_data_type_undefined_field",
    "invalid_data_type_unknown_parent",
    "invalid_data_type_wrong_field_type",
    "invalid_deployment_settings_bad_recurrence",
    "invalid_deployment_settings_get_attribute",
    "invalid_deployment_settings_groups_not_list",
    "invalid_deployment_settings_unknown_key",
    "invalid_get_input_unknown",
    "invalid_get_secret_missing",
    "invalid_get_secret_missing_in_output",
    "invalid_get_secret_missing_runtime_only",
    "invalid_get_secret_name_from_input",
    "invalid_group_unknown_member",
    "invalid_import_duplicate_data_type",
    "invalid_import_duplicate_input",
    "invalid_import_duplicate_node_template",
    "invalid_import_duplicate_node_type",
    "invalid_import_duplicate_output",
    "invalid_import_duplicate_plugin",
    "invalid_import_duplicate_relationship",
    "invalid_import_not_a_list",
    "invalid_import_policies_twice",
    "invalid_input_constraint_default",
    "invalid_input_constraint_given",
    "invalid_input_default_wrong_type",
    "invalid_input_missing",
    "invalid_input_of_data_type_missing",
    "invalid_input_of_unknown_data_type_field",
    "invalid_input_unknown",
    "invalid_input_unknown_type",
    "invalid_input_wrong_type_given",
    "invalid_instances_bad_string",
    "invalid_instances_both_forms",
    "invalid_instances_default_above_max",
    "invalid_instances_deploy_function",
    "invalid_instances_negative",
    "invalid_instances_not_a_function",
    "invalid_instances_unknown_input",
    "invalid_instances_unknown_key",
    "invalid_node_template_description",
    "invalid_operation_bad_executor",
    "invalid_operation_missing_input",
    "invalid_operation_unknown_key",
    "invalid_output_without_value",
    "invalid_policy_counts",
    "invalid_policy_unknown_type",
    "invalid_property_wrong_type",
    "invalid_relationship_undefined_property",
    "invalid_relationship_unknown_key",
    "invalid_relationship_unknown_type",
    "invalid_template_missing_property",
    "invalid_template_missing_type",
    "invalid_template_undeclared_property",
    "invalid_template_unknown_key",
    "invalid_two_contained_in",
    "invalid_type_unknown_parent",
    "invalid_unknown_capability",
    "invalid_unknown_top_level_key",
    "invalid_version_1_3_item_type",
    "invalid_version_1_3_object_type",
    "invalid_version_1_4_operation_name",
    "invalid_version_missing",
    "invalid_workflow_no_mapping",
    "invalid_workflow_parameter_bad_default",
    "invalid_workflow_unknown_plugin",
})


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("dsl-corpus")
    for name, spec in CASES.items():
        folder = root / name
        for rel, text in spec["files"].items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (folder / "_inputs.json").write_text(json.dumps(spec["inputs"]))
        (folder / "_secrets.json").write_text(json.dumps(spec["secrets"]))
        if spec["runtime_only"]:
            (folder / "_runtime_only").write_text("")
    return root


@pytest.fixture(scope="session")
def oracle(corpus_dir):
    """Cloudify's outcomes for the whole corpus: one oracle process per corpus version. The
    result is kept beside the oracle venv under a hash of everything it depends on (corpus,
    runner, bundled types, Cloudify's version), so parallel workers and later runs reuse it;
    any change to those inputs runs Cloudify's parser again."""
    with open(RUNNER) as fh:
        script = fh.read()
    with open(BUNDLED_TYPES, "rb") as fh:
        types_bytes = fh.read()
    digest = hashlib.sha256(json.dumps([CASES, script, VERSION], sort_keys=True).encode() + types_bytes).hexdigest()
    cache = oracle_venv().parent / "dsl-differential"
    cache.mkdir(exist_ok=True)
    result = cache / f"{digest[:32]}.json"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            done = run_oracle(script, BUNDLED_TYPES, str(corpus_dir), timeout=800)
            assert done.returncode == 0, done.stderr[-3000:]
            json.loads(done.stdout)  # a half-written answer must not be cached
            tmp = result.with_suffix(".tmp")
            tmp.write_text(done.stdout)
            os.replace(tmp, result)
    return json.loads(result.read_text())


def _kind(exc: Exception) -> str:
    return "secret" if "Required secrets" in str(exc) else "invalid"


def ours(folder: str, spec: dict) -> dict:
    try:
        plan = parse_blueprint(os.path.join(folder, "blueprint.yaml"))
    except DSLError as exc:
        return {"stage": "upload", "kind": "invalid", "error": str(exc)}
    try:
        inputs = validate_deployment_inputs(plan, dict(spec["inputs"]))
    except CfyLocalError as exc:
        return {"stage": "create", "kind": "inputs", "error": str(exc)}
    try:
        nodes = deployment_plan.evaluate_nodes(plan, inputs, "dep")
        groups = deployment_plan.evaluate_scaling_groups(plan, inputs)
        deployment_plan.check_secrets(
            deployment_plan.secrets_used(plan, inputs, nodes, runtime_only=spec["runtime_only"]),
            lambda key: key in spec["secrets"])
        raw_nodes = {n["id"]: n for n in plan["nodes"]}
        outputs = {name: evaluate_deployment_value(out["value"], inputs, raw_nodes)
                   for name, out in plan["outputs"].items()}
        capabilities = {name: evaluate_deployment_value(c["value"], inputs, raw_nodes)
                        for name, c in plan["capabilities"].items()}
        instances = build_instances(nodes, "dep", groups, plan.get("groups") or {})
    except CfyLocalError as exc:
        return {"stage": "create", "kind": _kind(exc), "error": str(exc)}
    counts: dict[str, int] = {}
    for inst in instances:
        counts[inst["node_id"]] = counts.get(inst["node_id"], 0) + 1
    return {"stage": "ok", "outputs": outputs, "capabilities": capabilities,
            "scaling_groups": {k: g["properties"] for k, g in groups.items()},
            "nodes": {n["id"]: {"instances": counts.get(n["id"], 0), "properties": n["properties"],
                                "operations": {name: evaluate_deployment_value(op["inputs"], inputs, raw_nodes,
                                                                               self_node=n["id"])
                                               for name, op in n["operations"].items() if "." in name},
                                "relationships": sorted(([r["type"], r["target_id"], r["properties"]]
                                                         for r in n["relationships"]), key=json.dumps)}
                      for n in nodes}}


def _comparable_outputs(outputs: dict) -> dict:
    # Outputs that read runtime state are evaluated later by both; only plan-time ones compare.
    return {k: v for k, v in outputs.items() if not has_runtime_function(v)}


@pytest.mark.timeout(900)  # the first case also waits for Cloudify's parser over the whole corpus
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_judgement_as_cloudify(name, corpus_dir, oracle):
    theirs = oracle[name]
    assert theirs["stage"] != "crash", theirs["error"]
    expected_valid = name.startswith("valid_")
    assert (theirs["stage"] == "ok") == expected_valid, f"corpus case misnamed; Cloudify: {theirs}"
    mine = ours(str(corpus_dir / name), CASES[name])
    problems = []
    # At upload every refusal is one kind (the blueprint is invalid); at create the kind says
    # whether the inputs, a secret or the evaluation refused the deployment.
    if mine["stage"] != theirs["stage"] or (mine["stage"] == "create" and mine["kind"] != theirs["kind"]):
        problems.append(f"verdict: cfy-local {mine['stage']}/{mine.get('kind')} ({mine.get('error')}) vs Cloudify "
                        f"{theirs['stage']}/{theirs.get('kind')} ({theirs.get('error')})")
    elif mine["stage"] == "ok":
        for node_id, node in theirs["nodes"].items():
            got = mine["nodes"].get(node_id)
            if got is None:
                problems.append(f"node {node_id} missing")
                continue
            for key in ("instances", "relationships", "properties"):
                if got[key] != node[key]:
                    problems.append(f"node {node_id} {key}: cfy-local {got[key]!r} vs Cloudify {node[key]!r}")
            # Operation inputs as the operation receives them (plan-time functions evaluated);
            # operations without inputs are left out (which empty ones a type lists is no behaviour).
            mine_ops = {k: v for k, v in got["operations"].items() if v}
            their_ops = {k: v for k, v in node["operations"].items() if v}
            if mine_ops != their_ops:
                problems.append(f"node {node_id} operation inputs: cfy-local {mine_ops!r} vs Cloudify {their_ops!r}")
        for section in ("outputs", "capabilities"):
            if _comparable_outputs(mine[section]) != _comparable_outputs(theirs[section]):
                problems.append(f"{section}: cfy-local {mine[section]!r} vs Cloudify {theirs[section]!r}")
        if mine["scaling_groups"] != theirs["scaling_groups"]:
            problems.append(f"scaling groups: cfy-local {mine['scaling_groups']!r} vs Cloudify "
                            f"{theirs['scaling_groups']!r}")
    if name in SAME_TEXT and theirs["stage"] != "ok":
        text = theirs["error"].split(": ", 1)[1].split("\n")[0].strip()
        if text not in (mine.get("error") or ""):
            problems.append(f"text: cfy-local {mine.get('error')!r} does not carry Cloudify's {text!r}")
    if name in DEPARTURES:
        assert problems, f"{name} is listed as a departure ({DEPARTURES[name]}) but both parsers now agree"
        return
    assert not problems, "\n".join(problems)


def test_corpus_is_half_valid_half_invalid():
    valid = [n for n in CASES if n.startswith("valid_")]
    invalid = [n for n in CASES if n.startswith("invalid_")]
    assert len(valid) + len(invalid) == len(CASES) and len(valid) >= 40 and len(invalid) >= 40
