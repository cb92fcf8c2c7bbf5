"""cfy's -i/-p forms and workflow parameter merging as Cloudify's manager does it."""
from __future__ import annotations

import pytest

from cfy_local.dsl.parameters import merge_workflow_parameters
from cfy_local.errors import ValidationError
from cfy_local.inputs import parse_inputs


def test_json_key_value_yaml_forms_merge_left_to_right(tmp_path):
    (tmp_path / "a.yaml").write_text("x: 1\ny: file\n")
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "one.yaml").write_text("d1: 1\n")
    (folder / "two.yaml").write_text("d2: 2\n")
    (tmp_path / "g-inputs.yaml").write_text("g: 1\n")
    values = parse_inputs(['{"x": 0, "j": true}', str(tmp_path / "a.yaml"), "k=v; k2 = v2 ;", "a=b=c",
                           str(folder), str(tmp_path / "*-inputs.yaml"), "{z: [1, 2]}", "w: 3"])
    assert values == {"x": 1, "j": True, "y": "file", "k": "v", "k2": "v2", "a": "b", "d1": 1, "d2": 2, "g": 1,
                      "z": [1, 2], "w": 3}


def test_empty_yaml_is_empty_dict(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    assert parse_inputs([str(tmp_path / "empty.yaml")]) == {}


@pytest.mark.parametrize("bad, cause", [
    ("[1, 2]", "Resource is valid YAML, but does not represent a dictionary (content: [1, 2])"),
    ("just a string", "does not represent a dictionary"),
    ("a: [1", "is not a valid YAML."),
])
def test_bad_inputs_use_cfy_text(bad, cause):
    with pytest.raises(ValidationError) as info:
        parse_inputs([bad])
    text = str(info.value)
    assert text.startswith(f"Invalid input: {bad}. It must represent a dictionary. Valid values can be one of:")
    assert "- A string formatted as key1=value1;key2=value2" in text
    assert "Root cause: " in text and cause in text


DEPLOYMENT = {
    "id": "dep",
    "workflows": {
        "wf": {"parameters": {
            "count": {"type": "integer", "default": 1, "constraints": [{"in_range": [1, 5]}]},
            "flag": {"type": "boolean", "default": False},
            "names": {"type": "list", "item_type": "string", "default": []},
            "needed": {"description": "no default"},
            "optional": {"required": False},
        }},
    },
}


def test_defaults_types_and_passed_values():
    merged = merge_workflow_parameters(DEPLOYMENT, "wf", {"needed": "x", "count": "3", "flag": "TRUE"}, False)
    assert merged == {"needed": "x", "count": 3, "flag": True, "names": []}


def test_unknown_workflow():
    with pytest.raises(ValidationError, match=r"^Workflow nope does not exist in the deployment dep\. "
                                              r"Declared workflows: wf$"):
        merge_workflow_parameters(DEPLOYMENT, "nope", {}, False)
    with pytest.raises(ValidationError, match=r"dep\. Did you mean `wf`\? Declared workflows: wf$"):
        merge_workflow_parameters(DEPLOYMENT, "wff", {}, False)


def test_system_workflow_allows_anything():
    assert merge_workflow_parameters(DEPLOYMENT, "update", {"a": 1}, False) == {"a": 1}


def test_custom_parameters_refused_unless_allowed():
    with pytest.raises(ValidationError) as info:
        merge_workflow_parameters(DEPLOYMENT, "wf", {"needed": 1, "zz": 1, "yy": 2}, False)
    assert str(info.value) == ('Workflow "wf" does not have the following parameters declared: zz,yy. Remove these '
                               'parameters or use the flag for allowing custom parameters')
    assert merge_workflow_parameters(DEPLOYMENT, "wf", {"needed": 1, "zz": 1}, True)["zz"] == 1


def test_type_errors_one_line_each():
    with pytest.raises(ValidationError) as info:
        merge_workflow_parameters(DEPLOYMENT, "wf", {"needed": 1, "count": "3.5", "flag": "yes"}, False)
    assert str(info.value).splitlines() == ['Parameter "count" must be of type integer',
                                            'Parameter "flag" must be of type boolean']


def test_constraints_then_missing():
    with pytest.raises(ValidationError, match='^Parameter "count" does not meet its constraints: in_range'):
        merge_workflow_parameters(DEPLOYMENT, "wf", {"needed": 1, "count": 9}, False)
    with pytest.raises(ValidationError) as info:
        merge_workflow_parameters(DEPLOYMENT, "wf", {}, False)
    assert str(info.value) == 'Workflow "wf" must be provided with the following parameters to execute: needed'


def test_object_types_are_checked_against_the_deployment():
    deployment = {"id": "dep", "workflows": {"wf": {"parameters": {
        "ids": {"type": "list", "item_type": "node_id", "default": []}}}}}
    nodes = [{"id": "vm", "type_hierarchy": ["cloudify.nodes.Root"], "operations": {}}]
    assert merge_workflow_parameters(deployment, "wf", {"ids": ["vm"]}, False, nodes=nodes)["ids"] == ["vm"]
    with pytest.raises(ValidationError, match='Parameter "ids" does not meet its constraints: Node ghost does not'):
        merge_workflow_parameters(deployment, "wf", {"ids": ["ghost"]}, False, nodes=nodes)
