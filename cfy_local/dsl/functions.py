"""Intrinsic functions: ``get_input``, ``get_property``, ``get_attribute`` (and its
``_list``/``_dict`` forms), ``concat``, ``merge``, ``get_secret``, ``get_sys`` and the
``string_*`` helpers.

Three entry points:

* :func:`check_plan_functions` — at parse time, every reference must make sense (declared
  inputs, existing nodes and properties, SELF/SOURCE/TARGET where they mean something).
* :func:`evaluate_deployment_value` — at deployment create: ``get_input``,
  ``get_property``, ``concat``, ``merge`` and ``string_*`` are evaluated; runtime functions
  (``get_attribute``, ``get_secret``, ``get_sys`` …) stay raw, and so does any function
  whose arguments contain one.
* :func:`evaluate_runtime` — at run time, everything, against what the caller's
  :class:`DeploymentData` reads from storage.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Callable, Protocol

from cfy_local.dsl.values import FUNCTION_NAMES, is_function
from cfy_local.errors import DSLError, ValidationError

RUNTIME_FUNCTIONS = frozenset({"get_attribute", "get_attributes_list", "get_attributes_dict", "get_secret",
                               "get_sys", "get_capability", "get_label", "get_environment_capability",
                               "get_group_capability", "get_consumers"})
_KEYWORDS = ("SELF", "SOURCE", "TARGET")


def walk_functions(value: Any, visit: Callable[[str, Any], None]) -> None:
    if is_function(value):
        name, args = next(iter(value.items()))
        visit(name, args)
        walk_functions(args, visit)
    elif isinstance(value, dict):
        for v in value.values():
            walk_functions(v, visit)
    elif isinstance(value, list):
        for v in value:
            walk_functions(v, visit)


def has_runtime_function(value: Any) -> bool:
    found = []
    walk_functions(value, lambda name, _args: found.append(name) if name in RUNTIME_FUNCTIONS else None)
    return bool(found)


# --- parse-time checks --------------------------------------------------------------------

def _lookup_path(container: Any, path: list) -> tuple[bool, Any]:
    current = container
    for key in path:
        if is_function(current):
            return True, None  # value known only later; the path cannot be checked now
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list) and isinstance(key, int) and -len(current) <= key < len(current):
            current = current[key]
        else:
            return False, None
    return True, current


def check_plan_functions(plan: dict) -> None:
    nodes = {n["id"]: n for n in plan["nodes"]}
    inputs = plan["inputs"]

    def checker(context: str, self_node: str | None, source: str | None, target: str | None):
        def visit(name: str, args: Any) -> None:
            if name == "get_input":
                key = args[0] if isinstance(args, list) and args else args
                if not isinstance(key, str):
                    raise DSLError(f"{context}: get_input takes an input name (or [name, path...]), got {args!r}")
                if key not in inputs:
                    raise DSLError(f"{context}: get_input function references an unknown input '{key}'.")
            elif name == "get_property":
                if not isinstance(args, list) or len(args) < 2:
                    raise DSLError(f"{context}: get_property takes [node or SELF/SOURCE/TARGET, property, ...], "
                                   f"got {args!r}")
                ref = {"SELF": self_node, "SOURCE": source, "TARGET": target}.get(args[0], args[0])
                if args[0] in _KEYWORDS and ref is None:
                    raise DSLError(f"{context}: get_property {args[0]} cannot be used here")
                if is_function(ref) or any(is_function(a) for a in args[1:]):
                    return
                if ref not in nodes:
                    raise DSLError(f"{context}: get_property: Node {ref} does not exist")
                found, _ = _lookup_path(nodes[ref]["properties"], list(args[1:]))
                if not found:
                    path = ".".join(str(a) for a in args[1:])
                    raise DSLError(f"{context}: Node template property '{ref}.properties.{path}' referenced from "
                                   f"'{context}' doesn't exist.")
            elif name in ("get_attribute",):
                if not isinstance(args, list) or len(args) < 2:
                    raise DSLError(f"{context}: get_attribute takes [node or SELF/SOURCE/TARGET, attribute, ...], "
                                   f"got {args!r}")
                ref = args[0]
                if ref in _KEYWORDS:
                    if {"SELF": self_node, "SOURCE": source, "TARGET": target}[ref] is None:
                        raise DSLError(f"{context}: get_attribute {ref} cannot be used here")
                elif isinstance(ref, str) and ref not in nodes:
                    raise DSLError(f"{context}: get_attribute function node reference '{ref}' does not exist.")
            elif name in ("get_attributes_list", "get_attributes_dict"):
                if not isinstance(args, list) or len(args) < 2 or args[0] not in nodes:
                    raise DSLError(f"{context}: {name} takes [node, attribute, ...] with an existing node, got {args!r}")
            elif name == "concat":
                if not isinstance(args, list):
                    raise DSLError(f"{context}: concat takes a list, got {args!r}")
            elif name == "merge":
                if not isinstance(args, list):
                    raise DSLError(f"{context}: merge takes a list of mappings, got {args!r}")
            elif name == "get_sys":
                if not (isinstance(args, list) and len(args) == 2 and tuple(args) in _SYS_KEYS):
                    raise DSLError(f"{context}: get_sys takes one of "
                                   f"{', '.join('[' + ', '.join(k) + ']' for k in _SYS_KEYS)}, got {args!r}")
        return visit

    for node in plan["nodes"]:
        nid = node["id"]
        walk_functions(node["properties"], checker(f"node '{nid}' properties", nid, None, None))
        for op_name, op in node["operations"].items():
            walk_functions(op["inputs"], checker(f"node '{nid}' operation '{op_name}'", nid, None, None))
        for rel in node["relationships"]:
            for side in ("source_operations", "target_operations"):
                for op_name, op in rel[side].items():
                    ctx = f"relationship of node '{nid}' to '{rel['target_id']}' operation '{op_name}'"
                    walk_functions(op["inputs"], checker(ctx, None, nid, rel["target_id"]))
            walk_functions(rel["properties"], checker(f"relationship of node '{nid}'", None, nid, rel["target_id"]))
        walk_functions(node.get("capabilities"), checker(f"node '{nid}' capabilities", nid, None, None))
    for section in ("outputs", "capabilities"):
        for name, out in plan[section].items():
            walk_functions(out["value"], checker(f"{section} '{name}'", None, None, None))
    walk_functions((plan.get("deployment_settings") or {}).get("display_name"),
                   checker("deployment_settings display_name", None, None, None))
    for name, group in plan["scaling_groups"].items():
        walk_functions(group["properties"], checker(f"scaling group '{name}'", None, None, None))
    for name, schedule in plan["default_schedules"].items():
        walk_functions(schedule.get("workflow_parameters"), checker(f"default schedule '{name}'", None, None, None))


# --- evaluation core ---------------------------------------------------------------------

class _Evaluator:
    """Evaluates functions in a value. Subclasses decide what each reference means."""

    runtime = False

    def __init__(self, inputs: dict):
        self.inputs = inputs

    def evaluate(self, value: Any) -> Any:
        if is_function(value):
            name, args = next(iter(value.items()))
            if not self.runtime and (name in RUNTIME_FUNCTIONS or has_runtime_function(args)):
                return copy.deepcopy(value)
            return getattr(self, "fn_" + name)(args)
        if isinstance(value, dict):
            return {k: self.evaluate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.evaluate(v) for v in value]
        return value

    def fn_get_input(self, args):
        key, path = (args[0], list(args[1:])) if isinstance(args, list) else (args, [])
        key = self.evaluate(key)
        if key not in self.inputs:
            raise ValidationError(f"get_input: input '{key}' is not declared in the inputs section")
        found, value = _lookup_path(self.inputs[key], [self.evaluate(p) for p in path])
        if not found:
            raise ValidationError(f"get_input: input '{key}' has no value at {path}")
        return copy.deepcopy(value)

    def fn_concat(self, args):
        parts = [self.evaluate(a) for a in args]
        return "".join(_as_text(p) for p in parts)

    def fn_merge(self, args):
        out: dict = {}
        for part in (self.evaluate(a) for a in args):
            if not isinstance(part, dict):
                raise ValidationError(f"merge: every argument must be a mapping, got {part!r}")
            out.update(part)
        return out

    def fn_string_lower(self, args):
        return _as_text(self.evaluate(args)).lower()

    def fn_string_upper(self, args):
        return _as_text(self.evaluate(args)).upper()

    def fn_string_find(self, args):
        text, needle = (self.evaluate(a) for a in args)
        return _as_text(text).find(_as_text(needle))

    def fn_string_replace(self, args):
        evaluated = [self.evaluate(a) for a in args]
        text, old, new = (_as_text(v) for v in evaluated[:3])
        count = evaluated[3] if len(evaluated) > 3 else -1
        return text.replace(old, new, count)

    def fn_string_split(self, args):
        evaluated = [self.evaluate(a) for a in args]
        parts = _as_text(evaluated[0]).split(_as_text(evaluated[1]))
        return parts[evaluated[2]] if len(evaluated) > 2 else parts

    def _manager_only(self, name):
        raise ValidationError(f"{name} needs a Cloudify Manager (other deployments, labels); cfy-local cannot "
                              f"evaluate it")

    def fn_get_capability(self, args):
        self._manager_only("get_capability")

    def fn_get_label(self, args):
        self._manager_only("get_label")

    def fn_get_environment_capability(self, args):
        self._manager_only("get_environment_capability")

    def fn_get_group_capability(self, args):
        self._manager_only("get_group_capability")

    def fn_get_consumers(self, args):
        self._manager_only("get_consumers")


def _as_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class _DeploymentEvaluator(_Evaluator):
    """Deployment-create time: properties of other nodes are evaluated on demand, with
    cycle detection (a get_property chain that comes back to itself is an error)."""

    def __init__(self, inputs: dict, nodes: dict, self_node=None, source=None, target=None, cache=None):
        super().__init__(inputs)
        self.nodes = nodes
        self.self_node, self.source, self.target = self_node, source, target
        self.cache = cache if cache is not None else {}
        self.stack: list[str] = []

    def with_context(self, self_node=None, source=None, target=None):
        clone = _DeploymentEvaluator(self.inputs, self.nodes, self_node, source, target, self.cache)
        clone.stack = self.stack
        return clone

    def fn_get_property(self, args):
        ref = {"SELF": self.self_node, "SOURCE": self.source, "TARGET": self.target}.get(args[0], args[0])
        ref = self.evaluate(ref)
        if ref not in self.nodes:
            raise ValidationError(f"get_property: node '{ref}' does not exist")
        path = [self.evaluate(a) for a in args[1:]]
        key = f"{ref}.{'.'.join(str(p) for p in path)}"
        if key in self.stack:
            cycle = " -> ".join(self.stack[self.stack.index(key):] + [key])
            raise DSLError(f"Circular get_property function call detected: {cycle}")
        self.stack.append(key)
        try:
            found, raw = _lookup_path(self.nodes[ref]["properties"], path[:1])
            if not found:
                raise DSLError(f"Node template property '{key}' doesn't exist.")
            value = self.with_context(self_node=ref).evaluate(raw)
            found, value = _lookup_path({path[0]: value}, path)
            if not found:
                raise DSLError(f"Node template property '{key}' doesn't exist.")
            return copy.deepcopy(value)
        finally:
            self.stack.pop()


def evaluate_deployment_value(value: Any, inputs: dict, nodes: dict, *, self_node=None, source=None,
                              target=None) -> Any:
    """Plan-time evaluation (deployment create); runtime functions stay raw."""
    return _DeploymentEvaluator(inputs, nodes, self_node, source, target).evaluate(value)


# --- runtime -------------------------------------------------------------------------------

_SYS_KEYS = (("deployment", "id"), ("deployment", "name"), ("deployment", "blueprint"),
             ("deployment", "owner"), ("tenant", "name"))


class DeploymentData(Protocol):
    """What runtime evaluation reads about one deployment, supplied by the caller (the
    engine during a run, the deployments service otherwise): the DSL itself never touches
    the state directory."""

    deployment: dict

    def node_map(self) -> dict[str, dict]:
        """Node id -> node (its evaluated properties, type hierarchy, ...)."""

    def instance_ids(self) -> list[str]:
        """Ids of every node instance of the deployment."""

    def instances_of(self, node_id: str) -> list[dict]:
        """The node's instances as stored now (runtime properties, relationships, groups)."""

    def instance(self, instance_id: str) -> dict:
        """One instance as stored now; raises the store's not-found error."""

    def secret(self, key: str) -> Any:
        """A secret's value; raises the store's not-found error."""


class _RuntimeEvaluator(_DeploymentEvaluator):
    runtime = True

    def __init__(self, data: DeploymentData, self_instance=None, source_instance=None, target_instance=None):
        super().__init__(data.deployment.get("inputs") or {}, data.node_map())
        self.data = data
        self.deployment = data.deployment
        self._by_node: dict[str, list] = {}
        self._by_id: dict[str, dict] = {}
        self.self_instance, self.source_instance, self.target_instance = self_instance, source_instance, target_instance
        self.self_node = self._node_of(self_instance)
        self.source = self._node_of(source_instance)
        self.target = self._node_of(target_instance)

    def with_context(self, self_node=None, source=None, target=None):
        return _NodeContextEvaluator(self, self_node, source, target)

    def _node_of(self, instance_id):
        if instance_id is None:
            return None
        return self.instance(instance_id)["node_id"]

    def instances_of(self, node_id: str) -> list:
        """The node's instances, read once per evaluation."""
        if node_id not in self._by_node:
            self._by_node[node_id] = self.data.instances_of(node_id)
            for inst in self._by_node[node_id]:
                self._by_id.setdefault(inst["id"], inst)
        return self._by_node[node_id]

    def instance(self, instance_id: str) -> dict:
        if instance_id not in self._by_id:
            self._by_id[instance_id] = self.data.instance(instance_id)
        return self._by_id[instance_id]

    def _resolve_instance(self, ref: str) -> dict:
        by_keyword = {"SELF": self.self_instance, "SOURCE": self.source_instance, "TARGET": self.target_instance}
        if ref in by_keyword:
            if by_keyword[ref] is None:
                raise ValidationError(f"get_attribute: {ref} cannot be used here")
            return self.instance(by_keyword[ref])
        if ref not in self.nodes:
            raise ValidationError(f"get_attribute: node '{ref}' does not exist")
        candidates = self.instances_of(ref)
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise ValidationError(f'Node "{ref}" has no node instances')
        context = [c for c in (self.self_instance, self.source_instance, self.target_instance) if c]
        for instance_id in context:
            own = self.instance(instance_id)
            related = {r["target_id"] for r in own.get("relationships") or []}
            hits = [c for c in candidates if c["id"] in related]
            if len(hits) == 1:
                return hits[0]
            groups = {g["id"] for g in own.get("scaling_groups") or []}
            hits = [c for c in candidates if groups & {g["id"] for g in c.get("scaling_groups") or []}]
            if len(hits) == 1:
                return hits[0]
        raise ValidationError(f'More than one node instance found for node "{ref}". Cannot resolve a node instance '
                              f'unambiguously.')

    def _attribute(self, instance: dict, path: list) -> Any:
        name = path[0]
        if name == "node_instance_id":
            return instance["id"]
        if name == "node_instance_index":
            return instance.get("index")
        runtime = instance.get("runtime_properties") or {}
        if name in runtime:
            found, value = _lookup_path(runtime, path)
            return copy.deepcopy(value) if found else None
        node = self.nodes[instance["node_id"]]
        if name in node["properties"]:
            evaluated = self.with_context(self_node=node["id"]).evaluate(node["properties"][name])
            found, value = _lookup_path({name: evaluated}, path)
            return copy.deepcopy(value) if found else None
        return None

    def fn_get_attribute(self, args):
        ref = self.evaluate(args[0])
        path = [self.evaluate(a) for a in args[1:]]
        return self._attribute(self._resolve_instance(ref), path)

    def fn_get_attributes_list(self, args):
        ref = self.evaluate(args[0])
        path = [self.evaluate(a) for a in args[1:]]
        return [self._attribute(i, path) for i in self.instances_of(ref)]

    def fn_get_attributes_dict(self, args):
        ref = self.evaluate(args[0])
        path = [self.evaluate(a) for a in args[1:]]
        return {i["id"]: self._attribute(i, path) for i in self.instances_of(ref)}

    def fn_get_secret(self, args):
        key, path = (args[0], list(args[1:])) if isinstance(args, list) else (args, [])
        key = self.evaluate(key)
        value = self.data.secret(key)
        if path:
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise ValidationError(f"get_secret: secret '{key}' is not JSON, so it has no path {path}") from None
            found, value = _lookup_path(value, [self.evaluate(p) for p in path])
            if not found:
                raise ValidationError(f"get_secret: secret '{key}' has no value at {path}")
        return value

    def fn_get_sys(self, args):
        key = tuple(self.evaluate(a) for a in args)
        deployment = self.deployment
        if key == ("deployment", "id"):
            return deployment["id"]
        if key == ("deployment", "name"):
            return deployment.get("display_name") or deployment["id"]
        if key == ("deployment", "blueprint"):
            return deployment.get("blueprint_id")
        if key == ("deployment", "owner"):
            return deployment.get("created_by") or "admin"
        if key == ("tenant", "name"):
            return "default_tenant"
        raise ValidationError(f"get_sys: unknown key {list(key)}")


class _NodeContextEvaluator:
    """A view of a runtime evaluator with SELF rebound to a node (for node properties), and
    SOURCE/TARGET too when given (for relationship properties)."""

    def __init__(self, parent: _RuntimeEvaluator, self_node, source=None, target=None):
        self.parent, self.self_node, self.source, self.target = parent, self_node, source, target

    def evaluate(self, value):
        saved = self.parent.self_node, self.parent.source, self.parent.target
        self.parent.self_node = self.self_node
        if self.source is not None or self.target is not None:
            self.parent.source, self.parent.target = self.source, self.target
        try:
            return self.parent.evaluate(value)
        finally:
            self.parent.self_node, self.parent.source, self.parent.target = saved


def evaluate_stored_nodes(data: DeploymentData) -> list[dict]:
    """A runtime-only deployment stores its node and relationship properties with their
    intrinsic functions: each run reads them evaluated, against the state of that moment."""
    evaluator = _RuntimeEvaluator(data)
    out = []
    for node in data.node_map().values():
        node = dict(node)
        node["properties"] = _NodeContextEvaluator(evaluator, node["id"]).evaluate(node["properties"])
        rels = []
        for rel in node.get("relationships") or []:
            rel = dict(rel)
            rel["properties"] = _NodeContextEvaluator(evaluator, None, node["id"], rel["target_id"]).evaluate(
                rel.get("properties") or {})
            rels.append(rel)
        node["relationships"] = rels
        out.append(node)
    return out


def evaluate_runtime(value: Any, data: DeploymentData, *, self_instance_id: str | None = None,
                     source_instance_id: str | None = None, target_instance_id: str | None = None) -> Any:
    """Evaluate every intrinsic function in ``value`` against what ``data`` reads now."""
    if not _contains_any_function(value):
        return value
    evaluator = _RuntimeEvaluator(data, self_instance_id, source_instance_id, target_instance_id)
    return evaluator.evaluate(value)


def _contains_any_function(value: Any) -> bool:
    if is_function(value):
        return True
    if isinstance(value, dict):
        return any(_contains_any_function(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_any_function(v) for v in value)
    return False


__all__ = ["DeploymentData", "check_plan_functions", "evaluate_stored_nodes", "evaluate_deployment_value", "evaluate_runtime", "has_runtime_function",
           "FUNCTION_NAMES"]
