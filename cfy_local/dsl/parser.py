"""Blueprint parser: YAML files → one validated plan (``plan.json``).

Steps: load the main file, resolve imports (relative files; Cloudify's types.yaml URLs and
``cloudify/types/types.yaml`` → the bundled ``resources/types.yaml``; never the network),
merge sections as Cloudify does (a name defined in two files is a merge conflict), resolve
``derived_from`` chains, check every name a template uses, build each node's operations
(type interface + template override, as Cloudify merges them; script auto-mapping),
relationships, scaling groups, workflows and default schedules.

Every error is a :class:`DSLError` whose one line starts with ``file:line`` when known.
Intrinsic functions stay raw in the plan (instance counts included); deployment create
evaluates them (``dsl.deployment_plan``).
"""
from __future__ import annotations

import copy
import os
import re
from typing import Any, Callable

from cfy_local import timegrammar
from cfy_local.dsl import values
from cfy_local.dsl.deployment_plan import check_count_order
from cfy_local.dsl.functions import check_plan_functions
from cfy_local.dsl.loader import load_yaml_file, where
from cfy_local.dsl.values import shorten
from cfy_local.errors import CfyLocalError, DSLError
from cfy_local.ids import is_valid_id

BUNDLED_TYPES = os.path.join(os.path.dirname(__file__), "resources", "types.yaml")
DSL_VERSIONS = ("cloudify_dsl_1_0", "cloudify_dsl_1_1", "cloudify_dsl_1_2", "cloudify_dsl_1_3",
                "cloudify_dsl_1_4", "cloudify_dsl_1_5")
SUPPORTED_MAIN_VERSIONS = ("cloudify_dsl_1_3", "cloudify_dsl_1_4", "cloudify_dsl_1_5")
TOP_LEVEL_KEYS = ("tosca_definitions_version", "description", "imports", "inputs", "dsl_definitions",
                  "metadata", "node_types", "relationships", "node_templates", "plugins", "workflows",
                  "outputs", "capabilities", "groups", "policies", "data_types", "policy_types",
                  "policy_triggers", "deployment_settings", "blueprint_labels", "labels",
                  "upload_resources", "resource_tags")
# Cloudify's own order, for the text that lists what a mapping may hold.
CLOUDIFY_TOP_LEVEL_KEYS = ["tosca_definitions_version", "description", "imports", "dsl_definitions", "metadata",
                           "inputs", "plugins", "node_types", "relationships", "node_templates", "policy_types",
                           "policy_triggers", "groups", "policies", "workflows", "outputs", "data_types",
                           "capabilities", "imported_blueprints", "namespaces_mapping", "labels", "blueprint_labels",
                           "deployment_settings", "resource_tags"]
NODE_TEMPLATE_KEYS = ["type", "instances", "capabilities", "interfaces", "relationships", "properties"]
RELATIONSHIP_KEYS = ["type", "target", "properties", "source_interfaces", "target_interfaces"]
OPERATION_KEY_ORDER = ["implementation", "inputs", "executor", "max_retries", "retry_interval", "timeout",
                       "timeout_recoverable"]
DEPLOYMENT_SETTINGS_KEYS = ["default_schedules", "default_groups", "id_template", "display_name"]
NON_MERGEABLE = ("policies", "deployment_settings")
MERGED_SECTIONS = ("inputs", "node_types", "relationships", "node_templates", "plugins", "workflows",
                   "outputs", "capabilities", "groups", "policies", "data_types", "policy_types",
                   "policy_triggers", "blueprint_labels", "labels", "resource_tags")
_CLOUDIFY_TYPES_URL = re.compile(
    r"^(https?://(www\.)?(cloudify\.co|getcloudify\.org)/spec/cloudify/[^/]+/types\.yaml"
    r"|cloudify/types/types(_1_[345])?\.yaml)$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
COMPUTE = "cloudify.nodes.Compute"
CONTAINED_IN = "cloudify.relationships.contained_in"
LIFECYCLE_OPERATION_DEPENDENCY = "cloudify.relationships.depends_on_lifecycle_operation"
SCALING_POLICY = "cloudify.policies.scaling"
# The agent plugin installs/starts Cloudify agents on hosts; there are none locally.
NOOP_PLUGINS = frozenset({"agent"})
EXECUTORS = ("central_deployment_agent", "host_agent", "auto")
OPERATION_KEYS = {"implementation", "inputs", "executor", "max_retries", "retry_interval", "timeout",
                  "timeout_recoverable"}
SCHEDULE_KEYS = {"workflow", "since", "until", "timezone", "recurrence", "weekdays", "count", "slip",
                 "default_enabled", "stop_after_fail", "workflow_parameters", "execution_arguments"}
EXECUTION_ARGUMENT_KEYS = {"force", "is_dry_run", "wait_after_fail", "allow_custom_parameters"}
WEEKDAYS = ("su", "mo", "tu", "we", "th", "fr", "sa")


def inside(base_dir: str, path: str) -> bool:
    """True if ``path`` (symlinks resolved) is ``base_dir`` or below it."""
    base = os.path.realpath(base_dir)
    real = os.path.realpath(path)
    return real == base or real.startswith(base + os.sep)


def _at(obj, key=None) -> str:
    place = where(obj, key)
    return place or "blueprint"


_YAML_TYPE_NAMES = {bool: "boolean", int: "integer", float: "float", str: "string", dict: "dict", list: "list"}


def _type_mismatch(place: str, expected: str, value: Any) -> DSLError:
    found = next((name for kind, name in _YAML_TYPE_NAMES.items() if isinstance(value, kind)),
                 type(value).__name__)
    if isinstance(value, bool):
        found = "boolean"
    return DSLError(f"{place}: Expected '{expected}' type but found '{found}' type")


def _string_keys(mapping: dict) -> None:
    """Names (of properties, types, templates ...) must be strings: YAML reads a bare
    ``on``/``yes`` as a boolean and ``1`` as a number, which Cloudify refuses."""
    for name in mapping:
        if not isinstance(name, str):
            kind = _YAML_TYPE_NAMES.get(type(name), type(name).__name__)
            raise DSLError(f"{_at(mapping, name)}: Dict keys must be strings but found '{name}' of type '{kind}'")


def _not_in_schema(place: str, key: Any, valid: list) -> DSLError:
    return DSLError(f"{place}: '{key}' is not in schema. Valid schema values: {valid}")


def _mapping(value, what: str, parent, key) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DSLError(f"{_at(parent, key)}: '{what}' must be a mapping, got {type(value).__name__}")
    return value


# --- loading and imports ----------------------------------------------------------------

def parse_blueprint(path: str, *, display_name: str | None = None,
                    plugin_resolver: Callable[[str, str | None], str] | None = None) -> dict[str, Any]:
    """Parse and validate the blueprint at ``path``; return the plan (plain JSON data).

    ``plugin_resolver(import_url, dsl_version)`` gives the path of the YAML file a
    ``plugin:`` import brings in (the plugin catalog, passed in by blueprint upload); it
    raises DSLError when nothing matches. Without one, ``plugin:`` imports are refused."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise DSLError(f"Blueprint file {display_name or path} does not exist")
    if os.path.isdir(path):
        raise DSLError(f"{display_name or path} is a folder; give the path of the blueprint YAML file")
    base_dir = os.path.dirname(path)
    main = load_yaml_file(path, os.path.basename(path))
    if not isinstance(main, dict):
        raise DSLError(f"{os.path.basename(path)}: a blueprint must be a YAML mapping")
    version = main.get("tosca_definitions_version")
    if version is None:
        raise DSLError(f"{_at(main)}: tosca_definitions_version field must appear in the main blueprint file")
    if version not in SUPPORTED_MAIN_VERSIONS:
        raise DSLError(f"{_at(main, 'tosca_definitions_version')}: tosca_definitions_version '{shorten(version)}' is not "
                       f"supported (supported: {', '.join(SUPPORTED_MAIN_VERSIONS)})")
    combined: dict[str, dict] = {name: {} for name in MERGED_SECTIONS}
    origin: dict[tuple[str, str], Any] = {}
    seen_files: set[str] = set()
    dsl_version = str(version)[len("cloudify_dsl_"):]
    plugin_import = None if plugin_resolver is None else (lambda url: plugin_resolver(url, dsl_version))
    _absorb(main, path, base_dir, combined, origin, seen_files, is_main=True, plugin_import=plugin_import)
    return _build_plan(main, combined, base_dir, os.path.basename(path), origin)


def _absorb(doc: dict, file_path: str, base_dir: str, combined: dict, origin: dict, seen: set,
            *, is_main: bool, plugin_import: Callable[[str], str] | None = None) -> None:
    seen.add(os.path.realpath(file_path))
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            raise _not_in_schema(_at(doc, key), key, CLOUDIFY_TOP_LEVEL_KEYS)
    if not is_main:
        version = doc.get("tosca_definitions_version")
        if version is not None and version not in DSL_VERSIONS:
            raise DSLError(f"{_at(doc, 'tosca_definitions_version')}: unknown tosca_definitions_version '{version}'")
    imports = doc.get("imports") or []
    if not isinstance(imports, list):
        raise _type_mismatch(f"{_at(doc, 'imports')}: imports", "list", imports)
    for entry in imports:
        target = _resolve_import(entry, file_path, doc, base_dir, plugin_import)
        if os.path.realpath(target) in seen:
            continue
        display = "types.yaml (bundled)" if target == BUNDLED_TYPES else (
            entry.strip() if entry.strip().startswith("plugin:") else os.path.relpath(target, base_dir))
        imported = load_yaml_file(target, display)
        if not isinstance(imported, dict):
            raise DSLError(f"{display}: an imported file must be a YAML mapping")
        _absorb(imported, target, base_dir, combined, origin, seen, is_main=False, plugin_import=plugin_import)
    from_types = file_path == BUNDLED_TYPES
    for section in MERGED_SECTIONS + ("deployment_settings",):
        content = doc.get(section)
        if content is None:
            continue
        if section in NON_MERGEABLE:
            # Cloudify merges these sections across files only into an empty one.
            if section in origin:
                raise DSLError(f"{_at(doc, section)}: Import failed: non-mergeable field: '{section}'")
            origin[section] = where(doc, section)
            if section == "deployment_settings":
                combined[section] = content
                continue
        if section in ("blueprint_labels", "labels", "resource_tags"):
            for key, value in (content if isinstance(content, dict) else {}).items():
                combined[section].setdefault(key, value)
            continue
        content = _mapping(content, section, doc, section)
        _string_keys(content)
        for name, definition in content.items():
            if name not in combined[section]:
                combined[section][name] = definition
                origin[(section, name)] = where(content, name)
                if from_types:
                    origin.setdefault("from_types", set()).add((section, name))
                continue
            existing_from_types = (section, name) in origin.get("from_types", set())
            if from_types or existing_from_types or (isinstance(name, str) and name.startswith("cloudify.")):
                # Cloudify's own types, or user overrides of them, are not conflicts: Cloudify
                # reads the main file first, so its types file wins over the main file and a
                # later import's override wins over the types file.
                if not (existing_from_types and is_main):
                    combined[section][name] = definition
                    origin[(section, name)] = where(content, name)
                    origin.get("from_types", set()).discard((section, name))
                continue
            if section == "workflows":
                # Cloudify keeps the first definition and adds the keys only another one has.
                current, other = combined[section][name], definition
                if is_main:
                    current, other = other, current
                if isinstance(current, dict) and isinstance(other, dict):
                    merged = copy.copy(current)
                    for key, value in other.items():
                        merged.setdefault(key, value)
                    combined[section][name] = merged
                elif is_main:
                    combined[section][name] = current
                continue
            if section == "node_templates":
                extended = _extend_node_template(combined[section][name], definition)
                if extended is not None:
                    combined[section][name] = extended
                    continue
            raise DSLError(f"{_at(content, name)}: Import failed: Could not merge '{section}' due to conflict on "
                           f"'{name}' (also defined at {origin.get((section, name)) or 'an imported file'})")


def _extend_node_template(first: Any, second: Any) -> dict | None:
    """Cloudify lets one file give a node template and another add relationships to it (a
    definition that holds nothing but ``relationships``); None when that is not the case."""
    if not isinstance(first, dict) or not isinstance(second, dict):
        return None
    only_first = set(first) == {"relationships"}
    only_second = set(second) == {"relationships"}
    if not (only_first or only_second):
        return None
    base, extra = (second, first) if only_first and not only_second else (first, second)
    if not isinstance(base.get("relationships", []), list) or not isinstance(extra["relationships"], list):
        return None
    merged = copy.copy(base)
    merged["relationships"] = list(base.get("relationships") or []) + list(extra["relationships"])
    return merged


def _resolve_import(entry: Any, file_path: str, doc: dict, base_dir: str,
                    plugin_import: Callable[[str], str] | None = None) -> str:
    if not isinstance(entry, str) or not entry.strip():
        raise DSLError(f"{_at(doc, 'imports')}: an import must be a non-empty string, got {entry!r}")
    entry = entry.strip()
    if _CLOUDIFY_TYPES_URL.match(entry):
        return BUNDLED_TYPES
    if entry.startswith("plugin:") and plugin_import is not None:
        try:
            return plugin_import(entry)
        except DSLError as exc:
            raise DSLError(f"{_at(doc, 'imports')}: {exc}") from None
    if entry.startswith("plugin:"):
        raise DSLError(f"{_at(doc, 'imports')}: unknown plugin import '{entry}': cfy-local has no plugin catalog; "
                       f"put the plugin's folder beside the blueprint, import its plugin.yaml by relative path "
                       f"and declare it under `plugins:` with `source:`")
    if _URL.match(entry) or entry.startswith(("blueprint:", "resource:")):
        raise DSLError(f"{_at(doc, 'imports')}: cannot import '{entry}': cfy-local never fetches from the network "
                       f"(only Cloudify's types.yaml URLs are known); use a path relative to the blueprint")
    if "--" in entry.split("/")[0]:
        raise DSLError(f"{_at(doc, 'imports')}: namespaced import '{entry}' is not supported by cfy-local")
    if os.path.isabs(entry):
        raise DSLError(f"{_at(doc, 'imports')}: import '{entry}' must be a path relative to the importing file")
    target = os.path.normpath(os.path.join(os.path.dirname(file_path), entry))
    if not inside(base_dir, target):
        raise DSLError(f"{_at(doc, 'imports')}: import '{shorten(entry)}' is outside the blueprint folder; every "
                       f"imported file must be inside it (it is the folder that gets uploaded)")
    if not os.path.isfile(target):
        raise DSLError(f"{_at(doc, 'imports')}: import '{entry}' not found (looked for {target})")
    return target


# --- types --------------------------------------------------------------------------------

def _hierarchies(types: dict, kind: str) -> dict[str, list[str]]:
    """name -> [root, ..., name]; refuses unknown parents and circular derived_from."""
    out: dict[str, list[str]] = {}
    for name in types:
        chain = [name]
        current = name
        while True:
            definition = _mapping(types[current], f"{kind} {current}", types, current)
            parent = definition.get("derived_from")
            if parent is None:
                break
            if parent not in types:
                word = "data type" if kind == "data type" else "type"
                raise DSLError(f"{_at(definition, 'derived_from')}: Missing definition for {word} '{parent}' which is "
                               f"declared as derived by {word} '{current}'")
            if parent in chain:
                cycle = " -> ".join(chain[chain.index(parent):] + [parent])
                raise DSLError(f"{_at(definition, 'derived_from')}: circular derived_from in {kind}s: {cycle}")
            chain.append(parent)
            current = parent
        out[name] = list(reversed(chain))
    return out


def _merged_schema(hierarchy: list[str], types: dict, key: str, data_types: dict, kind: str) -> dict:
    merged: dict = {}
    for type_name in hierarchy:
        section = _mapping(types[type_name].get(key), key, types[type_name], key)
        _string_keys(section)
        for prop, schema in section.items():
            merged[prop] = values.check_schema(schema, f"{kind} '{type_name}' property '{prop}'", data_types,
                                               _at(section, prop))
    return merged


def _merged_interfaces(hierarchy: list[str], types: dict, key: str) -> dict:
    """interface -> op -> (op definition, declaring place); a derived type's operation
    replaces the parent's entirely."""
    merged: dict[str, dict] = {}
    for type_name in hierarchy:
        interfaces = _mapping(types[type_name].get(key), key, types[type_name], key)
        for interface, ops in interfaces.items():
            ops = _mapping(ops, f"interface {interface}", interfaces, interface)
            target = merged.setdefault(interface, {})
            for op_name, op in ops.items():
                target[op_name] = (op, _at(ops, op_name))
    return merged


def _check_data_types(data_types: dict) -> dict:
    hierarchy = _hierarchies(data_types, "data type")
    resolved: dict[str, dict] = {}
    # Validate schema shapes first (types may refer to each other), then flatten inheritance.
    for name, chain in hierarchy.items():
        props: dict = {}
        for type_name in chain:
            section = _mapping(data_types[type_name].get("properties"), "properties", data_types[type_name], "properties")
            for prop, schema in section.items():
                if not isinstance(schema, dict) and schema is not None:
                    raise DSLError(f"{_at(section, prop)}: data type '{type_name}' property '{prop}' must be a mapping")
                props[prop] = dict(schema or {})
        resolved[name] = {"derived_from": data_types[name].get("derived_from"),
                          "description": data_types[name].get("description"), "properties": props}
    for name, definition in resolved.items():
        for prop, schema in definition["properties"].items():
            values.check_schema(schema, f"data type '{name}' property '{prop}'", resolved,
                                _at(data_types[name].get("properties"), prop))
    return resolved


# --- operations ---------------------------------------------------------------------------

def _op_parts(op: Any, place: str, op_name: str = "") -> dict:
    if op is None or op == {}:
        return {"implementation": ""}
    if isinstance(op, str):
        return {"implementation": op}
    if not isinstance(op, dict):
        raise DSLError(f"{place}: an operation must be a string or a mapping, got {op!r}")
    unknown = sorted(set(op) - OPERATION_KEYS)
    if unknown:
        raise _not_in_schema(place, unknown[0], OPERATION_KEY_ORDER)
    out = dict(op)
    out.setdefault("implementation", "")
    if out["implementation"] is None:
        out["implementation"] = ""
    if not isinstance(out["implementation"], str):
        raise DSLError(f"{place}: 'implementation' must be a string")
    if "inputs" in out and out["inputs"] is not None and not isinstance(out["inputs"], dict):
        raise DSLError(f"{place}: operation 'inputs' must be a mapping")
    executor = out.get("executor")
    if executor is not None and executor not in EXECUTORS:
        raise DSLError(f"{place}: Operation '{op_name}' has an illegal executor value '{executor}'. valid values are "
                       f"[central_deployment_agent,host_agent]")
    for key in ("max_retries",):
        if out.get(key) is not None and not (isinstance(out[key], int) and not isinstance(out[key], bool)):
            raise DSLError(f"{place}: '{key}' must be an integer")
    for key in ("retry_interval", "timeout"):
        if out.get(key) is not None and not values._number(out[key]):
            raise DSLError(f"{place}: '{key}' must be a number")
    return out


def _schema_defaults(type_inputs: dict, place: str) -> tuple[dict, list[str]]:
    """Type-level operation inputs are schemas; return their defaults and the names with none."""
    defaults, missing = {}, []
    for name, schema in (type_inputs or {}).items():
        if isinstance(schema, dict) and "default" in schema:
            defaults[name] = schema["default"]
        elif isinstance(schema, dict) and set(schema) <= {"type", "description", "required", "default",
                                                          "constraints", "display_label", "hidden"}:
            if schema.get("required") is False:
                continue
            missing.append(name)
        else:
            defaults[name] = schema
    return defaults, missing


def _merge_operation(type_op: tuple | None, template_op: Any, place: str,
                     op_name: str = "") -> tuple[dict, list[str]]:
    """Cloudify's merge: same implementation → template values override schema defaults
    key by key; a different implementation → only the template's settings apply."""
    base = _op_parts(type_op[0], type_op[1], op_name) if type_op else None
    if template_op is None:
        defaults, missing = _schema_defaults(base.get("inputs") or {}, type_op[1])
        merged = dict(base)
        merged["inputs"] = defaults
        return merged, missing
    override = _op_parts(template_op, place, op_name)
    if base is not None and override["implementation"] in ("", base["implementation"]) and \
            (override["implementation"] or not isinstance(template_op, str)):
        defaults, _ = _schema_defaults(base.get("inputs") or {}, place)
        inputs = dict(defaults)
        inputs.update(override.get("inputs") or {})
        missing = [n for n in _schema_defaults(base.get("inputs") or {}, place)[1] if n not in inputs]
        merged = dict(base)
        merged.update({k: v for k, v in override.items() if k != "inputs" and v not in (None, "")})
        merged["implementation"] = base["implementation"] if not override["implementation"] else override["implementation"]
        merged["inputs"] = inputs
        return merged, missing
    merged = dict(override)
    merged["inputs"] = dict(override.get("inputs") or {})
    return merged, []


class _Resolver:
    """Maps an operation's implementation to (plugin, operation) or a script."""

    def __init__(self, plugins: dict, base_dir: str):
        self.plugins = plugins
        self.base_dir = base_dir
        self.script_plugin = next((p for p in plugins if p.endswith("script")), None)

    def is_script(self, implementation: str) -> bool:
        if "\n" in implementation.strip() or _URL.match(implementation):
            return True
        candidate = os.path.normpath(os.path.join(self.base_dir, implementation))
        return os.path.isfile(candidate)

    def check_script_path(self, path: Any, op_name: str, place: str) -> None:
        """A script must be a file inside the blueprint folder (or a URL)."""
        if not isinstance(path, str) or _URL.match(path) or "\n" in path.strip():
            return
        if os.path.isabs(path) or not inside(self.base_dir, os.path.join(self.base_dir, path)):
            raise DSLError(f"{place}: operation '{op_name}': script '{shorten(path)}' is outside the blueprint "
                           f"folder; scripts must be files inside it")

    def plugin_of(self, implementation: str, op_name: str, place: str) -> tuple[str, str]:
        first, _, rest = implementation.partition(".")
        if first in self.plugins and rest:
            return first, rest
        raise DSLError(f"{place}: Could not extract plugin or a script resource is not found from operation "
                       f"mapping/script-path '{implementation}', which is declared for operation '{op_name}'.")

    def build(self, merged: dict, op_name: str, place: str, has_host: bool) -> dict:
        implementation = merged.get("implementation") or ""
        inputs = dict(merged.get("inputs") or {})
        out = {"implementation": implementation, "plugin": None, "operation": "",
               "executor": merged.get("executor") or "central_deployment_agent", "inputs": inputs,
               "max_retries": merged.get("max_retries"), "retry_interval": merged.get("retry_interval"),
               "timeout": merged.get("timeout")}
        if not implementation:
            return out
        if not _URL.match(implementation) and (implementation.startswith(("/", "..")) or "/../" in implementation
                                               or os.sep in implementation and self.is_script(implementation)):
            self.check_script_path(implementation, op_name, place)
        if self.is_script(implementation):
            if self.script_plugin is None:
                raise DSLError(f"{place}: Script plugin is not defined but it is required for mapping "
                               f"'{implementation}' of operation '{op_name}'")
            for reserved in ("script_path", "script_source"):
                if reserved in inputs:
                    raise DSLError(f"{place}: Cannot define '{reserved}' property in '{implementation}' for "
                                   f"operation '{op_name}'")
            if "\n" in implementation.strip():
                inputs["script_source"] = implementation
            else:
                inputs["script_path"] = implementation
            executor = merged.get("executor") or "auto"
            if executor == "auto":
                executor = "host_agent" if has_host else "central_deployment_agent"
            out.update(plugin=self.script_plugin, operation="script_runner.tasks.run", executor=executor)
            return out
        plugin, operation = self.plugin_of(implementation, op_name, place)
        if plugin == self.script_plugin and operation in ("script_runner.tasks.run", "tasks.run"):
            self.check_script_path(inputs.get("script_path"), op_name, place)
        if plugin in NOOP_PLUGINS:
            # No agents locally: the operation is kept visible but runs as a no-op.
            out.update(implementation="", declared_implementation=implementation, plugin=None, operation="")
            return out
        out.update(plugin=plugin, operation=operation,
                   executor=merged.get("executor") or self.plugins[plugin].get("executor") or "central_deployment_agent")
        return out


def _operations(type_interfaces: dict, template_interfaces: Any, owner: str, resolver: _Resolver,
                has_host: bool, parent, parent_key) -> dict:
    template_interfaces = _mapping(template_interfaces, "interfaces", parent, parent_key)
    full: dict[str, dict] = {}
    for interface, ops in template_interfaces.items():
        _mapping(ops, f"interface {interface}", template_interfaces, interface)
    names = set(type_interfaces) | set(template_interfaces)
    for interface in sorted(names, key=lambda n: (n not in type_interfaces, n)):
        type_ops = type_interfaces.get(interface, {})
        template_ops = template_interfaces.get(interface) or {}
        for op_name in list(type_ops) + [o for o in template_ops if o not in type_ops]:
            place = _at(template_ops, op_name) if op_name in template_ops else type_ops[op_name][1]
            merged, missing = _merge_operation(type_ops.get(op_name), template_ops.get(op_name), place,
                                               f"{interface}.{op_name}")
            if missing:
                quoted = ", ".join(f"'{m}'" for m in missing)
                noun = "Input" if len(missing) == 1 else "Inputs"
                verb = "is" if len(missing) == 1 else "are"
                raise DSLError(f"{place}: {owner}: operation '{interface}.{op_name}': {noun} {quoted} {verb} "
                               f"missing a value")
            full[f"{interface}.{op_name}"] = resolver.build(merged, f"{interface}.{op_name}", place, has_host)
    short_count: dict[str, int] = {}
    for name in full:
        short = name.rsplit(".", 1)[1]
        short_count[short] = short_count.get(short, 0) + 1
    operations = dict(full)
    for name, op in full.items():
        short = name.rsplit(".", 1)[1]
        if short_count[short] == 1 and short not in operations:
            operations[short] = op
    return operations


# --- the plan ------------------------------------------------------------------------------

def _build_plan(main: dict, combined: dict, base_dir: str, main_file: str, origin: dict) -> dict:
    data_types = _check_data_types(combined["data_types"])
    plugins = _plugins(combined["plugins"], base_dir)
    resolver = _Resolver(plugins, base_dir)
    node_types = combined["node_types"]
    rel_types = combined["relationships"]
    node_hierarchy = _hierarchies(node_types, "node type")
    rel_hierarchy = _hierarchies(rel_types, "relationship type")

    _check_version_features(main.get("tosca_definitions_version"), combined, origin)
    inputs = {}
    for name, schema in combined["inputs"].items():
        inputs[name] = values.check_schema(schema, f"input '{name}'", data_types, _at(combined["inputs"], name))

    templates = combined["node_templates"]
    nodes = []
    for node_id, template in templates.items():
        place = _at(templates, node_id)
        nodes.append(_node(node_id, template, place, node_types, node_hierarchy, rel_types, rel_hierarchy,
                           templates, data_types, resolver))
    _check_relationship_cycles(nodes, templates)
    hosts = _host_ids(nodes)
    for node in nodes:
        node["host_id"] = hosts[node["id"]]
    node_by_id = {n["id"]: n for n in nodes}
    for node in nodes:
        node["plugins"] = sorted({op["plugin"] for op in node["operations"].values() if op["plugin"]} |
                                 {op["plugin"] for r in node["relationships"]
                                  for side in ("source_operations", "target_operations")
                                  for op in r[side].values() if op["plugin"]})
    groups, policies, scaling_groups = _groups_and_policies(combined, node_by_id)
    workflows = _workflows(combined["workflows"], plugins, data_types, resolver)
    plan = {
        "tosca_definitions_version": main.get("tosca_definitions_version"),
        "description": main.get("description"),
        "metadata": main.get("metadata") or {},
        "main_file_name": main_file,
        "inputs": inputs,
        "data_types": data_types,
        "nodes": nodes,
        "workflows": workflows,
        "plugins": plugins,
        "outputs": _outputs(combined["outputs"], "outputs"),
        "capabilities": _outputs(combined["capabilities"], "capabilities"),
        "groups": groups,
        "policies": policies,
        "scaling_groups": scaling_groups,
        "default_schedules": _default_schedules(combined.get("deployment_settings"), workflows),
        "labels": dict(combined.get("labels") or {}),
        "resource_tags": dict(combined.get("resource_tags") or {}),
        "deployment_settings": _deployment_settings(combined.get("deployment_settings")),
        "blueprint_labels": dict(combined.get("blueprint_labels") or {}),
    }
    check_plan_functions(plan)
    return _plain(plan)


OBJECT_TYPES_1_4 = ("blueprint_id", "deployment_id", "capability_value", "scaling_group", "node_id", "node_type",
                    "node_instance", "secret_key")


def _check_version_features(version: str, combined: dict, origin: dict) -> None:
    """Schema features newer than the blueprint's DSL version are refused, as Cloudify does:
    ``item_type`` and the object-based types came with 1_4, ``operation_name`` with 1_5.
    The bundled types file serves every version, so only the blueprint's own files count."""
    minor = int(version.rsplit("_", 1)[1])
    bundled = origin.get("from_types", set())

    def check(schema, place):
        if not isinstance(schema, dict):
            return
        type_name = schema.get("type")
        if minor < 4 and "item_type" in schema:
            raise DSLError(f"{place}: item_type not supported in version {version}, it was added in cloudify_dsl_1_4")
        if minor < 4 and type_name in OBJECT_TYPES_1_4:
            raise DSLError(f"{place}: type '{type_name}' not supported in version {version}, it was added in "
                           f"cloudify_dsl_1_4")
        if minor < 5 and type_name == "operation_name":
            raise DSLError(f"{place}: type 'operation_name' not supported in version {version}, it was added in "
                           f"cloudify_dsl_1_5")

    for name, schema in combined["inputs"].items():
        check(schema, _at(combined["inputs"], name))
    for section, key in (("node_types", "properties"), ("relationships", "properties"), ("data_types", "properties"),
                         ("workflows", "parameters")):
        for name, definition in combined[section].items():
            if (section, name) in bundled or not isinstance(definition, dict):
                continue
            schemas = definition.get(key)
            for prop, schema in (schemas.items() if isinstance(schemas, dict) else ()):
                check(schema, _at(schemas, prop))


def _plain(obj):
    """Strip the line-tracking dict subclass so the plan is plain JSON data."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _plugins(section: dict, base_dir: str) -> dict:
    out = {}
    for name, definition in section.items():
        definition = _mapping(definition, f"plugin {name}", section, name)
        executor = definition.get("executor", "central_deployment_agent")
        if executor not in ("central_deployment_agent", "host_agent"):
            raise DSLError(f"{_at(definition, 'executor')}: plugin '{name}' has an unknown executor '{executor}'")
        source = definition.get("source")
        if source and not _URL.match(str(source)):
            folder = os.path.realpath(os.path.join(base_dir, str(source)))
            base = os.path.realpath(base_dir)
            if not (folder == base or folder.startswith(base + os.sep)) or not os.path.isdir(folder):
                raise DSLError(f"{_at(definition, 'source')}: plugin '{name}': source folder '{source}' does not "
                               f"exist inside the blueprint folder")
        out[name] = dict(definition)
        out[name]["executor"] = executor
    return out


def _node(node_id, template, place, node_types, node_hierarchy, rel_types, rel_hierarchy, templates,
          data_types, resolver) -> dict:
    if not isinstance(node_id, str) or not is_valid_id(node_id):
        raise DSLError(f"{place}: node template id {node_id!r} is not a valid id (letters, digits, '-', '.', '_', "
                       f"starting with a letter)")
    template = _mapping(template, f"node template {node_id}", templates, node_id)
    allowed = set(NODE_TEMPLATE_KEYS)
    for key in template:
        if key not in allowed:
            raise _not_in_schema(f"{_at(template, key)}: node template '{node_id}'", key, NODE_TEMPLATE_KEYS)
    type_name = template.get("type")
    if type_name is None:
        raise DSLError(f"{place}: node template '{node_id}': 'type' key is required but it is currently missing")
    if type_name not in node_types:
        raise DSLError(f"{_at(template, 'type')}: Could not locate node type: '{type_name}' (node template "
                       f"'{node_id}')")
    hierarchy = node_hierarchy[type_name]
    schema = _merged_schema(hierarchy, node_types, "properties", data_types, "node type")
    given = _mapping(template.get("properties"), "properties", template, "properties")
    properties = {}
    for prop in given:
        if prop not in schema:
            raise DSLError(f"{_at(given, prop)}: '{node_id}' node '{prop}' property is not part of the derived type "
                           f"properties schema")
    for prop, prop_schema in schema.items():
        if prop in given:
            properties[prop] = values.coerce(given[prop], prop_schema.get("type"), data_types, prop,
                                             item_type=prop_schema.get("item_type"), where=_at(given, prop),
                                             derived=copy.deepcopy(prop_schema.get("default")),
                                             texts=values.node_texts(node_id))
            if prop_schema.get("constraints"):
                values.check_constraints(properties[prop], prop_schema["constraints"],
                                         f"property '{prop}' of node '{node_id}'")
        elif "default" in prop_schema:
            properties[prop] = values.coerce(copy.deepcopy(prop_schema["default"]), prop_schema.get("type"),
                                             data_types, prop, item_type=prop_schema.get("item_type"), where=place,
                                             texts=values.node_texts(node_id))
        elif prop_schema.get("required", True):
            raise DSLError(f"{place}: '{node_id}' node does not provide a value for mandatory '{prop}' property which "
                           f"is part of its type schema")
    is_host = COMPUTE in hierarchy
    has_host_hint = is_host or any(
        isinstance(r, dict) and r.get("type") in rel_hierarchy and CONTAINED_IN in rel_hierarchy[r["type"]]
        for r in (template.get("relationships") or []))
    type_interfaces = _merged_interfaces(hierarchy, node_types, "interfaces")
    operations = _operations(type_interfaces, template.get("interfaces"), f"node '{node_id}'", resolver,
                             has_host_hint, template, "interfaces")
    relationships = _relationships(node_id, template, rel_types, rel_hierarchy, templates, data_types, resolver,
                                   has_host_hint)
    instances = _instances(node_id, template)
    return {"id": node_id, "type": type_name, "type_hierarchy": hierarchy, "description": template.get("description"),
            "properties": properties, "operations": operations, "relationships": relationships,
            "host_id": None, **instances, "capabilities": dict(template.get("capabilities") or {}), "plugins": []}


def _relationships(node_id, template, rel_types, rel_hierarchy, templates, data_types, resolver, has_host) -> list:
    rels = template.get("relationships") or []
    if not isinstance(rels, list):
        raise DSLError(f"{_at(template, 'relationships')}: node '{node_id}': 'relationships' must be a list")
    out = []
    contained: list[tuple[str, str]] = []
    for rel in rels:
        rel_place = _at(template, "relationships")
        if not isinstance(rel, dict):
            raise DSLError(f"{rel_place}: node '{node_id}': each relationship must be a mapping")
        rel_place = _at(rel) if where(rel) else rel_place
        for key in rel:
            if key not in ("type", "target", "properties", "source_interfaces", "target_interfaces"):
                raise _not_in_schema(f"{rel_place}: node '{node_id}' relationship", key, RELATIONSHIP_KEYS)
        rel_type, target = rel.get("type"), rel.get("target")
        if rel_type not in rel_types:
            raise DSLError(f"{rel_place}: A relationship instance under node '{node_id}' declares an undefined "
                           f"relationship type '{rel_type}'")
        if target not in templates:
            raise DSLError(f"{rel_place}: A relationship instance under node '{node_id}' of type '{rel_type}' "
                           f"declares an undefined target node '{target}'")
        if target == node_id:
            raise DSLError(f"{rel_place}: node '{node_id}' has a relationship to itself")
        hierarchy = rel_hierarchy[rel_type]
        if CONTAINED_IN in hierarchy:
            contained.append((rel_type, target))
            if len(contained) > 1:
                raise DSLError(f"{rel_place}: Node '{node_id}' has more than one relationship that is derived from "
                               f"'{CONTAINED_IN}' relationship. Found: {[t for t, _ in contained]} for targets: "
                               f"{[g for _, g in contained]}")
        schema = _merged_schema(hierarchy, rel_types, "properties", data_types, "relationship")
        given = _mapping(rel.get("properties"), "properties", rel, "properties")
        props = {}
        for prop in given:
            if prop not in schema:
                raise DSLError(f"{rel_place}: '{node_id}' node relationship '{prop}' property is not part of the derived "
                               f"relationship type properties schema")
        for prop, prop_schema in schema.items():
            if prop in given:
                props[prop] = values.coerce(given[prop], prop_schema.get("type"), data_types, prop, where=rel_place,
                                            item_type=prop_schema.get("item_type"),
                                            derived=copy.deepcopy(prop_schema.get("default")),
                                            texts=values.relationship_texts(node_id))
            elif "default" in prop_schema:
                props[prop] = copy.deepcopy(prop_schema["default"])
            elif prop_schema.get("required", True):
                raise DSLError(f"{rel_place}: relationship '{rel_type}' of node '{node_id}' does not provide a value "
                               f"for mandatory '{prop}' property")
        if LIFECYCLE_OPERATION_DEPENDENCY in hierarchy:
            wanted = props.get("operation")
            target_ops = ((templates[target] or {}).get("interfaces") or {}).get("cloudify.interfaces.lifecycle") or {}
            if wanted not in target_ops:
                raise DSLError(f'{rel_place}: Please define "{wanted}" operation in the target node {target} '
                               f'(its template must list it under cloudify.interfaces.lifecycle)')
        if props.get("connection_type", "all_to_all") not in ("all_to_all", "all_to_one"):
            raise DSLError(f"{rel_place}: connection_type must be all_to_all or all_to_one, got "
                           f"'{props['connection_type']}'")
        owner = f"relationship '{rel_type}' of node '{node_id}'"
        source_ops = _operations(_merged_interfaces(hierarchy, rel_types, "source_interfaces"),
                                 rel.get("source_interfaces"), owner, resolver, has_host, rel, "source_interfaces")
        target_ops = _operations(_merged_interfaces(hierarchy, rel_types, "target_interfaces"),
                                 rel.get("target_interfaces"), owner, resolver, has_host, rel, "target_interfaces")
        out.append({"type": rel_type, "type_hierarchy": hierarchy, "target_id": target, "properties": props,
                    "source_operations": source_ops, "target_operations": target_ops})
    return out


def check_instance_counts(properties: dict, place: str) -> dict:
    """Cloudify's scalable properties (a node's ``capabilities.scalable`` or a scaling
    policy's): each count is an integer or an intrinsic function (evaluated at deployment
    create); ``max_instances`` may be ``UNBOUNDED`` (-1). Returns all five counts."""
    counts = {"default_instances": properties.get("default_instances", 1),
              "min_instances": properties.get("min_instances", 0),
              "max_instances": properties.get("max_instances", -1)}
    for name in properties:
        if name not in counts:
            raise _not_in_schema(place, name, ["min_instances", "max_instances", "default_instances"])
    for name, value in counts.items():
        if isinstance(value, dict):
            if not values.is_function(value):
                raise DSLError(f"{place}: {name} should be a valid intrinsic function or a value.")
            continue
        if name == "max_instances" and isinstance(value, str):
            if value != "UNBOUNDED":
                raise DSLError(f"{place}: The only valid string for max_instances is UNBOUNDED.")
            counts[name] = -1
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise DSLError(f"{place}: {name} must be an integer or an intrinsic function, got {shorten(value)}")
        if name == "max_instances" and value != -1 and value < 1:
            raise DSLError(f"{place}: max_instances should be a positive value.")
        if name != "max_instances" and value < 0:
            raise DSLError(f"{place}: {name} should be a non negative value.")
    check_count_order(counts, place)
    counts["current_instances"] = counts["planned_instances"] = counts["default_instances"]
    return counts


def _instances(node_id, template) -> dict:
    legacy = template.get("instances")
    scalable = None
    capabilities = _mapping(template.get("capabilities"), "capabilities", template, "capabilities")
    for key in capabilities:
        if key != "scalable":
            raise _not_in_schema(f"{_at(capabilities, key)}: node '{node_id}' capabilities", key, ["scalable"])
    if "scalable" in capabilities:
        scalable = _mapping(capabilities["scalable"], "scalable", capabilities, "scalable")
        for key in scalable:
            if key != "properties":
                raise _not_in_schema(f"{_at(scalable, key)}: node '{node_id}' scalable", key, ["properties"])
    if legacy is not None:
        legacy = _mapping(legacy, "instances", template, "instances")
        if scalable is not None:
            raise DSLError(f"{_at(template)}: Node '{node_id}' defines both instances.deploy and "
                           f"capabilities.scalable (Note: instances.deploy is deprecated)")
        deploy = legacy.get("deploy", 1)
        # Cloudify takes only a plain number here (no intrinsic functions, unlike scalable).
        if not isinstance(deploy, int) or isinstance(deploy, bool):
            raise _type_mismatch(f"{_at(legacy, 'deploy')}: node '{node_id}' instances.deploy", "integer", deploy)
        if deploy < 0:
            raise DSLError(f"{_at(legacy, 'deploy')}: deploy instances must be a non-negative number")
        counts = {"default_instances": deploy, "min_instances": 0, "max_instances": -1}
    else:
        props = _mapping((scalable or {}).get("properties"), "properties", scalable or {}, "properties")
        counts = check_instance_counts(props, f"{_at(props) if props else _at(template)}: node '{node_id}'")
    default = counts["default_instances"]
    return {"number_of_instances": default, "deploy_number_of_instances": default,
            "planned_number_of_instances": default, "min_number_of_instances": counts["min_instances"],
            "max_number_of_instances": counts["max_instances"]}


def _check_relationship_cycles(nodes: list, templates: dict) -> None:
    edges = {n["id"]: [r["target_id"] for r in n["relationships"]] for n in nodes}
    state: dict[str, int] = {}
    for start in edges:
        if state.get(start):
            continue
        stack = [(start, iter(edges[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(child) == 1:
                cycle = " -> ".join(path[path.index(child):] + [child])
                raise DSLError(f"{_at(templates, child)}: Failed to create plan: circular dependency found between "
                               f"node templates: {cycle}")
            if not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(edges[child])))


def _host_ids(nodes: list) -> dict:
    by_id = {n["id"]: n for n in nodes}
    out = {}
    for node in nodes:
        current, seen = node, set()
        host = None
        while current is not None and current["id"] not in seen:
            seen.add(current["id"])
            if COMPUTE in current["type_hierarchy"]:
                host = current["id"]
                break
            parent = next((r["target_id"] for r in current["relationships"]
                           if CONTAINED_IN in r["type_hierarchy"]), None)
            current = by_id.get(parent) if parent else None
        out[node["id"]] = host
    return out


def _groups_and_policies(combined: dict, node_by_id: dict) -> tuple[dict, dict, dict]:
    groups_in = combined["groups"]
    groups = {}
    for name, group in groups_in.items():
        group = _mapping(group, f"group {name}", groups_in, name)
        members = group.get("members")
        if not isinstance(members, list) or not members:
            raise DSLError(f"{_at(groups_in, name)}: group '{name}' must list its members")
        for member in members:
            if member not in node_by_id and member not in groups_in:
                raise DSLError(f"{_at(groups_in, name)}: Member '{member}' of group '{name}' does not match any defined "
                               f"node")
        groups[name] = {"members": list(members), "policies": dict(group.get("policies") or {})}
    policies_in = combined["policies"]
    policies, scaling_groups = {}, {}
    for name, policy in policies_in.items():
        policy = _mapping(policy, f"policy {name}", policies_in, name)
        if policy.get("type") != SCALING_POLICY:
            raise DSLError(f"{_at(policies_in, name)}: '{policy.get('type')}' policy type is not implemented. Only "
                           f"'cloudify.policies.scaling' policy type is supported.")
        targets = policy.get("targets") or []
        for target in targets:
            if target not in groups:
                raise DSLError(f"{_at(policies_in, name)}: policy '{name}' targets an unknown group '{target}'")
        props = dict(_mapping(policy.get("properties"), "properties", policy, "properties"))
        counts = check_instance_counts(props, f"{_at(policies_in, name)}: policy '{name}'")
        policies[name] = {"type": SCALING_POLICY, "targets": list(targets), "properties": props}
        for target in targets:
            scaling_groups[target] = {"members": list(groups[target]["members"]), "properties": dict(counts)}
    return groups, policies, scaling_groups


def _workflows(section: dict, plugins: dict, data_types: dict, resolver: _Resolver) -> dict:
    out = {}
    for name, definition in section.items():
        place = _at(section, name)
        if isinstance(definition, str):
            definition = {"mapping": definition}
        definition = _mapping(definition, f"workflow {name}", section, name)
        for key in definition:
            if key not in ("mapping", "parameters", "is_cascading", "availability_rules"):
                raise DSLError(f"{place}: workflow '{name}' has unknown key '{key}'")
        mapping = definition.get("mapping")
        if not isinstance(mapping, str) or not mapping:
            raise DSLError(f"{place}: workflow '{name}': 'mapping' key is required but it is currently missing")
        params_in = _mapping(definition.get("parameters"), "parameters", definition, "parameters")
        parameters = {p: values.check_schema(s, f"workflow '{name}' parameter '{p}'", data_types,
                                             _at(params_in, p)) for p, s in params_in.items()}
        if resolver.is_script(mapping):
            if resolver.script_plugin is None:
                raise DSLError(f"{place}: Script plugin is not defined but it is required for mapping '{mapping}'")
            parameters.setdefault("script_path", {"default": mapping, "description": "Workflow script executed "
                                                  "by the script plugin"})
            plugin, operation = resolver.script_plugin, "script_runner.tasks.execute_workflow"
        else:
            first, _, rest = mapping.partition(".")
            if first not in plugins or not rest:
                raise DSLError(f"{place}: Could not extract plugin or a script resource is not found from workflow "
                               f"mapping/script-path '{mapping}', which is declared for workflow '{name}'.")
            plugin, operation = first, rest
        out[name] = {"mapping": mapping, "plugin": plugin, "operation": operation, "parameters": parameters,
                     "is_cascading": bool(definition.get("is_cascading", False)),
                     "availability_rules": dict(definition.get("availability_rules") or {})}
    return out


def _outputs(section: dict, what: str) -> dict:
    out = {}
    for name, definition in section.items():
        if not isinstance(definition, dict) or "value" not in definition:
            raise DSLError(f"{_at(section, name)}: {what} '{name}': 'value' key is required but it is currently missing")
        out[name] = {"value": definition["value"], "description": definition.get("description")}
    return out


def _default_schedules(settings: Any, workflows: dict) -> dict:
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise DSLError(f"{_at(settings)}: deployment_settings must be a mapping")
    for key in settings:
        if key not in DEPLOYMENT_SETTINGS_KEYS:
            raise _not_in_schema(_at(settings, key), key, DEPLOYMENT_SETTINGS_KEYS)
    schedules = _mapping(settings.get("default_schedules"), "default_schedules", settings, "default_schedules")
    out = {}
    for sched_id, entry in schedules.items():
        place = _at(schedules, sched_id)
        if not isinstance(sched_id, str) or not is_valid_id(sched_id):
            raise DSLError(f"{place}: schedule id {sched_id!r} is not a valid id")
        entry = _mapping(entry, f"schedule {sched_id}", schedules, sched_id)
        for key in entry:
            if key not in SCHEDULE_KEYS:
                raise DSLError(f"{_at(entry, key)}: '{key}' is not in schema")
        for key in ("workflow", "since"):
            if entry.get(key) in (None, ""):
                raise DSLError(f"{place}: default schedule '{sched_id}': '{key}' key is required but it is "
                               f"currently missing")
        workflow = entry["workflow"]
        if workflow not in workflows:
            raise DSLError(f"{_at(entry, 'workflow')}: default schedule '{sched_id}': workflow '{workflow}' is not "
                           f"declared")
        _check_schedule_times(entry, sched_id)
        weekdays = entry.get("weekdays")
        if weekdays is not None:
            if not isinstance(weekdays, list):
                raise DSLError(f"{_at(entry, 'weekdays')}: default schedule '{sched_id}': weekdays must be a list")
            for day in weekdays:
                if not isinstance(day, str) or day[-2:].lower() not in WEEKDAYS:
                    raise DSLError(f"{_at(entry, 'weekdays')}: {day} is not a valid weekday value. Accepted values: "
                                   f"{list(WEEKDAYS)}")
        for key in ("count", "slip"):
            if entry.get(key) is not None and (not isinstance(entry[key], int) or isinstance(entry[key], bool)):
                raise DSLError(f"{_at(entry, key)}: default schedule '{sched_id}': {key} must be an integer")
        for key in ("default_enabled", "stop_after_fail"):
            if entry.get(key) is not None and not isinstance(entry[key], bool):
                raise DSLError(f"{_at(entry, key)}: default schedule '{sched_id}': {key} must be a boolean")
        params = entry.get("workflow_parameters")
        if params is not None:
            if values.is_function(params) and "get_attribute" in params:
                raise DSLError(f"{_at(entry, 'workflow_parameters')}: `workflow_parameters` cannot be a runtime "
                               f"property. Please remove the `get_attribute` function")
            params = _mapping(params, "workflow_parameters", entry, "workflow_parameters")
            for key, value in params.items():
                if _uses(value, "get_attribute"):
                    raise DSLError(f"{_at(params, key)}: `workflow_parameters` cannot contain a runtime property. "
                                   f"Please remove the `get_attribute` function from the value of {key}")
        arguments = _mapping(entry.get("execution_arguments"), "execution_arguments", entry, "execution_arguments")
        for key in arguments:
            if key not in EXECUTION_ARGUMENT_KEYS:
                raise DSLError(f"{_at(arguments, key)}: '{key}' is not in schema")
        out[sched_id] = dict(entry)
    return out


def _deployment_settings(settings: Any) -> dict:
    """What deployment create takes from ``deployment_settings`` besides the schedules:
    ``display_name`` (may use intrinsic functions), ``default_groups`` and ``id_template``
    (the deployment groups a manager puts the deployment in; kept, cfy-local has no groups)."""
    if not isinstance(settings, dict):
        return {}
    out = {key: settings[key] for key in ("display_name", "default_groups", "id_template") if key in settings}
    if "default_groups" in out and not isinstance(out["default_groups"], list):
        raise _type_mismatch(f"{_at(settings, 'default_groups')}: deployment_settings.default_groups", "list",
                             out["default_groups"])
    return out


def _uses(value: Any, function: str) -> bool:
    if isinstance(value, dict):
        return function in value or any(_uses(v, function) for v in value.values())
    if isinstance(value, list):
        return any(_uses(v, function) for v in value)
    return False


def _check_schedule_times(entry: dict, sched_id: str) -> None:
    """Validate since/until/recurrence/timezone with the schedules' own time grammar."""
    tz = entry.get("timezone")
    if tz is not None:
        try:
            timegrammar.get_zone(str(tz))
        except CfyLocalError:
            raise DSLError(f"{_at(entry, 'timezone')}: {tz} is not a recognized timezone") from None
    for key in ("since", "until"):
        value = entry.get(key)
        if value is None:
            continue
        text = str(value).strip()
        try:
            if text.startswith("+"):
                timegrammar.validate_relative(text)
            elif not re.fullmatch(r"(\d{4}-\d{1,2}-\d{1,2} )?\d{1,2}:\d{2}", text):
                raise DSLError(f"{text} is not a legal time format. accepted formats are YYYY-MM-DD HH:MM | HH:MM")
        except CfyLocalError as exc:
            raise DSLError(f"{_at(entry, key)}: {exc}") from None
    recurrence = entry.get("recurrence")
    if recurrence is not None:
        try:
            timegrammar.recurrence_parts(str(recurrence))
        except CfyLocalError:
            raise DSLError(f"{_at(entry, 'recurrence')}: {recurrence} is not a legal time delta") from None
