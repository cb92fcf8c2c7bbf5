"""What deployment create computes from a blueprint's plan and the deployment's inputs, as
Cloudify's ``prepare_deployment_plan`` does: node and relationship properties with their
plan-time functions evaluated (``get_input``, ``get_property``, ``concat`` ...), instance
counts (a node's ``capabilities.scalable`` and scaling-group policies may size themselves
with ``get_input``) and the secrets the deployment needs. Pure: reads nothing from disk.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Callable

from cfy_local.dsl.functions import walk_functions, evaluate_deployment_value
from cfy_local.errors import DSLError, UnknownDeploymentSecretError, ValidationError

def check_count_order(counts: dict, place: str) -> None:
    """min <= default <= max for the counts already known (functions are checked once
    evaluated); Cloudify's texts."""
    default, minimum, maximum = counts["default_instances"], counts["min_instances"], counts["max_instances"]
    known = [not isinstance(v, dict) for v in (default, minimum, maximum)]
    if known[0] and known[1] and default < minimum:
        raise DSLError(f"{place}: default_instances ({default}) cannot be smaller than min_instances ({minimum})")
    if not known[2] or maximum == -1:
        return
    if known[1] and minimum > maximum:
        raise DSLError(f"{place}: min_instances ({minimum}) cannot be greater than max_instances ({maximum})")
    if known[0] and default > maximum:
        raise DSLError(f"{place}: default_instances ({default}) cannot be greater than max_instances ({maximum})")


_NODE_COUNT_KEYS = (("default_instances", "number_of_instances"), ("min_instances", "min_number_of_instances"),
                    ("max_instances", "max_number_of_instances"))


def _evaluated_counts(counts: dict, evaluate, place: str) -> dict:
    out = dict(counts)
    for name in ("default_instances", "min_instances", "max_instances"):
        value = out[name]
        if not isinstance(value, dict):
            continue
        value = evaluate(value)
        if name == "max_instances" and value == "UNBOUNDED":
            value = -1
        elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            value = int(value)  # an untyped input given on the command line arrives as text
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError(f"{place}: {name} must evaluate to an integer, got {value!r}")
        if name == "max_instances" and value != -1 and value < 1:
            raise ValidationError(f"{place}: max_instances should be a positive value.")
        if name != "max_instances" and value < 0:
            raise ValidationError(f"{place}: {name} should be a non negative value.")
        out[name] = value
    try:
        check_count_order(out, place)
    except DSLError as exc:  # at create the counts come from the inputs: a refusal of those
        raise ValidationError(str(exc)) from None
    out["current_instances"] = out["planned_instances"] = out["default_instances"]
    return out


def evaluate_nodes(plan: dict, inputs: dict, deployment_id: str, *, runtime_only: bool = False) -> list[dict]:
    """The plan's nodes for one deployment: properties, relationship properties and
    instance counts evaluated; runtime functions (``get_attribute``, ``get_secret`` ...)
    stay raw. With ``runtime_only`` the properties stay as written (each run evaluates
    them); instance counts are still evaluated, since the instances are made now."""
    raw_nodes = {n["id"]: n for n in plan["nodes"]}
    nodes = []
    for node in plan["nodes"]:
        evaluated = dict(node)
        evaluated["deployment_id"] = deployment_id
        if not runtime_only:
            evaluated["properties"] = evaluate_deployment_value(node["properties"], inputs, raw_nodes,
                                                                self_node=node["id"])
            rels = []
            for rel in node["relationships"]:
                rel = dict(rel)
                rel["properties"] = evaluate_deployment_value(rel["properties"], inputs, raw_nodes, source=node["id"],
                                                              target=rel["target_id"])
                rels.append(rel)
            evaluated["relationships"] = rels
            # Operation inputs too, as Cloudify's plan holds them: a get_input or get_property
            # that cannot be evaluated refuses the deployment now rather than fail a run later.
            evaluated["operations"] = _evaluated_operations(node["operations"], inputs, raw_nodes,
                                                            self_node=node["id"])
            for rel in rels:
                for side in ("source_operations", "target_operations"):
                    rel[side] = _evaluated_operations(rel.get(side) or {}, inputs, raw_nodes, source=node["id"],
                                                      target=rel["target_id"])
        counts = {name: node.get(key) for name, key in _NODE_COUNT_KEYS}
        if any(isinstance(v, dict) for v in counts.values()):
            counts = _evaluated_counts(counts, lambda v: evaluate_deployment_value(v, inputs, raw_nodes,
                                                                                 self_node=node["id"]),
                                       f"node '{node['id']}'")
            evaluated["number_of_instances"] = evaluated["deploy_number_of_instances"] = \
                evaluated["planned_number_of_instances"] = counts["default_instances"]
            evaluated["min_number_of_instances"] = counts["min_instances"]
            evaluated["max_number_of_instances"] = counts["max_instances"]
            scalable = copy.deepcopy(evaluated.get("capabilities") or {})
            if isinstance(scalable.get("scalable"), dict):
                scalable["scalable"]["properties"] = {k: counts[k] for k in
                                                      ("default_instances", "min_instances", "max_instances")}
                evaluated["capabilities"] = scalable
        nodes.append(evaluated)
    return nodes


def _evaluated_operations(operations: dict, inputs: dict, raw_nodes: dict, **context) -> dict:
    out = {}
    done: dict[int, dict] = {}  # a short name and its full name share one operation
    for name, op in operations.items():
        if id(op) not in done:
            evaluated = dict(op)
            evaluated["inputs"] = evaluate_deployment_value(op.get("inputs") or {}, inputs, raw_nodes, **context)
            done[id(op)] = evaluated
        out[name] = done[id(op)]
    return out


def evaluate_scaling_groups(plan: dict, inputs: dict) -> dict:
    """Scaling groups with their policy's counts evaluated."""
    raw_nodes = {n["id"]: n for n in plan["nodes"]}
    out = {}
    for name, group in (plan.get("scaling_groups") or {}).items():
        group = copy.deepcopy(group)
        group["properties"] = _evaluated_counts(group["properties"],
                                                lambda v: evaluate_deployment_value(v, inputs, raw_nodes),
                                                f"scaling group '{name}'")
        out[name] = group
    return out


def check_secrets(names: list[str], exists: Callable[[str], bool]) -> None:
    """The manager refuses a deployment whose blueprint reads secrets that do not exist."""
    missing = [name for name in names if not exists(name)]
    if missing:
        raise UnknownDeploymentSecretError(f"Required secrets: [{', '.join(missing)}] don't exist in this tenant")


def display_name(plan: dict, inputs: dict) -> str | None:
    """``deployment_settings.display_name``, evaluated with the deployment's inputs: the
    name a deployment created without ``--display-name`` gets."""
    raw = (plan.get("deployment_settings") or {}).get("display_name")
    if raw is None:
        return None
    value = evaluate_deployment_value(raw, inputs, {n["id"]: n for n in plan["nodes"]})
    return value if isinstance(value, str) else str(value)


def secrets_used(plan: dict, inputs: dict, nodes: list[dict], *, runtime_only: bool = False) -> list[str]:
    """Names of the secrets the deployment reads whose name is known now (a name computed
    from a runtime value is not; with runtime-only evaluation no name is computed), in
    first-use order: Cloudify checks they exist at create."""
    found: list[str] = []

    def visit(name: str, args: Any) -> None:
        if name != "get_secret":
            return
        key = args[0] if isinstance(args, list) and args else args
        if isinstance(key, dict) and not runtime_only:
            key = evaluate_deployment_value(key, inputs, {n["id"]: n for n in plan["nodes"]})
        if isinstance(key, str) and key not in found:
            found.append(key)

    for node in nodes:
        walk_functions(node["properties"], visit)
        for op in node["operations"].values():
            walk_functions(op.get("inputs"), visit)
        for rel in node["relationships"]:
            walk_functions(rel["properties"], visit)
            for side in ("source_operations", "target_operations"):
                for op in rel[side].values():
                    walk_functions(op.get("inputs"), visit)
    for section in ("outputs", "capabilities"):
        for out in (plan.get(section) or {}).values():
            walk_functions(out.get("value"), visit)
    return found
