"""Hostile YAML: alias bombs, deep nesting, non-UTF-8, non-regular files; line numbers."""
from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfy_local.dsl.loader import load_yaml_file, load_yaml_text, where
from cfy_local.errors import DSLError
from cfy_local.inputs import parse_inputs


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = string.ascii_lowercase
    for prev, cur in zip(names[:levels], names[1:levels + 1]):
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_without_expanding():
    with pytest.raises(DSLError, match="aliases expand to more than"):
        load_yaml_text(billion_laughs(), "bomb.yaml")


def test_small_alias_use_is_fine():
    data = load_yaml_text("base: &b {x: 1}\nuse: *b\nmerged:\n  <<: *b\n  y: 2\n", "ok.yaml")
    assert data["use"] == {"x": 1} and data["merged"] == {"x": 1, "y": 2}


def test_deep_nesting_is_refused():
    with pytest.raises(DSLError, match="nesting"):
        load_yaml_text("[" * 3000 + "]" * 3000, "deep.yaml")


def test_non_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(DSLError, match=r"^latin1\.yaml:2: not UTF-8 text"):
        load_yaml_file(str(path), "latin1.yaml")


def test_non_regular_file_is_refused():
    with pytest.raises(DSLError, match="not a regular file"):
        load_yaml_file("/dev/zero", "/dev/zero")


def test_mappings_remember_lines():
    data = load_yaml_text("a: 1\nnested:\n  key: value\n", "f.yaml")
    assert where(data, "nested") == "f.yaml:2" and where(data["nested"], "key") == "f.yaml:3"


def test_python_tags_are_not_executed():
    with pytest.raises(DSLError, match="invalid YAML"):
        load_yaml_text("a: !!python/object/apply:os.system ['true']\n", "tag.yaml")


def test_hostile_inputs_are_refused_briefly():
    with pytest.raises(Exception) as info:
        parse_inputs([billion_laughs()])
    assert "aliases expand" in str(info.value) and len(str(info.value)) < 2000


keys = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=8)
values = st.text(alphabet=string.ascii_letters + string.digits + " .-", min_size=0, max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=5))
def test_key_value_form_round_trips(pairs):
    text = ";".join(f"{k}={v}" for k, v in pairs.items())
    assert parse_inputs([text]) == {k: v.strip() for k, v in pairs.items()}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(keys, st.integers(), max_size=3), min_size=1, max_size=4))
def test_json_occurrences_merge_left_to_right(dicts):
    import json

    expected: dict = {}
    for d in dicts:
        expected.update(d)
    assert parse_inputs([json.dumps(d) for d in dicts]) == expected
