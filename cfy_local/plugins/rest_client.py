"""An in-process stand-in for cloudify-common's REST client, behind ``get_rest_client()``.

Plugins call ``cloudify.manager.get_rest_client()`` and then ``client.secrets.get(...)``,
``client.node_instances.list(...)``, ``client.executions.start(...)``... On a manager that is
HTTP to the REST service; here, for plugin code running inside the worker (the built-in
``cloudify`` aliases), the same calls go straight to cfy-local's core functions. Returned
objects are dicts whose keys also read as attributes, as the real client's resource classes
are; lists carry ``.items`` and ``.metadata``. Errors are ``CloudifyClientError`` with the
status code the manager would answer (404 not found, 409 conflict, 400 bad request).

Node instances of the deployment whose operation is running are read and written through
that run's own storage, so a write made with the client and one made through
``ctx.instance`` see each other and keep the version check.
"""
from __future__ import annotations

import copy
import os

from cfy_local import secrets as secrets_store
from cfy_local.deployments import api as deployments_api
from cfy_local.deployments import modifications
from cfy_local import errors
from cfy_local.engine import managers, rest_api
from cfy_local.engine.rest_api import EXCEPTION_CLASSES, CloudifyClientError, ListResponse, Resource
from cfy_local.engine.storage import DeploymentStorage, StorageConflictError
from cfy_local.errors import CfyLocalError
from cfy_local.executions import api as executions_api
from cfy_local.executions import event_stream as execution_events

MANAGER_VERSION = managers.MANAGER_VERSION


# The client's exception class for each error code, as cloudify_rest_client raises them.
_CLIENT_ERRORS = {cls.ERROR_CODE: cls for cls in EXCEPTION_CLASSES.values() if getattr(cls, "ERROR_CODE", None)}


def _call(func, *args, **kwargs):
    """Run a core call; its refusal becomes the CloudifyClientError a manager would answer
    (the code and status of ``errors.manager_error``, as ``cfy serve`` answers)."""
    try:
        return func(*args, **kwargs)
    except CfyLocalError as exc:
        code, status = errors.manager_error(exc)
        raise _CLIENT_ERRORS.get(code, CloudifyClientError)(str(exc), status_code=status, error_code=code) from None


def _page(rows, _include=None, **filters):
    out = []
    for row in rows:
        if all(row.get(key) == value for key, value in filters.items() if value is not None):
            if _include:
                row = Resource({key: row.get(key) for key in _include})
            out.append(row)
    return ListResponse(out)


class _Secrets:
    def __init__(self, home):
        self._home = home

    def get(self, key, **_):
        return Resource(_call(secrets_store.get_secret, self._home, key), visibility="tenant",
                        is_hidden_value=False, tenant_name="default_tenant", created_by="admin")

    def create(self, key, value, update_if_exists=False, is_hidden_value=False, visibility="tenant", **_):
        return Resource(_call(secrets_store.create_secret, self._home, key, value, update_if_exists=update_if_exists))

    def update(self, key, value=None, **_):
        _call(secrets_store.get_secret, self._home, key)
        return Resource(_call(secrets_store.create_secret, self._home, key, value, update_if_exists=True))

    def patch(self, key, value=None, **kwargs):
        return self.update(key, value, **kwargs)

    def list(self, _include=None, **filters):
        return _page([Resource(s) for s in _call(secrets_store.list_secrets, self._home)], _include, **filters)

    def delete(self, key, **_):
        _call(secrets_store.delete_secret, self._home, key)

    def export(self, **_):
        return [Resource(_call(secrets_store.get_secret, self._home, s["key"]))
                for s in _call(secrets_store.list_secrets, self._home)]


class _Outputs:
    def __init__(self, home):
        self._home = home

    def get(self, deployment_id):
        outputs = _call(deployments_api.evaluate_outputs, self._home, deployment_id)
        return Resource(deployment_id=deployment_id, outputs={k: v["value"] for k, v in outputs.items()})


class _Capabilities:
    def __init__(self, home):
        self._home = home

    def get(self, deployment_id):
        caps = _call(deployments_api.evaluate_capabilities, self._home, deployment_id)
        return Resource(deployment_id=deployment_id, capabilities={k: v["value"] for k, v in caps.items()})


def _deployment_view(record: dict) -> Resource:
    view = Resource(copy.deepcopy(record))
    view.setdefault("workflows", [])
    if isinstance(view.get("workflows"), dict):
        view["workflows"] = [Resource(name=name, **({"parameters": w.get("parameters") or {}}))
                             for name, w in view["workflows"].items()]
    view.setdefault("tenant_name", "default_tenant")
    view.setdefault("visibility", "tenant")
    return view


class _Deployments:
    def __init__(self, home):
        self._home = home
        self.outputs = _Outputs(home)
        self.capabilities = _Capabilities(home)

    def get(self, deployment_id, _include=None, **_):
        view = _deployment_view(_call(deployments_api.load_deployment, self._home, deployment_id))
        return Resource({k: view.get(k) for k in _include}) if _include else view

    def list(self, _include=None, blueprint_id=None, **filters):
        rows = [_deployment_view(d) for d in _call(deployments_api.list_deployments, self._home, blueprint_id)]
        return _page(rows, _include, **filters)

    def create(self, blueprint_id, deployment_id, inputs=None, **_):
        return _deployment_view(_call(deployments_api.create_deployment, self._home, deployment_id, blueprint_id,
                                      inputs or {}))

    def delete(self, deployment_id, force=False, **_):
        _call(deployments_api.delete_deployment, self._home, deployment_id, force=force)


def _instance_view(record: dict) -> Resource:
    view = Resource(copy.deepcopy(record))
    view.setdefault("runtime_properties", {})
    view.setdefault("version", 1)
    view.setdefault("tenant_name", "default_tenant")
    return view


class _NodeInstances:
    def __init__(self, home):
        self._home = home

    def _run_for(self, deployment_id):
        run = rest_api.current_run()
        if run is not None and run.storage is not None and run.deployment_id == deployment_id:
            return run
        return None

    def get(self, node_instance_id, _include=None, evaluate_functions=False, **_):
        record = _call(deployments_api.find_node_instance, self._home, node_instance_id)
        run = self._run_for(record.get("deployment_id"))
        if run is not None:
            record = run.storage.load_instance(node_instance_id)
        view = _instance_view(record)
        return Resource({k: view.get(k) for k in _include}) if _include else view

    def list(self, deployment_id=None, node_id=None, node_name=None, _include=None, **filters):
        node_id = node_id or node_name
        rows = _call(deployments_api.list_node_instances, self._home, deployment_id, node_id)
        run = self._run_for(deployment_id)
        if run is not None:
            rows = [run.storage.load_instance(row["id"]) for row in rows]
        filters.pop("_get_all_results", None)
        filters.pop("_offset", None)
        filters.pop("_size", None)
        return _page([_instance_view(r) for r in rows], _include, **filters)

    def update(self, node_instance_id, state=None, runtime_properties=None, version=None, force=False, **_):
        record = _call(deployments_api.find_node_instance, self._home, node_instance_id)
        deployment_id = record.get("deployment_id")
        run = self._run_for(deployment_id)
        if run is not None:
            storage, owned = run.storage, False
        else:
            storage, owned = DeploymentStorage(self._home, deployment_id), True
        try:
            if runtime_properties is not None:
                try:
                    storage.update_instance(node_instance_id, expected_version=None if force else version,
                                            runtime_properties=dict(runtime_properties))
                except StorageConflictError as exc:
                    raise CloudifyClientError(str(exc), status_code=409, error_code="conflict_error") from None
            if state is not None:
                storage.set_state(node_instance_id, state)
            return _instance_view(storage.load_instance(node_instance_id))
        finally:
            if owned:
                storage.close()


class _Nodes:
    def __init__(self, home):
        self._home = home

    def get(self, deployment_id, node_id, _include=None, evaluate_functions=False, **_):
        for node in _call(deployments_api.load_nodes, self._home, deployment_id):
            if node.get("id") == node_id:
                view = Resource(copy.deepcopy(node), deployment_id=deployment_id)
                return Resource({k: view.get(k) for k in _include}) if _include else view
        raise CloudifyClientError(f"Requested `Node` with ID `{node_id}` was not found", status_code=404,
                                  error_code="not_found_error")

    def list(self, deployment_id=None, node_id=None, _include=None, **filters):
        deployment_ids = [deployment_id] if deployment_id else [
            d["id"] for d in _call(deployments_api.list_deployments, self._home)]
        rows = []
        for dep in deployment_ids:
            for node in _call(deployments_api.load_nodes, self._home, dep):
                rows.append(Resource(copy.deepcopy(node), deployment_id=dep))
        filters.pop("_get_all_results", None)
        return _page(rows, _include, id=node_id, **filters)


class _Executions:
    def __init__(self, home):
        self._home = home

    def get(self, execution_id, _include=None, **_):
        view = Resource(_call(executions_api.get, self._home, execution_id))
        return Resource({k: view.get(k) for k in _include}) if _include else view

    def list(self, _include=None, deployment_id=None, include_system_workflows=False, status=None, **filters):
        rows = _call(executions_api.list_executions, self._home, deployment_id=deployment_id,
                     include_system=include_system_workflows, statuses=[status] if status else None)
        filters.pop("_get_all_results", None)
        filters.pop("sort", None)
        filters.pop("is_descending", None)
        return _page([Resource(r) for r in rows], _include, **filters)

    def start(self, deployment_id, workflow_id, parameters=None, allow_custom_parameters=False, force=False,
              dry_run=False, queue=False, wait_after_fail=None, **_):
        return Resource(_call(executions_api.start, self._home, workflow_id, deployment_id, parameters or {},
                              allow_custom_parameters=allow_custom_parameters, force=force, queue=queue,
                              dry_run=dry_run, wait_after_fail=wait_after_fail))

    def cancel(self, execution_id, force=False, kill=False):
        return Resource(_call(executions_api.cancel, self._home, execution_id, force=force, kill=kill))


class _Events:
    def __init__(self, home):
        self._home = home

    def _read(self, execution_id, include_logs):
        if not os.path.exists(self._home.events_file(execution_id)):
            _call(executions_api.require_execution, self._home, execution_id)
        rows = execution_events.read_all(self._home, execution_id)
        return [Resource(e) for e in rows if include_logs or not execution_events.is_log(e)]

    def get(self, execution_id, from_event=0, batch_size=100, include_logs=False):
        """(events, total) of an execution, as the REST client's events.get returns them."""
        rows = self._read(execution_id, include_logs)
        return rows[from_event:from_event + batch_size], len(rows)

    def list(self, execution_id=None, include_logs=False, _offset=0, _size=1000, **_):
        if execution_id is None:
            raise CloudifyClientError("events.list needs execution_id in cfy-local", status_code=400,
                                      error_code="bad_parameters_error")
        rows = self._read(execution_id, include_logs)
        return ListResponse(rows[_offset:_offset + _size], total=len(rows))


class _DeploymentUpdates:
    """No deployment update ever runs in cfy-local: none to list, none to get."""

    def list(self, _include=None, **filters):
        return ListResponse([])

    def get(self, update_id, _include=None):
        raise CloudifyClientError(f"Requested `DeploymentUpdate` with ID `{update_id}` was not found",
                                  status_code=404, error_code="not_found_error")


def _modification_view(record: dict) -> Resource:
    view = Resource({k: v for k, v in record.items() if k != "schema_version"})
    view["node_instances"] = Resource({key: [_instance_view(i) for i in rows]
                                       for key, rows in (record.get("node_instances") or {}).items()})
    return view


class _DeploymentModifications:
    """The deployment's modification records, and starting/ending one as a manager does."""

    def __init__(self, home):
        self._home = home

    def _changed(self, record: dict) -> dict:
        run = rest_api.current_run()
        if run is not None and run.storage is not None and run.deployment_id == record.get("deployment_id"):
            run.storage.instance_files_changed()
        return record

    def list(self, deployment_id=None, _include=None, **filters):
        rows = _call(modifications.list_modifications, self._home, deployment_id)
        for key in ("_get_all_results", "_offset", "_size", "_sort"):
            filters.pop(key, None)
        return _page([_modification_view(r) for r in rows], _include, **filters)

    def get(self, modification_id, _include=None):
        view = _modification_view(_call(modifications.get_modification, self._home, modification_id))
        return Resource({k: view.get(k) for k in _include}) if _include else view

    def start(self, deployment_id, nodes, context=None):
        return _modification_view(self._changed(_call(modifications.start_modification, self._home, deployment_id,
                                                      nodes, context=context)))

    def finish(self, modification_id):
        return _modification_view(self._changed(_call(modifications.finish_modification, self._home,
                                                      modification_id)))

    def rollback(self, modification_id):
        return _modification_view(self._changed(_call(modifications.rollback_modification, self._home,
                                                      modification_id)))


class _Blueprints:
    def __init__(self, home):
        self._home = home

    def get(self, blueprint_id, _include=None, **_):
        view = Resource(_call(deployments_api.get_blueprint, self._home, blueprint_id))
        view.setdefault("tenant_name", "default_tenant")
        return Resource({k: view.get(k) for k in _include}) if _include else view

    def list(self, _include=None, **filters):
        return _page([Resource(b) for b in _call(deployments_api.list_blueprints, self._home)], _include, **filters)

    def upload(self, path, entity_id, **_):
        """A blueprint file (its folder is the blueprint's folder), as ``cfy blueprints upload``."""
        return Resource(_call(deployments_api.upload_blueprint, self._home, path, entity_id))

    def delete(self, blueprint_id, force=False, **_):
        _call(deployments_api.delete_blueprint, self._home, blueprint_id, force=force)


class _Manager:
    def get_version(self):
        return Resource(version=MANAGER_VERSION, edition="community", distribution="cfy-local",
                        distro_release="local", build=None, date=None, commit=None)

    def get_status(self):
        return Resource(status="OK", services={})

    def get_managers(self, hostname=None):
        return ListResponse([Resource(m) for m in managers.local_managers()])

    def get_brokers(self):
        return ListResponse([Resource(b) for b in managers.local_brokers()])

    def get_config(self, name=None, scope=None):
        return ListResponse([])


class LocalRestClient:
    """``get_rest_client()``'s answer for plugin code in the worker: the REST API over the state dir."""

    def __init__(self, home):
        self._home = home
        self.secrets = _Secrets(home)
        self.deployments = _Deployments(home)
        self.node_instances = _NodeInstances(home)
        self.nodes = _Nodes(home)
        self.executions = _Executions(home)
        self.blueprints = _Blueprints(home)
        self.events = _Events(home)
        self.deployment_updates = _DeploymentUpdates()
        self.deployment_modifications = _DeploymentModifications(home)
        self.manager = _Manager()

    def __repr__(self):
        return f"<cfy-local rest client {self._home.root}>"


def install() -> None:
    """Make this client what ``get_rest_client()`` answers in this process (the worker's
    entry calls it; the engine itself cannot import the core services the client uses)."""
    rest_api.install_client_factory(LocalRestClient)
