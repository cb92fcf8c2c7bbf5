"""Typed values of the DSL: property/input/parameter types, data types and constraints.

Types: ``string``, ``integer``, ``float``, ``boolean``, ``list`` (with ``item_type``),
``dict``, ``regex``, Cloudify's object-based types (``node_id``, ``node_instance``,
``deployment_id`` …, checked where the deployment is known) and blueprint data types
(nested schemas with defaults). Values holding intrinsic functions are not type-checked:
their value is only known later.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from cfy_local.errors import DSLError

SIMPLE_TYPES = ("string", "integer", "float", "boolean", "list", "dict", "regex", "textarea")
OBJECT_TYPES = ("blueprint_id", "deployment_id", "capability_value", "scaling_group", "node_id",
                "node_type", "node_instance", "secret_key", "operation_name")
FUNCTION_NAMES = frozenset({"get_input", "get_property", "get_attribute", "get_attributes_list",
                            "get_attributes_dict", "concat", "merge", "get_secret", "get_sys",
                            "get_capability", "get_label", "get_environment_capability",
                            "get_group_capability", "string_find", "string_replace", "string_split",
                            "string_lower", "string_upper", "get_consumers"})
CONSTRAINT_NAMES = ("equal", "greater_than", "greater_or_equal", "less_than", "less_or_equal",
                    "in_range", "valid_values", "length", "min_length", "max_length", "pattern",
                    "filter_id", "labels", "tenants", "name_pattern", "deployment_id")
_SCHEMA_KEYS = {"type", "item_type", "default", "description", "required", "constraints",
                "display_label", "hidden", "display", "allow_update"}


def shorten(value: Any, limit: int = 120) -> str:
    """A value as text for an error message, cut so hostile input cannot flood stderr."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def is_function(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in FUNCTION_NAMES


def contains_function(value: Any) -> bool:
    if is_function(value):
        return True
    if isinstance(value, dict):
        return any(contains_function(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_function(v) for v in value)
    return False


def known_type(type_name: str, data_types: dict) -> bool:
    return type_name in SIMPLE_TYPES or type_name in OBJECT_TYPES or type_name in data_types


def check_schema(schema: Any, what: str, data_types: dict, where: str) -> dict:
    """Validate one property/input/parameter schema entry; return it as a plain dict."""
    if schema is None:
        return {}
    if not isinstance(schema, dict):
        raise DSLError(f"{where}: {what} must be a mapping (type, default, description, ...), got {schema!r}")
    unknown = sorted(set(schema) - _SCHEMA_KEYS)
    if unknown:
        raise DSLError(f"{where}: {what} has unknown key '{unknown[0]}'")
    type_name = schema.get("type")
    if type_name is not None and (not isinstance(type_name, str) or not known_type(type_name, data_types)):
        raise DSLError(f"{where}: {what}: Illegal type name '{type_name}'")
    item_type = schema.get("item_type")
    if item_type is not None and (not isinstance(item_type, str) or not known_type(item_type, data_types)):
        raise DSLError(f"{where}: {what} has an unknown item_type '{item_type}'")
    if "required" in schema and not isinstance(schema["required"], bool):
        raise DSLError(f"{where}: {what}: 'required' must be a boolean")
    constraints = schema.get("constraints")
    if constraints is not None:
        parse_constraints(constraints, f"{where}: {what}")
    out = dict(schema)
    if "default" in out and type_name:
        # A data type's missing mandatory fields may still come from where the default is used.
        quoted = re.findall(r"'([^']*)'", what)
        out["default"] = coerce(out["default"], type_name, data_types, quoted[-1] if quoted else what,
                                item_type=item_type, where=where, raise_on_missing=False)
        if constraints:
            check_constraints(out["default"], constraints, what.replace("'", ""), where)
    return out


class Texts:
    """Cloudify's wording for a data-typed value that lacks a mandatory field or has one its
    type does not define, which depends on where the value is (``{0}`` the owner, ``{1}``
    the field's dotted path; ``relative``: the path without the owner's own name)."""

    def __init__(self, owner: str, undefined: str, missing: str, *, relative: bool = False):
        self.owner, self.undefined, self.missing, self.relative = owner, undefined, missing, relative

    def path(self, name: str) -> str:
        if not self.relative:
            return name
        return name.split(".", 1)[1] if "." in name else ""

    def error(self, kind: str, path: str, where: str) -> DSLError:
        text = (self.undefined if kind == "undefined" else self.missing).format(self.owner, self.path(path))
        return DSLError(f"{where}: {text}" if where else text)


def node_texts(node_id: str) -> Texts:
    return Texts(node_id, "'{0}' node '{1}' property is not part of the derived type properties schema",
                 "'{0}' node does not provide a value for mandatory '{1}' property which is part of its type schema")


def relationship_texts(node_id: str) -> Texts:
    return Texts(node_id, "'{0}' node relationship '{1}' property is not part of the derived relationship type "
                          "properties schema",
                 "'{0}' node relationship does not provide a value for mandatory '{1}' property which is part of "
                 "its relationship type schema")


def input_texts(input_name: str) -> Texts:
    return Texts(input_name, "Undefined property {1} in value of input {0}.",
                 "Value of input {0} is missing property {1}.", relative=True)


def type_error(name: str, type_name: str, value: Any, where: str = "", texts: Texts | None = None) -> DSLError:
    """Cloudify's text: the owner (node, input ...) and, for a field inside it, the field's path."""
    prefix = f"{where}: " if where else ""
    owner, path = (texts.owner, texts.path(name)) if texts is not None else (name, "")
    if path:
        return DSLError(f"{prefix}Property type validation failed in '{owner}': property '{path}' type is "
                        f"'{type_name}', yet it was assigned with the value '{shorten(value)}'")
    return DSLError(f"{prefix}Property type validation failed in '{owner}': the defined type is '{type_name}', "
                    f"yet it was assigned with the value '{shorten(value)}'")


def coerce(value: Any, type_name: str | None, data_types: dict, name: str, *, item_type: str | None = None,
           where: str = "", strings_convert: bool = False, derived: Any = None,
           raise_on_missing: bool = True, texts: "Texts | None" = None) -> Any:
    """Check ``value`` against ``type_name``; return the value (data types get their
    defaults filled in, at every level, even around fields that hold intrinsic functions).
    ``derived``: the default a node type gives the property, under the template's value
    and over the data type's defaults. ``strings_convert``: accept ``"3"`` for integers
    etc. (values typed on a command line arrive as strings)."""
    if type_name is None or value is None or is_function(value):
        return value
    if type_name in ("string", "textarea") + OBJECT_TYPES:
        return value  # Cloudify keeps any value as given for these
    if type_name == "regex":
        if isinstance(value, str):
            try:
                re.compile(value)
                return value
            except re.error:
                pass
        raise type_error(name, type_name, value, where, texts)
    if type_name == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if strings_convert and isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        raise type_error(name, type_name, value, where, texts)
    if type_name == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if strings_convert and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise type_error(name, type_name, value, where, texts)
    if type_name == "boolean":
        if isinstance(value, bool):
            return value
        if strings_convert and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise type_error(name, type_name, value, where, texts)
    if type_name == "list":
        if not isinstance(value, list):
            raise type_error(name, type_name, value, where, texts)
        if item_type:
            return [coerce(v, item_type, data_types, f"{name}[{i}]", where=where, strings_convert=strings_convert,
                           texts=texts) for i, v in enumerate(value)]
        return value
    if type_name == "dict":
        if not isinstance(value, dict):
            raise type_error(name, type_name, value, where, texts)
        return value
    if type_name in data_types:
        return coerce_data_type(value, type_name, data_types, name, where=where, strings_convert=strings_convert,
                                derived=derived, raise_on_missing=raise_on_missing, texts=texts)
    raise DSLError(f"{where + ': ' if where else ''}'{name}' has an unknown type '{type_name}'")


def coerce_data_type(value: Any, type_name: str, data_types: dict, name: str, *, where: str = "",
                     strings_convert: bool = False, derived: Any = None, raise_on_missing: bool = True,
                     texts: "Texts | None" = None) -> dict:
    """Cloudify's order: the data type's defaults, then what the node type's default gives
    (``derived``), then the value itself; each field is checked against its own type, a
    nested data type the same way with this level's value for it as its ``derived``."""
    if not isinstance(value, dict):
        raise type_error(name, type_name, value, where, texts)
    schema = data_types[type_name].get("properties") or {}
    unknown = sorted(set(value) - set(schema), key=str)
    if unknown:
        if texts is not None:
            raise texts.error("undefined", f"{name}.{unknown[0]}", where)
        raise DSLError(f"{where + ': ' if where else ''}'{name}' has an undefined property '{unknown[0]}' "
                       f"(data type '{type_name}')")
    below = {prop: prop_schema["default"] for prop, prop_schema in schema.items() if "default" in prop_schema}
    if isinstance(derived, dict) and not is_function(derived):
        below.update(derived)
    merged = dict(below)
    merged.update(value)
    out = {}
    for prop, prop_schema in schema.items():
        if prop not in merged:
            if prop_schema.get("required", True) and raise_on_missing:
                if texts is not None:
                    raise texts.error("missing", f"{name}.{prop}", where)
                raise DSLError(f"{where + ': ' if where else ''}'{name}' (data type '{type_name}') does not provide a "
                               f"value for mandatory '{prop}' property")
            continue
        out[prop] = coerce(merged[prop], prop_schema.get("type"), data_types, f"{name}.{prop}",
                           item_type=prop_schema.get("item_type"), where=where, strings_convert=strings_convert,
                           derived=below.get(prop), raise_on_missing=raise_on_missing, texts=texts)
        if prop in value and prop_schema.get("constraints"):
            check_constraints(out[prop], prop_schema["constraints"], f"{name}.{prop}", where)
    return out


# --- constraints ---------------------------------------------------------------------

def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _length(v) -> int:
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise TypeError


_CHECKS: dict[str, Callable[[Any, Any], bool]] = {
    "equal": lambda v, a: v == a,
    "greater_than": lambda v, a: v > a,
    "greater_or_equal": lambda v, a: v >= a,
    "less_than": lambda v, a: v < a,
    "less_or_equal": lambda v, a: v <= a,
    "in_range": lambda v, a: a[0] <= v <= a[1],
    "valid_values": lambda v, a: v in a,
    "length": lambda v, a: _length(v) == a,
    "min_length": lambda v, a: _length(v) >= a,
    "max_length": lambda v, a: _length(v) <= a,
    "pattern": lambda v, a: isinstance(v, str) and re.fullmatch(a, v) is not None,
}


def parse_constraints(constraints: Any, where: str) -> list[tuple[str, Any]]:
    if not isinstance(constraints, list):
        raise DSLError(f"{where}: 'constraints' must be a list")
    out = []
    for item in constraints:
        if not isinstance(item, dict) or len(item) != 1:
            raise DSLError(f"{where}: each constraint must be a one-key mapping, got {item!r}")
        name, arg = next(iter(item.items()))
        if name not in CONSTRAINT_NAMES:
            raise DSLError(f"{where}: unknown constraint '{name}'")
        if name == "in_range" and not (isinstance(arg, list) and len(arg) == 2):
            raise DSLError(f"{where}: 'in_range' takes a list of two values")
        if name == "valid_values" and not isinstance(arg, list):
            raise DSLError(f"{where}: 'valid_values' takes a list")
        if name in ("length", "min_length", "max_length") and not (isinstance(arg, int) and arg >= 0):
            raise DSLError(f"{where}: '{name}' takes a non-negative integer")
        if name == "pattern":
            try:
                re.compile(str(arg))
            except re.error as exc:
                raise DSLError(f"{where}: 'pattern' is not a valid regular expression: {exc}") from None
        out.append((name, arg))
    return out


def constraint_failures(value: Any, constraints: list) -> list[str]:
    """The constraints ``value`` violates, as ``name(arg)`` texts."""
    failures = []
    for name, arg in parse_constraints(constraints, "constraints"):
        check = _CHECKS.get(name)
        if check is None:  # object-type filters (filter_id, labels, ...) need a manager
            continue
        try:
            ok = check(value, arg)
        except (TypeError, IndexError):
            ok = False
        if not ok:
            shown = ", ".join(str(a) for a in arg) if isinstance(arg, (list, tuple)) else arg
            failures.append(f"{name}({shown})")
    return failures


def check_constraints(value: Any, constraints: list, what: str, where: str = "") -> None:
    if value is None or contains_function(value):
        return
    failures = constraint_failures(value, constraints)
    if failures:
        prefix = f"{where}: " if where else ""
        raise DSLError(f"{prefix}Value {shorten(value)} of {what} violates constraint {failures[0]} operator.")
