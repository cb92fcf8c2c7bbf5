"""Workflow parameters merged and checked as Cloudify's manager does, in its order:
unknown workflow → undeclared custom parameters → defaults → types → constraints → missing.
"""
from __future__ import annotations

import copy
import difflib
import json
from typing import Any

from cfy_local.dsl import values
from cfy_local.dsl.functions import DeploymentData, evaluate_runtime
from cfy_local.errors import IllegalExecutionParametersError, NonexistentWorkflowError, ValidationError

# Workflows the manager runs without the deployment declaring them (custom parameters allowed).
SYSTEM_WORKFLOWS = frozenset({"create_snapshot", "restore_snapshot", "uninstall_plugin",
                              "create_deployment_environment", "delete_deployment_environment", "update_plugin",
                              "upload_blueprint", "csys_update_deployment", "update", "create_log_bundle"})


def _convert(value: Any, type_name: str | None, item_type: str | None) -> Any:
    """The manager's type conversion of a parameter value; raises ValueError/TypeError on failure."""
    if type_name == "integer":
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    if type_name == "float":
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if type_name == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError
    if type_name == "string":
        if not isinstance(value, str):
            raise ValueError
        return value
    if type_name == "list":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError from None
        if not isinstance(value, list):
            raise ValueError
        return [_convert(v, item_type, None) for v in value] if item_type else value
    return value


def _object_type_failure(value: Any, type_name: str, deployment: dict, nodes: list | None) -> str | None:
    """Object-based types checked against what the deployment holds."""
    if nodes is None:
        return None
    if type_name == "node_id":
        if value not in {n["id"] for n in nodes}:
            return f"Node {value} does not exist in deployment {deployment.get('id')}"
    elif type_name == "node_type":
        types = {t for n in nodes for t in n.get("type_hierarchy") or [n.get("type")]}
        if value not in types:
            return f"Node type {value} does not exist in deployment {deployment.get('id')}"
    elif type_name == "scaling_group":
        if value not in (deployment.get("scaling_groups") or {}):
            return f"Scaling group {value} does not exist in deployment {deployment.get('id')}"
    elif type_name == "operation_name":
        ops = {name for n in nodes for name in n.get("operations") or {}}
        if value not in ops:
            return f"Operation {value} does not exist in deployment {deployment.get('id')}"
    return None


def merge_workflow_parameters(deployment: dict, workflow_id: str, parameters: dict | None,
                              allow_custom: bool, *, data: DeploymentData | None = None,
                              nodes: list | None = None, instance_ids: set | None = None) -> dict:
    """Return the parameters the workflow runs with. With ``data`` (the deployment as
    stored, read through the caller) intrinsic functions in list/dict values are evaluated
    and object-based types (``node_id``, ``node_instance`` …) are checked against the
    deployment; ``nodes`` / ``instance_ids`` give the latter without storage."""
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationError(f"request body's 'parameters' field must be a dict but is of type "
                              f"{type(parameters).__name__}")
    parameters = dict(parameters or {})
    if not isinstance(parameters, dict):
        raise ValidationError(f"request body's 'parameters' field must be a dict but is of type "
                              f"{type(parameters).__name__}")
    workflows = deployment.get("workflows") or {}
    if workflow_id not in workflows:
        if workflow_id in SYSTEM_WORKFLOWS:
            return parameters
        declared_names = sorted(workflows)
        close = difflib.get_close_matches(workflow_id, declared_names, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise NonexistentWorkflowError(f"Workflow {workflow_id} does not exist in the deployment {deployment.get('id')}."
                              f"{hint} Declared workflows: {', '.join(declared_names) or 'none'}")
    declared: dict = workflows[workflow_id].get("parameters") or {}
    custom = [name for name in parameters if name not in declared]
    if custom and not allow_custom:
        raise IllegalExecutionParametersError(f'Workflow "{workflow_id}" does not have the following parameters declared: '
                              f'{",".join(custom)}. Remove these parameters or use the flag for allowing custom '
                              f'parameters')
    merged = dict(parameters)
    for name, schema in declared.items():
        if name not in merged and "default" in schema:
            merged[name] = copy.deepcopy(schema["default"])
    if data is not None and any(values.contains_function(v) for v in merged.values()):
        merged = {k: evaluate_runtime(v, data) if isinstance(v, (dict, list)) else v for k, v in merged.items()}
    type_errors = []
    for name, schema in declared.items():
        if name not in merged or merged[name] is None:
            continue
        type_name, item_type = schema.get("type"), schema.get("item_type")
        try:
            merged[name] = _convert(merged[name], type_name, item_type)
        except (ValueError, TypeError):
            shown = f"{type_name} of {item_type}s" if type_name == "list" and item_type else type_name
            type_errors.append(f'Parameter "{name}" must be of type {shown}')
    if type_errors:
        raise IllegalExecutionParametersError("\n".join(type_errors))
    constraint_errors = []
    for name, schema in declared.items():
        if name not in merged or merged[name] is None:
            continue
        type_name, item_type = schema.get("type"), schema.get("item_type")
        failures = values.constraint_failures(merged[name], schema["constraints"]) if schema.get("constraints") else []
        checked_type = item_type if type_name == "list" else type_name
        items = merged[name] if type_name == "list" and isinstance(merged[name], list) else [merged[name]]
        for item in items:
            if data is not None and nodes is None and checked_type in values.OBJECT_TYPES:
                # The deployment's nodes and instances are read for a value to check, not for
                # a declared parameter left empty (install's `node_instance_ids: []`): a
                # large deployment's start would read every instance for nothing.
                nodes = list(data.node_map().values())
                instance_ids = set(data.instance_ids())
            if checked_type == "node_instance" and instance_ids is not None and item not in instance_ids:
                failures.append(f"Node instance {item} does not exist in deployment {deployment.get('id')}")
            elif checked_type in values.OBJECT_TYPES:
                failure = _object_type_failure(item, checked_type, deployment, nodes)
                if failure:
                    failures.append(failure)
        for failure in failures:
            constraint_errors.append(f'Parameter "{name}" does not meet its constraints: {failure} '
                                     f'(value given: {json.dumps(merged[name], default=str)})')
    if constraint_errors:
        raise IllegalExecutionParametersError("\n".join(constraint_errors))
    missing = [name for name, schema in declared.items()
               if schema.get("required", True) is not False and name not in merged]
    if missing:
        raise IllegalExecutionParametersError(f'Workflow "{workflow_id}" must be provided with the following parameters to execute: '
                              f'{",".join(missing)}')
    return merged
