"""The shapes Cloudify's REST clients read, built from cfy-local's records.

Records keep their own fields; these add what a manager always sends (visibility, tenant,
creator) and rename what the wire names differently (an event's nested context becomes
flat fields, a deployment's workflows become a list, labels become key/value pairs).
"""
from __future__ import annotations

import uuid
from typing import Any

from cfy_local.rest.auth import TENANT, USERNAME

COMMON = {"visibility": "tenant", "tenant_name": TENANT, "created_by": USERNAME, "resource_availability": "tenant",
          "private_resource": False}

PLUGIN_KEYS = ("deployment_plugins_to_install", "workflow_plugins_to_install", "host_agent_plugins_to_install")


def _labels(labels: Any) -> list[dict[str, Any]]:
    if isinstance(labels, list):
        return labels
    out = []
    for key, values in (labels or {}).items():
        for value in values if isinstance(values, list) else [values]:
            out.append({"key": key, "value": value, "created_at": None, "created_by": USERNAME})
    return out


def execution(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(COMMON)
    out.update({k: v for k, v in record.items() if k not in ("schema_version", "worker_pid", "worker_create_time",
                                                             "created_ns")})
    out.setdefault("error", "")
    out.setdefault("parameters", {})
    out.setdefault("execution_group_id", None)
    out.setdefault("deployment_display_name", record.get("deployment_id"))
    out.setdefault("token", None)
    return out


def upload_execution(record: dict[str, Any]) -> dict[str, Any]:
    """The manager runs an ``upload_blueprint`` execution per upload; here the upload is
    done inside the request, so this names a finished one (the CLI reads its id)."""
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cfy-local:upload:{record['id']}:{record.get('created_at')}"))
    return dict(COMMON, id=ident, workflow_id="upload_blueprint", status="terminated", status_display="completed",
                blueprint_id=record["id"], deployment_id=None, created_at=record.get("created_at"),
                started_at=record.get("created_at"), ended_at=record.get("created_at"), error="",
                is_system_workflow=False, parameters={})


def blueprint(record: dict[str, Any], plan: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(COMMON)
    out.update({k: v for k, v in record.items() if k not in ("schema_version", "source_path")})
    plan = plan or {}
    out["plan"] = {"metadata": plan.get("metadata") or {}, "inputs": plan.get("inputs") or {},
                   "description": plan.get("description"), "workflows": plan.get("workflows") or {},
                   **{k: plan.get(k) or [] for k in PLUGIN_KEYS}}
    out["labels"] = _labels(record.get("labels"))
    out.setdefault("error_traceback", "")
    out.setdefault("is_hidden", False)
    out["upload_execution"] = upload_execution(record)
    return out


def workflows(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return value
    out = []
    for name, spec in (value or {}).items():
        spec = spec or {}
        out.append({"name": name, "parameters": spec.get("parameters") or {}, "plugin": spec.get("plugin"),
                    "operation": spec.get("operation") or spec.get("mapping"), "is_available": True})
    return out


def deployment(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(COMMON)
    out.update({k: v for k, v in record.items() if k not in ("schema_version", "resources_dir", "data_types")})
    out["workflows"] = workflows(record.get("workflows"))
    out["labels"] = _labels(record.get("labels"))
    out.setdefault("site_name", None)
    out.setdefault("deployment_status", None)
    out.setdefault("installation_status", None)
    out.setdefault("sub_services_count", 0)
    out.setdefault("sub_environments_count", 0)
    out.setdefault("environment_type", "")
    out.setdefault("latest_execution", None)
    return out


def event(raw: dict[str, Any]) -> dict[str, Any]:
    ctx = raw.get("context") or {}
    message = raw.get("message")
    text = message.get("text") if isinstance(message, dict) else message
    out = {
        "type": raw.get("type") or "cloudify_event",
        "timestamp": raw.get("timestamp") or raw.get("reported_timestamp"),
        "reported_timestamp": raw.get("reported_timestamp") or raw.get("timestamp"),
        "blueprint_id": raw.get("blueprint_id"),
        "deployment_id": ctx.get("deployment_id"),
        "deployment_display_name": ctx.get("deployment_id"),
        "execution_id": ctx.get("execution_id"),
        "execution_group_id": None,
        "workflow_id": ctx.get("workflow_id"),
        "node_name": ctx.get("node_name"),
        "node_instance_id": ctx.get("node_id"),
        "operation": ctx.get("operation"),
        "message": "" if text is None else str(text),
        "error_causes": ctx.get("task_error_causes"),
        "event_type": raw.get("event_type"),
        "level": raw.get("level"),
        "logger": raw.get("logger"),
        "manager_name": None,
        "agent_name": None,
        "tenant_name": TENANT,
        "visibility": "tenant",
    }
    if ctx.get("source_id"):
        out["source_id"] = ctx.get("source_id")
        out["target_id"] = ctx.get("target_id")
    return out


def node_instance(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(COMMON)
    out.update({k: v for k, v in record.items() if k != "schema_version"})
    out.setdefault("runtime_properties", {})
    out.setdefault("system_properties", {})
    out.setdefault("version", 1)
    out.setdefault("relationships", [])
    out.setdefault("host_id", None)
    out.setdefault("scaling_groups", [])
    out.setdefault("index", None)
    out.setdefault("has_configuration_drift", False)
    out.setdefault("is_status_check_ok", True)
    return out


def node(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(COMMON)
    out.update({k: v for k, v in record.items() if k != "schema_version"})
    return out


def plugin(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(COMMON)
    out.update(record)
    return out


def secret(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(COMMON)
    out.update(record)
    out.setdefault("is_hidden_value", False)
    out.setdefault("provider_name", None)
    out.setdefault("provider_options", None)
    out.setdefault("schema", None)
    return out


def schedule(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(COMMON)
    out.update(record)
    return out
