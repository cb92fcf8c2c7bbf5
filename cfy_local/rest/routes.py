"""Endpoints of Cloudify's REST API v3.1 (the subset its CLI and client use), each one a
call of the same core operation the ``cfy`` command calls, then a view of the result.

A handler gets the parsed request and the state dir and returns ``(status, body)``;
core errors travel up to the server, which maps them to the manager's error codes.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Callable
from urllib.parse import unquote

from cfy_local import __version__, clock, maintenance, secrets, status as local_status
from cfy_local.deployments import api as deployments
from cfy_local.deployments import modifications
from cfy_local.errors import NotFoundError, ValidationError
from cfy_local.executions import api as executions
from cfy_local.executions import event_stream as execution_events
from cfy_local.executions import index as execution_index
from cfy_local.executions import statuses as execution_lifecycle
from cfy_local.executions import records as execution_records
from cfy_local.plugins import catalog as plugin_catalog
from cfy_local.rest import archive, views
from cfy_local.rest.wire import (HttpError, RawJson, Request, bad, body_field, filter_rows, json_bytes, page, to_bool,
                                 to_int)
from cfy_local.schedules import api as schedules
from cfy_local.store.paths import Home
from cfy_local.timefmt import iso, parse_iso

Handler = Callable[[Request, Home], tuple[int, Any]]
HOST = "127.0.0.1"
MANAGER_VERSION = "7.0.5"
CONFIG = {"blueprint_folder_max_size_mb": 50, "blueprint_folder_max_files": archive.MAX_MEMBERS}


# --- manager, status, config ---------------------------------------------------------

def get_version(request: Request, home: Home):
    return 200, {"edition": "community", "version": MANAGER_VERSION, "build": None, "date": None,
                 "commit": None, "distribution": "cfy-local", "distro_release": __version__}


def get_status(request: Request, home: Home):
    state = local_status.collect(home)
    corrupt = state["corrupt_records"]
    scheduler = state["scheduler"]
    services = {
        "REST Service": {"status": "Active", "is_remote": False, "extra_info": {"state_dir": state["home"]}},
        # Workers are processes started per execution: there is no service to be down.
        "Workflow workers": {"status": "Active", "is_remote": False, "extra_info": state["executions"]},
        "Scheduler": {"status": "Active" if scheduler["running"] else "Inactive", "is_remote": False,
                      "extra_info": {k: scheduler[k] for k in ("pid", "last_pass", "next_pass")}},
        "State directory": {"status": "Failed" if corrupt else "Active", "is_remote": False,
                            "extra_info": {"corrupt_records": corrupt}},
    }
    return 200, {"status": "Failed" if corrupt else "OK", "services": services}


def get_provider_context(request: Request, home: Home):
    return 200, {"name": "provider", "context": {"cloudify": {}}}


def _one(item: dict[str, Any]) -> dict[str, Any]:
    return {"items": [item], "metadata": {"pagination": {"total": 1, "size": 1000, "offset": 0}, "filtered": None}}


def get_managers(request: Request, home: Home):
    return 200, _one({"id": 1, "hostname": "cfy-local", "private_ip": HOST, "public_ip": HOST,
                      "version": MANAGER_VERSION, "edition": "community", "distribution": "cfy-local",
                      "distro_release": __version__, "fs_sync_node_id": None, "networks": {"default": HOST},
                      "ca_cert_content": None, "last_seen": iso(clock.now()), "status_report": None})


def get_brokers(request: Request, home: Home):
    return 200, _one({"name": "cfy-local", "host": HOST, "management_host": HOST, "port": None,
                      "networks": {"default": HOST}, "is_external": False, "node_id": "cfy-local"})


def get_db_nodes(request: Request, home: Home):
    return 200, _one({"name": "cfy-local", "host": HOST, "is_external": False, "node_id": "cfy-local"})


def get_cluster(request: Request, home: Home):
    return 200, {"initialized": False}


def get_config(request: Request, home: Home):
    items = [{"name": name, "value": value, "scope": "rest", "schema": None, "is_editable": False,
              "updated_at": None, "updater_name": None} for name, value in CONFIG.items()]
    return 200, {"items": items, "metadata": {"pagination": {"total": len(items), "size": 1000, "offset": 0},
                                              "filtered": None}}


# --- blueprints ------------------------------------------------------------------------

def _blueprint_view(home: Home, record: dict[str, Any]) -> dict[str, Any]:
    try:
        plan = deployments.load_plan(home, record["id"])
    except Exception:  # noqa: BLE001 - a missing or unreadable plan still lists the blueprint
        plan = None
    return views.blueprint(record, plan)


def list_blueprints(request: Request, home: Home):
    rows = [_blueprint_view(home, r) for r in deployments.list_blueprints(home)]
    rows = filter_rows(request, rows, ("id", "state", "main_file_name"))
    return 200, page(request, rows, sort_default=["created_at"])


def get_blueprint(request: Request, home: Home):
    return 200, _blueprint_view(home, deployments.load_blueprint(home, request.params["id"]))


def _multipart(request: Request) -> tuple[dict[str, Any], bytes | None]:
    content_type = request.headers.get("Content-Type") or ""
    if not content_type.lower().startswith("multipart/form-data"):
        raise bad("A blueprint upload must be multipart/form-data with `params` and `blueprint_archive` parts")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body)
    if not message.is_multipart():
        raise bad("The multipart body of the upload cannot be read")
    params: dict[str, Any] = {}
    data = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "params":
            try:
                params = json.loads(payload or b"{}")
            except ValueError:
                raise bad("The `params` part of the upload is not JSON") from None
            if not isinstance(params, dict):
                raise bad("The `params` part of the upload must be a JSON object")
        elif name == "blueprint_archive":
            data = payload
    return params, data


def _refuse_unsupported(body: dict[str, Any], names: tuple[str, ...], kind: str) -> None:
    """Refuse what would otherwise be silently dropped (a wrong success)."""
    given = [name for name in names if body.get(name)]
    if given:
        raise bad(f"cfy-local does not take {', '.join(given)} for a {kind} through the REST API "
                  f"(declare labels in the blueprint)")


def upload_blueprint(request: Request, home: Home):
    blueprint_id = request.params["id"]
    params, data = _multipart(request)
    _refuse_unsupported(params, ("labels",), "blueprint")
    if params.get("blueprint_archive_url"):
        raise bad("Uploading a blueprint from a URL is not supported by cfy-local; upload the archive")
    if not data:
        raise bad("The upload has no `blueprint_archive` part")
    filename = unquote(str(params.get("application_file_name") or deployments.DEFAULT_MAIN_FILE))
    if "/" in filename or filename in ("", ".", ".."):
        raise bad(f"application_file_name must be a file name, got {filename!r}")
    # Unpacked outside the state dir: a refused archive leaves nothing there.
    work = tempfile.mkdtemp(prefix="cfy-local-upload-")
    try:
        os.chmod(work, 0o700)
        archive.extract(data, work)
        folder = archive.main_file_folder(work, filename)
        record = deployments.upload_blueprint(home, os.path.join(folder, filename), blueprint_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 201, _blueprint_view(home, record)


def delete_blueprint(request: Request, home: Home):
    deployments.delete_blueprint(home, request.params["id"], force=request.flag("force"))
    return 204, None


# --- deployments -----------------------------------------------------------------------

DEPLOYMENT_FIELDS = {"id", "display_name", "blueprint_id", "created_at", "updated_at", "description", "inputs",
                     "outputs", "capabilities", "workflows", "groups", "policies", "scaling_groups", "labels",
                     "site_name", "deployment_status", "installation_status", "visibility", "tenant_name",
                     "created_by", "main_file_name", "plugins", "default_schedules", "sub_services_count",
                     "sub_environments_count", "environment_type", "latest_execution", "resource_availability",
                     "private_resource"}


def list_deployments(request: Request, home: Home):
    include = request.args("_include")
    with_status = not include or bool({"deployment_status", "installation_status"} & set(include))
    blueprint_ids = request.args("blueprint_id")
    rows = deployments.list_deployments(home, blueprint_ids[0] if len(blueprint_ids) == 1 else None,
                                        with_status=with_status)
    rows = filter_rows(request, [views.deployment(r) for r in rows], ("id", "blueprint_id", "display_name"))
    return 200, page(request, rows, sort_default=["created_at"], known_fields=DEPLOYMENT_FIELDS)


def get_deployment(request: Request, home: Home):
    include = request.args("_include")
    wire_check_include(include)
    record = deployments.load_deployment(home, request.params["id"])
    if not include or {"deployment_status", "installation_status"} & set(include):
        listed = [d for d in deployments.list_deployments(home, record.get("blueprint_id"), with_status=True)
                  if d["id"] == record["id"]]
        record = listed[0] if listed else record
    out = views.deployment(record)
    return 200, {k: out.get(k) for k in include} if include else out


def wire_check_include(include: list[str]) -> None:
    unknown = [f for f in include if f not in DEPLOYMENT_FIELDS]
    if unknown:
        raise HttpError(400, "no_such_include_field_error", f"Illegal include fields: {unknown}")


def create_deployment(request: Request, home: Home):
    body = request.json()
    blueprint_id = body_field(body, "blueprint_id", str, required=True)
    inputs = body_field(body, "inputs", dict, {})
    display_name = body_field(body, "display_name", str)
    _refuse_unsupported(body, ("labels", "site_name"), "deployment")
    record = deployments.create_deployment(home, request.params["id"], blueprint_id, inputs,
                                           display_name=display_name)
    return 201, views.deployment(record)


def delete_deployment(request: Request, home: Home):
    deployments.delete_deployment(home, request.params["id"], force=request.flag("force"))
    return 204, None


def deployment_outputs(request: Request, home: Home):
    outputs = deployments.evaluate_outputs(home, request.params["id"])
    return 200, {"deployment_id": request.params["id"], "outputs": {k: v["value"] for k, v in outputs.items()}}


def deployment_capabilities(request: Request, home: Home):
    capabilities = deployments.evaluate_capabilities(home, request.params["id"])
    return 200, {"deployment_id": request.params["id"],
                 "capabilities": {k: v["value"] for k, v in capabilities.items()}}


def get_deployment_update(request: Request, home: Home):
    raise HttpError(404, "not_found_error", f"Requested `DeploymentUpdate` with ID `{request.params['id']}` was "
                                            f"not found (cfy-local has no deployment updates)")


def list_nodes(request: Request, home: Home):
    dep_ids = request.args("deployment_id")
    if dep_ids:
        ids = dep_ids
    else:
        ids = [d["id"] for d in deployments.list_deployments(home)]
    rows = []
    for dep in ids:
        rows.extend(views.node(dict(n, deployment_id=dep)) for n in deployments.load_nodes(home, dep))
    rows = filter_rows(request, rows, ("id", "type"))
    return 200, page(request, rows, sort_default=["id"])


# --- executions ------------------------------------------------------------------------

EXECUTION_FIELDS = {"id", "workflow_id", "deployment_id", "blueprint_id", "status", "status_display", "created_at",
                    "started_at", "ended_at", "scheduled_for", "is_dry_run", "is_system_workflow", "error",
                    "parameters", "visibility", "tenant_name", "created_by", "resource_availability",
                    "private_resource", "allow_custom_parameters", "forced", "resume", "wait_after_fail",
                    "total_operations", "finished_operations", "result", "execution_group_id",
                    "deployment_display_name", "token", "schedule_id", "reset_operations", "task_retries",
                    "task_retry_interval", "task_thread_pool_size"}
SUMMARY_ONLY = set(execution_index.SUMMARY_FIELDS) | {"visibility", "tenant_name", "created_by",
                                                      "resource_availability", "private_resource"}


def start_execution(request: Request, home: Home):
    body = request.json()
    workflow_id = body_field(body, "workflow_id", str, required=True)
    deployment_id = body_field(body, "deployment_id", str)
    parameters = body.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise ValidationError(f"request body's 'parameters' field must be a dict but is of type "
                              f"{type(parameters).__name__}")
    if body.get("scheduled_time"):
        return _schedule_once(home, body, workflow_id, deployment_id, parameters)
    record = executions.start(
        home, workflow_id, deployment_id, parameters,
        allow_custom_parameters=to_bool(body.get("allow_custom_parameters"), "allow_custom_parameters"),
        force=to_bool(body.get("force"), "force"), queue=to_bool(body.get("queue"), "queue"),
        dry_run=to_bool(body.get("dry_run"), "dry_run"),
        wait_after_fail=to_int(body.get("wait_after_fail"), "wait_after_fail"))
    return 201, views.execution(record)


class _ExecutionViews:
    """Views of whole execution records, kept per record file signature (inode, mtime,
    size): a record is rewritten by os.replace, so any change gives a new signature."""

    def __init__(self):
        self._entries: dict[tuple[str, str], tuple[tuple[int, int, int], dict[str, Any], bytes]] = {}
        self._mutex = threading.Lock()

    def get(self, home: Home, execution_id: str, *, unchanged: bool = False) -> tuple[dict[str, Any], bytes] | None:
        """The view and its JSON text. ``execution_id`` comes from the executions index
        (already a file name there); ``unchanged`` says no record file was replaced since
        the last look, so a cached view needs no stat."""
        key = (home.root, execution_id)
        entry = self._entries.get(key)
        if unchanged and entry is not None:
            return entry[1], entry[2]
        path = os.path.join(home.executions_dir, execution_id + ".json")
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return None
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        if entry is not None and entry[0] == signature:
            return entry[1], entry[2]
        try:
            view = views.execution(execution_records.load(home, execution_id))
        except NotFoundError:
            return None
        encoded = json_bytes(view)
        with self._mutex:
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries[key] = (signature, view, encoded)
        return view, encoded


EXECUTION_VIEWS = _ExecutionViews()


class _SettledSummaries:
    """The last execution summaries, reused while the executions folder keeps the same
    inode and mtime and is older than the index's settle time. Records are replaced by
    rename, which changes the folder's mtime, so an unchanged folder means unchanged
    records. Kept only when every execution has ended: then there is no worker whose
    death reconcile would have to notice."""

    def __init__(self):
        self._key: tuple | None = None
        self._rows: list[dict[str, Any]] = []
        self._mutex = threading.Lock()

    def rows(self, home: Home, include_system: bool) -> tuple[list[dict[str, Any]], bool]:
        """(summaries, whether they come from an unchanged folder)."""
        try:
            st = os.stat(home.executions_dir)
        except FileNotFoundError:
            return executions.list_executions(home, include_system=include_system), False
        settled = time.time_ns() - st.st_mtime_ns > execution_index.DIR_MTIME_SETTLE_NS
        key = (home.root, st.st_ino, st.st_mtime_ns, include_system)
        with self._mutex:
            if settled and key == self._key:
                return list(self._rows), True
        rows = executions.list_executions(home, include_system=include_system)
        if settled and all(execution_lifecycle.is_end(r["status"]) for r in rows):
            with self._mutex:
                self._key, self._rows = key, list(rows)
        return rows, False


SETTLED_SUMMARIES = _SettledSummaries()


def _schedule_once(home: Home, body: dict[str, Any], workflow_id: str, deployment_id: str | None,
                   parameters: dict[str, Any]):
    """``scheduled_time``: as on a manager, a schedule that fires once (listed by
    ``deployments schedule list``); the answer says ``scheduled``."""
    if not deployment_id:
        raise ValidationError("Missing deployment_id in json request body")
    schedule = schedules.create_one_shot(home, deployment_id, workflow_id, str(body["scheduled_time"]), parameters, {
        "allow_custom_parameters": to_bool(body.get("allow_custom_parameters"), "allow_custom_parameters"),
        "force": to_bool(body.get("force"), "force"), "is_dry_run": to_bool(body.get("dry_run"), "dry_run"),
        "wait_after_fail": to_int(body.get("wait_after_fail"), "wait_after_fail")})
    when = schedule.get("next_occurrence") or schedule.get("since")
    return 201, views.execution({"id": schedule["id"], "workflow_id": workflow_id, "deployment_id": deployment_id,
                                 "status": "scheduled", "status_display": "scheduled", "scheduled_for": when,
                                 "created_at": schedule.get("created_at"), "started_at": None, "ended_at": None,
                                 "parameters": schedule.get("parameters") or {}, "schedule_id": schedule["id"],
                                 "is_dry_run": schedule["execution_arguments"].get("is_dry_run", False),
                                 "is_system_workflow": False})


def list_executions(request: Request, home: Home):
    include = request.args("_include")
    from_wire = [f.lstrip("-+") for f in request.args("_sort")]
    rows, unchanged = SETTLED_SUMMARIES.rows(home, request.flag("_include_system_workflows"))
    rows = filter_rows(request, rows, ("id", "deployment_id", "workflow_id", "status", "blueprint_id"))
    wanted = set(include) | set(from_wire)
    if wanted and wanted <= SUMMARY_ONLY:
        rows = [views.execution(r) for r in rows]
        return 200, page(request, rows, sort_default=["created_at"], known_fields=EXECUTION_FIELDS)
    cached = [entry for entry in (EXECUTION_VIEWS.get(home, row["id"], unchanged=unchanged) for row in rows)
              if entry is not None]
    envelope = page(request, [view for view, _ in cached], sort_default=["created_at"], known_fields=EXECUTION_FIELDS)
    if include:
        return 200, envelope
    # Whole records: their JSON texts are reused (encoding is most of the cost of a list).
    texts = {id(view): text for view, text in cached}
    return 200, RawJson(b'{"items":[' + b",".join(texts[id(v)] for v in envelope["items"]) + b'],"metadata":'
                        + json_bytes(envelope["metadata"]) + b"}")


def get_execution(request: Request, home: Home):
    include = request.args("_include")
    out = views.execution(executions.get(home, request.params["id"]))
    return 200, {k: out.get(k) for k in include} if include else out


CANCEL_ACTIONS = {"cancel": {}, "force-cancel": {"force": True}, "kill": {"kill": True}}
RESUME_ACTIONS = {"resume": False, "force-resume": True}


def execution_action(request: Request, home: Home):
    action = request.json().get("action")
    execution_id = request.params["id"]
    if action in CANCEL_ACTIONS:
        record = executions.cancel(home, execution_id, **CANCEL_ACTIONS[action])
    elif action in RESUME_ACTIONS:
        record = executions.resume(home, execution_id, reset_operations=RESUME_ACTIONS[action])
    else:
        raise bad(f"Unknown action `{action}`; use one of: {', '.join([*CANCEL_ACTIONS, *RESUME_ACTIONS])}")
    return 200, views.execution(record)


# --- events ------------------------------------------------------------------------------

def _range(request: Request) -> tuple[datetime | None, datetime | None]:
    since = until = None
    for value in request.args("_range"):
        field, _, rest = value.partition(",")
        if field.lstrip("@") not in ("timestamp", "reported_timestamp"):
            raise bad(f"Cannot filter events by a range of `{field}`")
        start, _, end = rest.partition(",")
        try:
            since = parse_iso(start) if start else since
            until = parse_iso(end) if end else until
        except ValueError:
            raise bad(f"Invalid _range value `{value}`: expected @timestamp,<ISO time>,<ISO time>") from None
    return since, until


def list_events(request: Request, home: Home):
    ids = request.args("execution_id")
    if not ids:
        # The events of a deployment's executions, or of every execution.
        deployments_wanted = request.args("deployment_id")
        rows = executions.list_executions(home, include_system=True)
        ids = [r["id"] for r in rows if not deployments_wanted or r.get("deployment_id") in deployments_wanted]
    since, until = _range(request)
    types = set(request.args("type")) or {"cloudify_event", "cloudify_log"}
    levels = set(request.args("level"))
    nodes = set(request.args("node_id")) | set(request.args("node_name"))
    operations = request.args("operation")
    event_types = set(request.args("event_type"))
    keep = execution_events.EventFilter(include_logs=True, show_debug=True, since=since, until=until)
    rows = []
    for execution_id in ids:
        executions.require_execution(home, execution_id)
        for position, raw in enumerate(execution_events.read_all(home, execution_id)):
            if not keep(raw):
                continue
            event = views.event(raw)
            if event["type"] not in types or (levels and event["level"] not in levels):
                continue
            if nodes and event["node_instance_id"] not in nodes and event["node_name"] not in nodes:
                continue
            if operations and not any(o.lower() in str(event["operation"] or "").lower() for o in operations):
                continue
            if event_types and event["event_type"] not in event_types:
                continue
            rows.append((position, event))
    sort = request.args("_sort") or ["reported_timestamp"]
    field, descending = sort[0].lstrip("-+"), sort[0].startswith("-")
    if len(ids) > 1 or descending or field not in ("reported_timestamp", "timestamp"):
        rows.sort(key=lambda pair: (str(pair[1].get(field) or ""), pair[0]), reverse=descending)
    # One execution in time order is the order its events were recorded in (the file is
    # appended as they happen): pages by offset then never skip or repeat an event, even
    # while the run still appends, which the CLI's wait loop relies on.
    return 200, page(_without_sort(request), [e for _, e in rows])


def _without_sort(request: Request) -> Request:
    request.query.pop("_sort", None)
    return request


# --- execution schedules -------------------------------------------------------------------

def _schedule_time(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise bad(f"`{name}` must be a time string")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad(f"`{name}` must be an ISO 8601 time (UTC), got {value!r}") from None
    # The CLI resolves --tz itself and sends naive UTC times.
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _deployment_arg(request: Request) -> str:
    deployment_id = request.arg("deployment_id")
    if not deployment_id:
        raise bad("deployment_id is required as a query parameter")
    return deployment_id


def _rule_fields(body: dict[str, Any]) -> dict[str, Any]:
    weekdays = body.get("weekdays")
    return {"recurrence": body_field(body, "recurrence", str), "count": body_field(body, "count", int),
            "weekdays": weekdays or None, "rrule": body_field(body, "rrule", str)}


def create_schedule(request: Request, home: Home):
    body = request.json()
    arguments = body.get("execution_arguments") or {}
    if not isinstance(arguments, dict):
        raise bad("execution_arguments must be an object")
    record = schedules.create_schedule(
        home, _deployment_arg(request), body_field(body, "workflow_id", str, required=True),
        schedule_id=request.params["id"], since=_schedule_time(body.get("since"), "since"),
        until=_schedule_time(body.get("until"), "until"), tz="UTC", **_rule_fields(body),
        slip=body_field(body, "slip", int, 0), stop_on_fail=to_bool(body.get("stop_on_fail"), "stop_on_fail"),
        enabled=to_bool(body.get("enabled"), "enabled", True), parameters=body_field(body, "parameters", dict, {}),
        allow_custom_parameters=to_bool(arguments.get("allow_custom_parameters"), "allow_custom_parameters"),
        force=to_bool(arguments.get("force"), "force"),
        dry_run=to_bool(arguments.get("dry_run", arguments.get("is_dry_run")), "dry_run"),
        wait_after_fail=to_int(arguments.get("wait_after_fail"), "wait_after_fail"))
    return 201, views.schedule(record)


def update_schedule(request: Request, home: Home):
    body = request.json()
    deployment_id, schedule_id = _deployment_arg(request), request.params["id"]
    workflow_id = body.get("workflow_id")
    if workflow_id is not None:
        current = schedules.get_schedule(home, deployment_id, schedule_id, with_occurrences=False)
        if workflow_id != current["workflow_id"]:
            raise bad("cfy-local cannot change the workflow of a schedule; delete it and create another")
    rule = _rule_fields(body)
    if body.get("weekdays") == []:
        rule["weekdays"] = None
    record = schedules.update_schedule(
        home, deployment_id, schedule_id, since=_schedule_time(body.get("since"), "since"),
        until=_schedule_time(body.get("until"), "until"), **rule,
        slip=body_field(body, "slip", int), enabled=None if body.get("enabled") is None
        else to_bool(body.get("enabled"), "enabled"),
        stop_on_fail=None if body.get("stop_on_fail") is None else to_bool(body.get("stop_on_fail"), "stop_on_fail"))
    # The manager answers a schedule PATCH with 201, and its client expects exactly that.
    return 201, views.schedule(record)


def get_schedule(request: Request, home: Home):
    return 200, views.schedule(schedules.get_schedule(home, _deployment_arg(request), request.params["id"]))


def list_schedules(request: Request, home: Home):
    deployment_ids = request.args("deployment_id")
    rows = schedules.list_schedules(home, deployment_ids[0] if len(deployment_ids) == 1 else None)
    rows = filter_rows(request, [views.schedule(r) for r in rows], ("id", "deployment_id", "workflow_id"))
    return 200, page(request, rows, sort_default=["created_at"])


def delete_schedule(request: Request, home: Home):
    schedules.delete_schedule(home, _deployment_arg(request), request.params["id"])
    return 204, None


# --- maintenance mode ----------------------------------------------------------------------

def _maintenance_view(state: dict[str, Any]) -> dict[str, Any]:
    out = dict(state)
    if out["status"] == maintenance.DEACTIVATED:
        # The manager sends empty strings and no list while maintenance mode is off.
        out.update(activated_at="", activation_requested_at="", requested_by="", remaining_executions=None)
    return out


def get_maintenance(request: Request, home: Home):
    return 200, _maintenance_view(maintenance.state(home))


def activate_maintenance(request: Request, home: Home):
    return 200, _maintenance_view(maintenance.activate(home, requested_by="admin"))


def deactivate_maintenance(request: Request, home: Home):
    return 200, _maintenance_view(maintenance.deactivate(home))


# --- node instances ------------------------------------------------------------------------

def list_node_instances(request: Request, home: Home):
    dep_ids = request.args("deployment_id")
    node_ids = request.args("node_id")
    rows = deployments.list_node_instances(home, dep_ids[0] if len(dep_ids) == 1 else None,
                                           node_ids[0] if len(node_ids) == 1 else None)
    rows = deployments.current_node_instances(home, rows)
    rows = filter_rows(request, [views.node_instance(r) for r in rows],
                       ("id", "deployment_id", "node_id", "state", "host_id"))
    return 200, page(request, rows, sort_default=["node_id", "id"])


def get_node_instance(request: Request, home: Home):
    found = deployments.find_node_instance(home, request.params["id"])
    out = views.node_instance(deployments.current_node_instances(home, [found])[0])
    include = request.args("_include")
    return 200, {k: out.get(k) for k in include} if include else out


def update_node_instance(request: Request, home: Home):
    body = request.json()
    state = body_field(body, "state", str)
    record = deployments.update_node_instance(
        home, request.params["id"], version=body_field(body, "version", int),
        runtime_properties=body_field(body, "runtime_properties", dict), state=state,
        force=request.flag("force"))
    return 200, views.node_instance(record)


# --- deployment modifications ---------------------------------------------------------------

def _modification_view(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "schema_version"}


def list_deployment_modifications(request: Request, home: Home):
    dep_ids = request.args("deployment_id")
    rows = modifications.list_modifications(home, dep_ids[0] if len(dep_ids) == 1 else None)
    rows = filter_rows(request, [_modification_view(r) for r in rows], ("id", "deployment_id", "status"))
    return 200, page(request, rows, sort_default=["created_at", "id"])


def get_deployment_modification(request: Request, home: Home):
    out = _modification_view(modifications.get_modification(home, request.params["id"]))
    include = request.args("_include")
    return 200, {k: out.get(k) for k in include} if include else out


def start_deployment_modification(request: Request, home: Home):
    body = request.json()
    record = modifications.start_modification(
        home, body_field(body, "deployment_id", str, required=True), body_field(body, "nodes", dict, required=True),
        context=body_field(body, "context", dict))
    return 201, _modification_view(record)


def finish_deployment_modification(request: Request, home: Home):
    return 200, _modification_view(modifications.finish_modification(home, request.params["id"]))


def rollback_deployment_modification(request: Request, home: Home):
    return 200, _modification_view(modifications.rollback_modification(home, request.params["id"]))


# --- secrets -----------------------------------------------------------------------------

def create_secret(request: Request, home: Home):
    body = request.json()
    value = body_field(body, "value", str, required=True)
    if to_bool(body.get("is_hidden_value"), "is_hidden_value"):
        raise bad("cfy-local has no hidden secret values (every secret is readable by its one user)")
    record = secrets.create_secret(home, request.params["key"], value,
                                   update_if_exists=to_bool(body.get("update_if_exists"), "update_if_exists"))
    # The manager answers a secret PUT with 200 (its client fails on 201).
    return 200, views.secret(record)


def update_secret(request: Request, home: Home):
    body = request.json()
    value = body_field(body, "value", str)
    if value is None:
        secrets.get_secret(home, request.params["key"])
        raise bad("cfy-local can only change a secret's value")
    return 200, views.secret(secrets.update_secret(home, request.params["key"], value))


def get_secret(request: Request, home: Home):
    return 200, views.secret(secrets.get_secret(home, request.params["key"]))


def list_secrets(request: Request, home: Home):
    rows = filter_rows(request, [views.secret(r) for r in secrets.list_secrets(home)], ("key",))
    return 200, page(request, rows, sort_default=["key"])


def delete_secret(request: Request, home: Home):
    secrets.delete_secret(home, request.params["key"])
    return 204, None


# --- plugins (the catalog) --------------------------------------------------------------

def list_plugins(request: Request, home: Home):
    rows = filter_rows(request, [views.plugin(r) for r in plugin_catalog.list_plugins(home)],
                       ("id", "package_name", "package_version", "distribution"))
    return 200, page(request, rows, sort_default=["uploaded_at"])


def get_plugin(request: Request, home: Home):
    out = views.plugin(plugin_catalog.get_plugin(home, request.params["id"]))
    include = request.args("_include")
    return 200, {k: out.get(k) for k in include} if include else out


def upload_plugin(request: Request, home: Home):
    """``cfy plugins upload WAGON -y YAML...``: the client posts one zip of the wagon and its
    YAML files (flat); it is unpacked outside the state dir and handed to the catalog, which
    installs the wagon offline into the plugin's own environment before registering it."""
    if request.arg("plugin_archive_url"):
        raise bad("Uploading a plugin from a URL is not supported by cfy-local; upload the archive")
    if not request.body:
        raise bad("The upload has no plugin archive")
    work = tempfile.mkdtemp(prefix="cfy-local-plugin-")
    try:
        os.chmod(work, 0o700)
        archive.extract(request.body, work)
        names = sorted(os.path.join(folder, name) for folder, _, files in os.walk(work) for name in files)
        wagons = [n for n in names if n.endswith(".wgn")]
        yamls = [n for n in names if n.endswith((".yaml", ".yml"))]
        if len(wagons) != 1:
            raise bad(f"The plugin archive must hold exactly one wagon (.wgn), found {len(wagons)}")
        if not yamls:
            raise bad("The plugin archive holds no plugin YAML file")
        record = plugin_catalog.upload_plugin(home, wagons[0], yamls, title=request.arg("title"),
                                              visibility=request.arg("visibility") or "tenant")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 201, views.plugin(record)


def delete_plugin(request: Request, home: Home):
    body = request.json()
    plugin_catalog.delete_plugin(home, request.params["id"], force=to_bool(body.get("force"), "force"))
    return 204, None


# --- tokens ---------------------------------------------------------------------------------
# Token issuing needs the server's Authenticator: server.py binds these two.

def token_body(value: str, expires: float) -> dict[str, Any]:
    return {"id": value[:10], "value": value, "username": "admin", "role": "sys_admin", "description": None,
            "expiration_date": iso(datetime.fromtimestamp(expires, tz=timezone.utc)), "last_used": None}


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "status", get_status),
    ("GET", "provider/context", get_provider_context),
    ("GET", "managers", get_managers),
    ("GET", "brokers", get_brokers),
    ("GET", "db-nodes", get_db_nodes),
    ("GET", "cluster", get_cluster),
    ("GET", "config", get_config),
    ("GET", "version", get_version),
    ("GET", "blueprints", list_blueprints),
    ("GET", "blueprints/{id}", get_blueprint),
    ("PUT", "blueprints/{id}", upload_blueprint),
    ("DELETE", "blueprints/{id}", delete_blueprint),
    ("GET", "deployments", list_deployments),
    ("GET", "deployments/{id}", get_deployment),
    ("PUT", "deployments/{id}", create_deployment),
    ("DELETE", "deployments/{id}", delete_deployment),
    ("GET", "deployments/{id}/outputs", deployment_outputs),
    ("GET", "deployments/{id}/capabilities", deployment_capabilities),
    ("GET", "deployment-updates/{id}", get_deployment_update),
    ("GET", "nodes", list_nodes),
    ("POST", "executions", start_execution),
    ("GET", "executions", list_executions),
    ("GET", "executions/{id}", get_execution),
    ("POST", "executions/{id}", execution_action),
    ("GET", "events", list_events),
    ("GET", "execution-schedules", list_schedules),
    ("GET", "execution-schedules/{id}", get_schedule),
    ("PUT", "execution-schedules/{id}", create_schedule),
    ("PATCH", "execution-schedules/{id}", update_schedule),
    ("DELETE", "execution-schedules/{id}", delete_schedule),
    ("GET", "maintenance", get_maintenance),
    ("POST", "maintenance/activate", activate_maintenance),
    ("POST", "maintenance/deactivate", deactivate_maintenance),
    ("GET", "node-instances", list_node_instances),
    ("GET", "node-instances/{id}", get_node_instance),
    ("PATCH", "node-instances/{id}", update_node_instance),
    ("GET", "deployment-modifications", list_deployment_modifications),
    ("POST", "deployment-modifications", start_deployment_modification),
    ("GET", "deployment-modifications/{id}", get_deployment_modification),
    ("POST", "deployment-modifications/{id}/finish", finish_deployment_modification),
    ("POST", "deployment-modifications/{id}/rollback", rollback_deployment_modification),
    ("GET", "secrets", list_secrets),
    ("GET", "secrets/{key}", get_secret),
    ("PUT", "secrets/{key}", create_secret),
    ("PATCH", "secrets/{key}", update_secret),
    ("DELETE", "secrets/{key}", delete_secret),
    ("GET", "plugins", list_plugins),
    ("POST", "plugins", upload_plugin),
    ("GET", "plugins/{id}", get_plugin),
    ("DELETE", "plugins/{id}", delete_plugin),
]


class Router:
    """Literal segments first, ``{name}`` captures one segment."""

    def __init__(self, routes: list[tuple[str, str, Handler]]):
        self._routes = [(method, pattern.split("/"), handler) for method, pattern, handler in routes]

    def match(self, method: str, segments: list[str]) -> tuple[Handler, dict[str, str]]:
        allowed = []
        for route_method, pattern, handler in self._routes:
            if len(pattern) != len(segments):
                continue
            params = {}
            for want, got in zip(pattern, segments):
                if want.startswith("{"):
                    if not got:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                if route_method == method:
                    return handler, params
                allowed.append(route_method)
        if allowed:
            raise HttpError(405, "method_not_allowed_error",
                            f"Method {method} is not allowed on /{'/'.join(segments)}; allowed: {', '.join(allowed)}",
                            headers={"Allow": ", ".join(sorted(set(allowed)))})
        raise HttpError(404, "not_found_error", f"Requested URL /{'/'.join(segments)} was not found on this server")

