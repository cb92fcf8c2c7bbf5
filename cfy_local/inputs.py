"""``-i/--inputs`` and ``-p/--parameters`` values, parsed exactly as ``cfy`` parses them
(docs/cloudify-behaviour.md, "CLI conventions"): each occurrence is JSON, ``k=v;k2=v2``,
a directory / glob / file of YAML, or a YAML string; occurrences are merged left to right
(later keys win).
"""
from __future__ import annotations

import glob
import json
import os
from typing import Any

from cfy_local.errors import DSLError, ValidationError

_HELP = (
    "Invalid input: {resource}. It must represent a dictionary. Valid values can be one of:\n"
    "- A path to a YAML file\n"
    "- A path to a directory containing YAML files\n"
    "- A single quoted wildcard based path (e.g. '*-inputs.yaml')\n"
    "- A string formatted as JSON/YAML\n"
    "- A string formatted as key1=value1;key2=value2\n"
    "Note: strings passed as input must be surrounded by '...' or \"...\""
)


class _NotADict(Exception):
    pass


def parse_inputs(values: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """Merge every ``-i``/``-p`` occurrence, left to right, into one dict."""
    merged: dict[str, Any] = {}
    for value in values or ():
        merged.update(_parse_one(value))
    return merged


def _parse_one(resource: str) -> dict[str, Any]:
    if isinstance(resource, dict):
        return dict(resource)
    try:
        parsed = json.loads(resource)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    structured = _key_structured_value(resource)
    if structured is not None:
        return structured
    pairs = _key_value_pairs(resource)
    if pairs is not None:
        return pairs
    try:
        return _from_files_or_yaml(resource)
    except _NotADict as exc:
        raise ValidationError(_HELP.format(resource=resource) + f"\n\nRoot cause: {exc}") from None


def _key_structured_value(resource: str) -> dict[str, Any] | None:
    """``key={"n": 5}`` or ``key=[1, 2]``: one key whose value is a JSON object or array.

    cfy would split that on ``;`` and ``=`` and hand the workflow a string (or a mangled
    one), which a dict or list parameter cannot use; a value that starts like JSON and
    parses as a JSON object or array is taken as that value instead. Anything else keeps
    cfy's rules.
    """
    key, sep, value = resource.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value or value[0] not in "{[" or any(c in key for c in ";{}[]\"'"):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return {key: parsed} if isinstance(parsed, (dict, list)) else None


def _key_value_pairs(resource: str) -> dict[str, str] | None:
    """``key1=value1;key2=value2``; values stay strings; text after a second ``=`` is dropped."""
    out: dict[str, str] = {}
    for piece in resource.split(";"):
        if not piece:
            continue
        if "=" not in piece:
            return None
        parts = piece.split("=")
        out[parts[0].strip()] = parts[1].strip()
    return out or None


def _from_files_or_yaml(resource: str) -> dict[str, Any]:
    if os.path.isdir(resource):
        merged: dict[str, Any] = {}
        for name in sorted(os.listdir(resource)):
            path = os.path.join(resource, name)
            if os.path.isfile(path):
                merged.update(_yaml_dict(_read(path), path))
        return merged
    matches = sorted(glob.glob(resource)) if glob.has_magic(resource) else []
    if matches:
        merged = {}
        for path in matches:
            if os.path.isfile(path):
                merged.update(_yaml_dict(_read(path), path))
        return merged
    if os.path.isfile(resource):
        return _yaml_dict(_read(resource), resource)
    if _looks_like_a_path(resource):
        raise ValidationError(f"Invalid input: {resource} does not exist (no such file)")
    return _yaml_dict(resource, resource)


def _looks_like_a_path(resource: str) -> bool:
    """A value meant as a file name (``/x.yaml``, ``./in.yml``, ``inputs.json``) rather
    than a YAML string: one word, no ``:``/``=``, a path start or a data-file ending."""
    text = resource.strip()
    if not text or any(c.isspace() for c in text) or ":" in text or "=" in text or "{" in text:
        return False
    return text.startswith(("/", "./", "../", "~")) or text.lower().endswith((".yaml", ".yml", ".json"))


def _read(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise _NotADict(f"cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _NotADict(f"{path} is not UTF-8 text (byte {exc.start})") from None


def _yaml_dict(text: str, resource: str) -> dict[str, Any]:
    from cfy_local.dsl.loader import load_yaml_text  # loads yaml: only when a value is YAML

    try:
        content = load_yaml_text(text, resource, plain=True)
    except DSLError as exc:
        raise _NotADict(f"'{resource}' is not a valid YAML. {exc}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise _NotADict(f"Resource is valid YAML, but does not represent a dictionary (content: {content})")
    return content
