"""Blueprints and deployments: upload/list/get/delete, create/delete/list, inputs, outputs,
nodes and node instances.

Writes follow docs/state.md: blueprint and deployment create/delete hold the ``state``
lock; ``blueprint.json`` and ``deployment.json`` are written last, as the commit point, so
a crash leaves either nothing visible or the whole record. Everything is validated before
anything is written.
"""
from __future__ import annotations

import os
import uuid
from typing import Any

from cfy_local import clock
from cfy_local.deployments.instances import build_instances
from cfy_local.deployments.records import (deployment_exists, deployment_inputs, find_node_instance,
                                           list_blueprints, list_node_instances, load_blueprint,
                                           load_deployment, load_node_instance, load_nodes, load_plan,
                                           runtime_data, scan_ids)
from cfy_local.dsl import deployment_plan, values
from cfy_local.dsl.functions import evaluate_runtime
from cfy_local.engine.storage import JOURNAL_NAME, DeploymentStorage, StorageConflictError
from cfy_local.errors import (AlreadyExistsError, CfyLocalError, ConflictError, CorruptRecordError, MissingDeploymentInputError,
                              NotFoundError, UnknownDeploymentInputError, ValidationError, not_found)
from cfy_local.executions import admission, statuses, records
from cfy_local.ids import is_valid_id, validate_id
from cfy_local.maintenance_state import ensure_allows_changes
from cfy_local.plugins.resolver import import_resolver
from cfy_local.store.atomic import ensure_dir
from cfy_local.store.locks import STATE_LOCK, lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record, save_record
from cfy_local.timefmt import iso

DEFAULT_MAIN_FILE = "blueprint.yaml"
LIVE_STATES = frozenset({"initializing", "creating", "created", "configuring", "configured", "starting",
                         "started", "stopping", "stopped", "deleting"})


# --- blueprints ----------------------------------------------------------------------------

def default_blueprint_id(path: str, filename: str | None = None) -> str:
    """Cloudify's default blueprint id: the folder name; ``.<stem>`` appended for a
    non-default file; ``_`` → ``-``."""
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    main = filename or os.path.basename(path)
    ident = folder
    if main != DEFAULT_MAIN_FILE:
        ident += "." + os.path.splitext(main)[0]
    return ident.replace("_", "-")


def _resolve_blueprint_path(path: str, filename: str | None) -> str:
    if filename is not None and (not filename or os.path.isabs(filename) or os.sep in os.path.normpath(filename)
                                 or filename in (".", "..")):
        raise ValidationError(f"-n/--blueprint-filename must name a file in the blueprint folder, got {filename!r}")
    if not path or not os.path.exists(path):
        raise ValidationError(f"Blueprint path {path} does not exist. You must provide either a path to a local "
                              f"file, a remote URL or a GitHub `organization/repository[:tag/branch]`")
    if os.path.isdir(path):
        main = os.path.join(path, filename or DEFAULT_MAIN_FILE)
        if not os.path.isfile(main):
            raise ValidationError(f"Could not find `{filename or DEFAULT_MAIN_FILE}`. Please provide the name of the "
                                  f"main blueprint file by using the `-n/--blueprint-filename` flag")
        return os.path.abspath(main)
    import stat

    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValidationError(f"Blueprint path {path} is not a regular file")
    return os.path.abspath(path)


def validate_blueprint(path: str, filename: str | None = None, home: Home | None = None) -> dict[str, Any]:
    """Parse and validate; return the plan. Writes nothing. With ``home``, ``plugin:`` imports
    resolve against its plugin catalog."""
    from cfy_local.dsl.parser import parse_blueprint

    return parse_blueprint(_resolve_blueprint_path(path, filename),
                           plugin_resolver=import_resolver(home) if home is not None else None)


def upload_blueprint(home: Home, path: str, blueprint_id: str | None = None,
                     filename: str | None = None) -> dict[str, Any]:
    import shutil  # imported where folders are copied or removed: not on `executions start`'s path

    main = _resolve_blueprint_path(path, filename)
    blueprint_id = blueprint_id or default_blueprint_id(main)
    validate_id(blueprint_id, "blueprint_id")
    ensure_allows_changes(home)
    if os.path.exists(home.blueprint_file(blueprint_id)):
        raise AlreadyExistsError(f"Blueprint `{blueprint_id}` already exists")
    from cfy_local.dsl.parser import parse_blueprint

    plan = parse_blueprint(main, plugin_resolver=import_resolver(home))
    source_dir = os.path.dirname(main)
    ensure_dir(home.blueprints_dir)
    staging = os.path.join(home.blueprints_dir, f".upload-{blueprint_id}-{uuid.uuid4().hex[:8]}")
    # Created here so it is 0700 whatever the umask (copytree would make it with the umask's mode).
    ensure_dir(staging)
    try:
        ignore = _ignore_state_dir(home, source_dir)
        _refuse_escaping_links(source_dir, ignore)
        try:
            shutil.copytree(source_dir, os.path.join(staging, "resources"), symlinks=True, ignore=ignore)
        except (OSError, shutil.Error) as exc:
            raise ValidationError(f"Cannot copy blueprint folder {source_dir}: {exc}") from None
        _make_private(os.path.join(staging, "resources"))
        now = iso(clock.now())
        record = {"id": blueprint_id, "description": plan.get("description"),
                  "main_file_name": os.path.basename(main), "created_at": now, "updated_at": now,
                  "state": "uploaded", "error": "", "source_path": source_dir,
                  "tosca_definitions_version": plan.get("tosca_definitions_version"),
                  "labels": plan.get("blueprint_labels") or {}}
        save_record(os.path.join(staging, "plan.json"), plan, durable=False)
        with lock(home.root, STATE_LOCK):
            ensure_allows_changes(home, locked=True)
            target = home.blueprint_dir(blueprint_id)
            if os.path.exists(os.path.join(target, "blueprint.json")):
                raise AlreadyExistsError(f"Blueprint `{blueprint_id}` already exists")
            if os.path.exists(target):
                shutil.rmtree(target)  # leftovers of an interrupted upload
            os.rename(staging, target)
            save_record(home.blueprint_file(blueprint_id), record)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return record


def _refuse_escaping_links(source_dir: str, ignore) -> None:
    """Refuse a blueprint folder holding a symlink that leads outside it (or is absolute,
    which would lead outside the uploaded copy): copying it would plant a link to, say,
    /etc/shadow in the state dir."""
    root = os.path.realpath(source_dir)
    for folder, dirs, files in os.walk(source_dir):
        skipped = set(ignore(folder, dirs + files))
        dirs[:] = [d for d in dirs if d not in skipped]
        for name in dirs + files:
            path = os.path.join(folder, name)
            if name in skipped or not os.path.islink(path):
                continue
            target = os.readlink(path)
            resolved = os.path.realpath(path)
            if os.path.isabs(target) or not (resolved == root or resolved.startswith(root + os.sep)):
                raise ValidationError(f"Blueprint folder {source_dir} holds a symlink pointing outside it: "
                                      f"{os.path.relpath(path, source_dir)} -> {target}")


def _make_private(folder: str) -> None:
    """Folders 0700, files 0600 (0700 when the owner could execute them), whatever the
    source's modes: the copy lives in the private state dir."""
    import stat

    for current, dirs, files in os.walk(folder):
        os.chmod(current, 0o700)
        for name in files:
            path = os.path.join(current, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, 0o700 if mode & stat.S_IXUSR else 0o600)


def _ignore_state_dir(home: Home, source_dir: str):
    state_root = os.path.realpath(home.root)

    def ignore(folder, names):
        return [n for n in names if os.path.realpath(os.path.join(folder, n)) == state_root]

    return ignore


def get_blueprint(home: Home, blueprint_id: str) -> dict[str, Any]:
    record = dict(load_blueprint(home, blueprint_id))
    deployments = [d["id"] for d in list_deployments(home, blueprint_id=blueprint_id)]
    record["deployments"] = deployments
    record["#deployments"] = len(deployments)
    plan = load_plan(home, blueprint_id)
    record["plugins"] = plan.get("plugins") or {}
    record["metadata"] = plan.get("metadata") or {}
    return record


def blueprint_inputs(home: Home, blueprint_id: str) -> list[dict[str, Any]]:
    plan = load_plan(home, blueprint_id)
    return [{"name": name, "type": schema.get("type", "-"), "default": schema.get("default", "-"),
             "description": schema.get("description", "-"), "required": schema.get("required", True)}
            for name, schema in plan["inputs"].items()]


def delete_blueprint(home: Home, blueprint_id: str, force: bool = False) -> None:
    ensure_allows_changes(home)
    load_blueprint(home, blueprint_id)
    with lock(home.root, STATE_LOCK):
        ensure_allows_changes(home, locked=True)
        users = [d["id"] for d in list_deployments(home, blueprint_id=blueprint_id)]
        if users and not force:
            raise ConflictError(f"Can't delete blueprint {blueprint_id} - There exist deployments for this blueprint; "
                                f"Deployments ids: {','.join(users)}",
                                possible_solutions=["Delete the deployments first, or use -f/--force"])
        _remove_tree(home, home.blueprint_dir(blueprint_id), home.blueprints_dir)


def _remove_tree(home: Home, folder: str, parent: str) -> None:
    """Rename first (one atomic step: the record disappears), then delete the files."""
    import shutil

    graveyard = os.path.join(parent, f".deleting-{uuid.uuid4().hex}")
    try:
        os.rename(folder, graveyard)
    except FileNotFoundError:
        return
    shutil.rmtree(graveyard, ignore_errors=True)


# --- deployments ---------------------------------------------------------------------------

def validate_deployment_inputs(plan: dict, inputs: dict) -> dict[str, Any]:
    """Deployment inputs in Cloudify's order: each declared input in turn (given, else its
    default, else what its data type's defaults make of it) is type-checked (strings from
    ``-i k=v`` convert) and constraint-checked; then the missing ones are named, then the
    unknown ones. An optional input without a value is None."""
    declared = plan["inputs"]
    data_types = plan.get("data_types") or {}
    out: dict[str, Any] = {}
    missing = []
    for name, schema in declared.items():
        if name in inputs:
            value = inputs[name]
        elif schema.get("default") is not None:
            value = schema["default"]
        else:
            filled = None
            if schema.get("type") in data_types:
                try:
                    filled = values.coerce({}, schema["type"], data_types, name, texts=values.input_texts(name))
                except CfyLocalError:
                    filled = None
            if filled:
                value = filled
            elif schema.get("required", True):
                missing.append(name)
                continue
            else:
                out[name] = None
                continue
        value = values.coerce(value, schema.get("type"), data_types, name, item_type=schema.get("item_type"),
                              strings_convert=True, texts=values.input_texts(name))
        if schema.get("constraints"):
            values.check_constraints(value, schema["constraints"], f"input {name}")
        out[name] = value
    if missing:
        raise MissingDeploymentInputError(f"Required inputs {missing} were not specified - expected inputs: {list(declared)}")
    unknown = [k for k in inputs if k not in declared]
    if unknown:
        raise UnknownDeploymentInputError(f"Unknown inputs {unknown} specified - expected inputs: {list(declared)}")
    return out


def create_deployment(home: Home, deployment_id: str | None, blueprint_id: str,
                      inputs: dict[str, Any] | None = None, *, display_name: str | None = None,
                      runtime_only_evaluation: bool = False) -> dict[str, Any]:
    import shutil

    deployment_id = deployment_id or blueprint_id
    validate_id(deployment_id, "deployment_id")
    ensure_allows_changes(home)
    blueprint = load_blueprint(home, blueprint_id)
    plan = load_plan(home, blueprint_id)
    if os.path.exists(home.deployment_file(deployment_id)):
        raise AlreadyExistsError(f"Deployment `{deployment_id}` already exists")
    evaluated_inputs = validate_deployment_inputs(plan, dict(inputs or {}))
    nodes = deployment_plan.evaluate_nodes(plan, evaluated_inputs, deployment_id,
                                           runtime_only=runtime_only_evaluation)
    scaling_groups = deployment_plan.evaluate_scaling_groups(plan, evaluated_inputs)
    deployment_plan.check_secrets(
        deployment_plan.secrets_used(plan, evaluated_inputs, nodes, runtime_only=runtime_only_evaluation),
        lambda name: is_valid_id(name) and os.path.isfile(home.secret_file(name)))
    instances = build_instances(nodes, deployment_id, scaling_groups, plan.get("groups") or {})
    now = iso(clock.now())
    record = {
        "id": deployment_id, "display_name": display_name or deployment_plan.display_name(plan, evaluated_inputs)
        or deployment_id, "blueprint_id": blueprint_id,
        "created_at": now, "updated_at": now, "description": plan.get("description"),
        "inputs": evaluated_inputs, "workflows": plan["workflows"], "outputs": plan["outputs"],
        "capabilities": plan["capabilities"], "plugins": plan["plugins"], "groups": plan["groups"],
        "policies": plan["policies"], "scaling_groups": scaling_groups,
        "default_schedules": plan["default_schedules"], "labels": plan.get("labels") or {},
        "resource_tags": plan.get("resource_tags") or {},
        "resources_dir": home.blueprint_resources(blueprint_id), "main_file_name": blueprint["main_file_name"],
        "data_types": plan.get("data_types") or {}, "created_by": "admin",
        "runtime_only_evaluation": runtime_only_evaluation,
    }
    with lock(home.root, STATE_LOCK):
        ensure_allows_changes(home, locked=True)
        if os.path.exists(home.deployment_file(deployment_id)):
            raise AlreadyExistsError(f"Deployment `{deployment_id}` already exists")
        if not os.path.exists(home.blueprint_file(blueprint_id)):
            raise not_found("Blueprint", blueprint_id)
        folder = home.deployment_dir(deployment_id)
        if os.path.exists(folder):
            shutil.rmtree(folder)  # leftovers of an interrupted create (no deployment.json = not committed)
        _write_instances(home, deployment_id, instances)
        save_record(home.nodes_file(deployment_id), {"nodes": nodes})
        save_record(home.deployment_file(deployment_id), record)
    try:
        _create_default_schedules(home, record)
    except BaseException:
        with lock(home.root, STATE_LOCK):
            _remove_tree(home, home.deployment_dir(deployment_id), home.deployments_dir)
        raise
    # Imported when used, here and below: the executions API (spawn, queue, reconcile) is
    # not needed by `cfy blueprints list`, which imports this module and must start fast.
    from cfy_local.executions import api as executions

    executions.record_system_execution(home, "create_deployment_environment", deployment_id, blueprint_id,
                                       "terminated")
    return record


def _write_instances(home: Home, deployment_id: str, instances: list[dict]) -> None:
    """Write every instance without waiting for the disk, then make them all durable with
    one ``sync()``: on ext4 a per-file fsync forces a journal commit each (measured: 4.4 s
    for 1,000 files on a busy disk, against 0.04 s for one sync). deployment.json, written
    durably after this, is the commit point."""
    folder = ensure_dir(home.node_instances_dir(deployment_id))
    for instance in instances:
        save_record(os.path.join(folder, instance["id"] + ".json"), instance, durable=False)
    if instances:
        os.sync()


def _create_default_schedules(home: Home, deployment: dict) -> None:
    if not deployment.get("default_schedules"):
        return
    # Imported when used: the schedule rules load dateutil, which `cfy blueprints list` need not.
    from cfy_local.schedules.api import create_default_schedules

    create_default_schedules(home, deployment)


def _active_executions(home: Home, deployment_id: str, *, kill: bool = False) -> list[dict]:
    """The deployment's running or queued executions; with ``kill``, each is stopped first
    (``cancel --kill``: queued ones are cancelled at once) and those still not ended are
    returned."""
    from cfy_local.executions import api as executions  # when used: see create_deployment

    active = executions.active_or_queued(home, deployment_id)
    if not kill:
        return active
    # Newest first: queued runs are cancelled while the running one still holds the
    # deployment, so the queue never starts one of them on its way out.
    for run in reversed(active):
        if run.get("workflow_id") != "delete_deployment_environment":
            try:
                executions.cancel(home, run["id"], kill=True)
            except CfyLocalError:
                pass  # ended meanwhile, or cannot be cancelled: the re-check below decides
    return executions.active_or_queued(home, deployment_id)


def delete_deployment(home: Home, deployment_id: str, force: bool = False) -> None:
    from cfy_local.executions import api as executions  # when used: see create_deployment

    ensure_allows_changes(home)
    deployment = load_deployment(home, deployment_id)
    # A forced delete stops the deployment's runs first: a run left going would retry
    # against instances that no longer exist and block a new deployment of the same id.
    # From the marker on, starts of this deployment are refused (checked under the same
    # lock), so the runs stopped are all there are.
    marker = home.deployment_deleting_marker(deployment_id)
    if force:
        with lock(home.root, STATE_LOCK):
            save_record(marker, {"requested_at": iso(clock.now())})
    try:
        active = [r for r in _active_executions(home, deployment_id, kill=force)
                  if r.get("workflow_id") != "delete_deployment_environment"]
        _delete_stopped(home, deployment_id, deployment, active, force)
    except BaseException:
        try:
            os.unlink(marker)
        except OSError:
            pass
        raise
    from cfy_local.schedules.api import delete_deployment_schedules  # dateutil, as above

    delete_deployment_schedules(home, deployment_id)
    executions.record_system_execution(home, "delete_deployment_environment", deployment_id,
                                       deployment.get("blueprint_id"), "terminated")


def _delete_stopped(home: Home, deployment_id: str, deployment: dict, active: list[dict], force: bool) -> None:
    """The checks and the removal of :func:`delete_deployment` once its runs are stopped."""
    if active and not force:
        raise ConflictError(f"Can't delete deployment {deployment_id} - There are running or queued executions for "
                            f"this deployment. Running executions ids: {','.join(r['id'] for r in active)}")
    if not force:
        live = [i["id"] for i in list_node_instances(home, deployment_id) if i.get("state") in LIVE_STATES]
        if live:
            raise ConflictError(f"Can't delete deployment {deployment_id} - Deployment still has active nodes: "
                                f"{','.join(live)}", possible_solutions=["Run the uninstall workflow first, or use "
                                                                         "-f/--force"])
    with lock(home.root, STATE_LOCK):
        ensure_allows_changes(home, locked=True)
        # Admission takes this lock too: re-check so a start that slipped in between wins
        # (with --force too: a run that could not be stopped is never orphaned).
        late = [r["id"] for r in records.load_all(home)
                if r.get("deployment_id") == deployment_id and not statuses.is_end(r["status"])
                and r.get("workflow_id") != "delete_deployment_environment"]
        if late:
            raise ConflictError(f"Can't delete deployment {deployment_id} - There are running or queued "
                                f"executions for this deployment. Running executions ids: {','.join(late)}")
        _remove_tree(home, home.deployment_dir(deployment_id), home.deployments_dir)


def installation_status(instances: list[dict]) -> str:
    return "active" if instances and all(i.get("state") == "started" for i in instances) else "inactive"


def _execution_states(home: Home) -> tuple[set[str], dict[str, str]]:
    """From one reconciled scan of execution summaries: the deployments with an active or
    queued execution, and each deployment's latest execution status (system ones included)."""
    from cfy_local.executions import api as executions

    busy: set[str] = set()
    latest: dict[str, dict] = {}
    for row in executions.list_executions(home, include_system=True):
        dep = row.get("deployment_id")
        if not dep:
            continue
        if statuses.is_active(row["status"]) or row["status"] == statuses.Status.QUEUED.value:
            busy.add(dep)
        if dep not in latest or admission.order_key(row) > admission.order_key(latest[dep]):
            latest[dep] = row
    return busy, {dep: row["status"] for dep, row in latest.items()}


def list_deployments(home: Home, blueprint_id: str | None = None, *, with_status: bool = False) -> list[dict]:
    out = []
    busy, latest = _execution_states(home) if with_status else (set(), {})
    for deployment_id in scan_ids(home.deployments_dir, "deployment.json"):
        try:
            record = load_record(home.deployment_file(deployment_id), "deployment")
        except (FileNotFoundError, CorruptRecordError):
            continue
        if blueprint_id and record.get("blueprint_id") != blueprint_id:
            continue
        if with_status:
            record = dict(record)
            record["installation_status"] = installation_status(list_node_instances(home, deployment_id))
            if deployment_id in busy:
                record["deployment_status"] = "in_progress"
            elif latest.get(deployment_id) in ("failed", "cancelled"):
                record["deployment_status"] = "requires_attention"
            else:
                record["deployment_status"] = "good"
        out.append(record)
    out.sort(key=lambda r: r.get("created_at") or "")
    return out


def evaluate_outputs(home: Home, deployment_id: str) -> dict[str, Any]:
    """``{name: {"value": v, "description": d}}`` with functions evaluated against current state."""
    data = runtime_data(home, deployment_id)
    out = {}
    for name, output in (data.deployment.get("outputs") or {}).items():
        value = evaluate_runtime(output.get("value"), data)
        out[name] = {"value": value, "description": output.get("description")}
    return out


def evaluate_capabilities(home: Home, deployment_id: str) -> dict[str, Any]:
    data = runtime_data(home, deployment_id)
    return {name: {"value": evaluate_runtime(c.get("value"), data), "description": c.get("description")}
            for name, c in (data.deployment.get("capabilities") or {}).items()}


def _journal_pending(home: Home, deployment_id: str) -> bool:
    try:
        return os.path.getsize(os.path.join(home.deployment_dir(deployment_id), JOURNAL_NAME)) > 0
    except OSError:
        return False


def current_node_instances(home: Home, instances: list[dict]) -> list[dict]:
    """The instances with what running workflows last wrote: a run's property writes reach
    the states file other processes read a little later, but a REST client that reads an
    instance to update it by version must see the version an update is checked against."""
    by_deployment: dict[str, list[int]] = {}
    for index, instance in enumerate(instances):
        by_deployment.setdefault(instance.get("deployment_id"), []).append(index)
    out = list(instances)
    for deployment_id, indexes in by_deployment.items():
        if not deployment_id or not _journal_pending(home, deployment_id):
            continue
        storage = DeploymentStorage(home, deployment_id)
        try:
            for index in indexes:
                try:
                    out[index] = storage.load_instance(out[index]["id"])
                except NotFoundError:
                    pass
        finally:
            storage.close()
    return out


def update_node_instance(home: Home, instance_id: str, *, version: int | None,
                         runtime_properties: dict | None = None, state: str | None = None,
                         force: bool = False) -> dict[str, Any]:
    """Cloudify's node-instance update: the caller names the ``version`` it read; another
    version is a conflict (unless ``force``). A properties change bumps the version; a
    state goes to the deployment's states file. Returns the instance as it now is."""
    if runtime_properties is not None and not isinstance(runtime_properties, dict):
        raise ValidationError("runtime_properties must be a dict")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ValidationError(f"version must be an integer, got {version!r}")
    deployment_id = find_node_instance(home, instance_id)["deployment_id"]
    # Through the engine's storage, which owns the versions (the journal of running
    # workflows and the states file), so a REST client and a running workflow check the
    # same version under the same per-instance lock.
    storage = DeploymentStorage(home, deployment_id)
    try:
        if runtime_properties is not None:
            try:
                storage.update_instance(instance_id, expected_version=None if force else version,
                                        runtime_properties=dict(runtime_properties))
            except StorageConflictError:
                current = int(storage.load_instance(instance_id).get("version", 1))
                raise ConflictError(f"Node instance update conflict [current version={current}, "
                                    f"update version={version}]") from None
        if state is not None:
            storage.set_state(instance_id, state)
    finally:
        storage.close()
    return load_node_instance(home, deployment_id, instance_id)
