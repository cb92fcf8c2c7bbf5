"""``cloudify.nodes.Component`` / ``ServiceComponent`` on one machine (the operations of the
built-in ``cfy_extensions`` plugin's ``cloudify_types.component``).

A component is a child deployment, as on a manager: ``create`` uploads its blueprint,
``configure`` creates the deployment, ``start`` runs ``install`` on it and waits for the
end, ``stop`` runs ``uninstall``, ``delete`` deletes the deployment and then the blueprint
(unless either is an ``external_resource``). Ids default to the component's instance id;
``resource_config`` comes from the operation's inputs, else the node's property. The calls
go through ``get_rest_client()``'s client over this state dir, as Cloudify's own component
code goes through the manager's REST client. What needs a manager is refused with one line:
a ``client`` (another manager), a ``blueprint_archive`` that is a URL (nothing is fetched
from the network), ``plugins`` to upload from URLs.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import time
import zipfile

from cfy_local.engine import rest_api
from cfy_local.engine.exceptions import NonRecoverableError

EXECUTIONS_TIMEOUT = 1800
POLLING_INTERVAL = 1
ENDED = ("terminated", "failed", "cancelled")


def _input(ctx, kwargs: dict, name: str):
    """Cloudify's rule: the operation input if given, else the node property."""
    value = kwargs.get(name)
    return value if value else (ctx.node.properties.get(name) or {})


def _client(ctx, kwargs: dict):
    if _input(ctx, kwargs, "client"):
        raise NonRecoverableError(
            f"Component {ctx.node.id}: `client` points at another Cloudify Manager; cfy-local deploys "
            f"components into this state directory only")
    plugins = _input(ctx, kwargs, "plugins")
    if plugins:
        raise NonRecoverableError(
            f"Component {ctx.node.id}: `plugins` ({', '.join(sorted(plugins))}) are uploaded from URLs by a "
            f"manager; upload them with `cfy plugins upload` first and leave `plugins` empty")
    return rest_api.client_for(ctx._run.home)


def _ids(ctx, kwargs: dict) -> tuple[dict, dict, str, str]:
    config = _input(ctx, kwargs, "resource_config")
    blueprint = config.get("blueprint") or {}
    deployment = config.get("deployment") or {}
    known = (ctx.instance.runtime_properties.get("deployment") or {}).get("id")
    return blueprint, deployment, blueprint.get("id") or ctx.instance.id, known or deployment.get("id") or ctx.instance.id


def _exists(call) -> bool:
    try:
        call()
        return True
    except rest_api.CloudifyClientError as exc:
        if exc.status_code == 404:
            return False
        raise


def _main_file(ctx, archive: str, main_file: str, work: str) -> str:
    """The child blueprint's main file, from a folder or an archive (zip, tar) in the
    parent blueprint's folder."""
    if "://" in archive:
        raise NonRecoverableError(
            f"Component {ctx.node.id}: blueprint_archive `{archive}` is a URL; cfy-local never fetches from the "
            f"network: put the blueprint in the parent blueprint's folder and give its path")
    base = os.path.realpath(ctx._run.storage.resources_dir)
    path = os.path.realpath(os.path.join(base, archive))
    if path != base and not path.startswith(base + os.sep):
        raise NonRecoverableError(f"Component {ctx.node.id}: blueprint_archive `{archive}` is outside the "
                                  f"blueprint folder")
    if os.path.isdir(path):
        folder = path
    elif os.path.isfile(path) and (zipfile.is_zipfile(path) or tarfile.is_tarfile(path)):
        folder = os.path.join(work, "blueprint")
        os.makedirs(folder)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zipped:
                zipped.extractall(folder)
        else:
            with tarfile.open(path) as tarred:
                tarred.extractall(folder, filter="data")
        entries = os.listdir(folder)
        if len(entries) == 1 and os.path.isdir(os.path.join(folder, entries[0])):
            folder = os.path.join(folder, entries[0])  # archives hold one top folder
    elif os.path.isfile(path):
        return path  # the blueprint file itself
    else:
        raise NonRecoverableError(f"Component {ctx.node.id}: blueprint_archive `{archive}` not found in the "
                                  f"blueprint folder")
    main = os.path.join(folder, main_file)
    if not os.path.isfile(main):
        raise NonRecoverableError(f"Component {ctx.node.id}: `{main_file}` not found in blueprint_archive "
                                  f"`{archive}`")
    return main


def upload_blueprint(ctx, **kwargs):
    client = _client(ctx, kwargs)
    blueprint, _deployment, blueprint_id, _ = _ids(ctx, kwargs)
    if blueprint.get("external_resource"):
        if not _exists(lambda: client.blueprints.get(blueprint_id)):
            raise NonRecoverableError(f'Component {ctx.node.id}: blueprint "{blueprint_id}" is an external '
                                      f'resource but was not found')
        ctx.logger.info('Using the existing blueprint "%s"', blueprint_id)
        return True
    archive = blueprint.get("blueprint_archive")
    if not archive:
        raise NonRecoverableError(f"Component {ctx.node.id}: resource_config.blueprint needs "
                                  f"`blueprint_archive` (or `external_resource: true` and an `id`)")
    if _exists(lambda: client.blueprints.get(blueprint_id)):
        ctx.logger.info('Blueprint "%s" is already uploaded', blueprint_id)
        return True
    work = tempfile.mkdtemp(prefix="cfy-local-component-")
    try:
        main = _main_file(ctx, str(archive), blueprint.get("main_file_name") or "blueprint.yaml", work)
        ctx.logger.info('Uploading the component blueprint "%s"', blueprint_id)
        client.blueprints.upload(main, blueprint_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return True


def create(ctx, timeout=EXECUTIONS_TIMEOUT, interval=POLLING_INTERVAL, **kwargs):
    client = _client(ctx, kwargs)
    for key, value in (_input(ctx, kwargs, "secrets") or {}).items():
        client.secrets.create(key, value, update_if_exists=True)
    _blueprint, deployment, blueprint_id, deployment_id = _ids(ctx, kwargs)
    ctx.instance.runtime_properties["deployment"] = {"id": deployment_id}
    if deployment.get("external_resource"):
        if not _exists(lambda: client.deployments.get(deployment_id)):
            raise NonRecoverableError(f'Component {ctx.node.id}: deployment "{deployment_id}" is an external '
                                      f'resource but was not found')
        return True
    if not _exists(lambda: client.deployments.get(deployment_id)):
        ctx.logger.info('Creating "%s" component deployment', deployment_id)
        # The environment is created inside the call: nothing to wait for.
        client.deployments.create(blueprint_id, deployment_id, inputs=deployment.get("inputs") or {})
    return True


def _poll(check, timeout: float, interval: float):
    """``check()`` every ``interval`` seconds until it returns something (returned), or None
    once ``timeout`` seconds have passed — how the components plugin waits on the manager."""
    deadline = time.monotonic() + float(timeout)
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            return None
        time.sleep(float(interval))


def _wait_idle(client, deployment_id: str, timeout: float, interval: float) -> bool:
    def idle():
        executions = client.executions.list(deployment_id=deployment_id, include_system_workflows=True)
        return True if all(e.get("status") in ENDED for e in executions) else None

    return _poll(idle, timeout, interval) is not None


def _populate_results(ctx, client, deployment_id: str) -> None:
    """The child's outputs and capabilities on the component instance, as Cloudify keeps them."""
    props = ctx.instance.runtime_properties.setdefault("deployment", {"id": deployment_id})
    props["id"] = deployment_id
    props["outputs"] = client.deployments.outputs.get(deployment_id).outputs
    props["capabilities"] = client.deployments.capabilities.get(deployment_id).capabilities
    ctx.instance.runtime_properties["deployment"] = dict(props)


def execute_start(ctx, timeout=EXECUTIONS_TIMEOUT, interval=POLLING_INTERVAL, **kwargs):
    client = _client(ctx, kwargs)
    config = _input(ctx, kwargs, "resource_config")
    _blueprint, _deployment, _bp, deployment_id = _ids(ctx, kwargs)
    workflow_id = kwargs.get("workflow_id") or "create_deployment_environment"
    if not _exists(lambda: client.deployments.get(deployment_id)):
        if workflow_id == "uninstall":
            ctx.logger.warning('The component deployment "%s" does not exist: nothing to uninstall',
                               deployment_id)
            return True
        raise NonRecoverableError(f'Component {ctx.node.id}: deployment "{deployment_id}" does not exist')
    if not _wait_idle(client, deployment_id, timeout, interval):
        return ctx.operation.retry(f'The "{deployment_id}" deployment is not ready for execution.')
    args = dict(config.get("executions_start_args") or {})
    parameters = args.pop("parameters", None)
    if workflow_id == ctx.workflow_id and parameters is None:
        parameters = dict(getattr(ctx, "workflow_parameters", None) or {})
    allowed = {k: args[k] for k in ("allow_custom_parameters", "force", "dry_run", "queue") if k in args}
    ctx.logger.info('Starting execution for "%s" deployment', deployment_id)
    execution = client.executions.start(deployment_id, workflow_id, parameters=parameters or {}, **allowed)
    def ended():
        current = client.executions.get(execution["id"])
        return current if current.get("status") in ENDED else None

    current = _poll(ended, timeout, interval)
    if current is None:
        raise NonRecoverableError(f'Execution {execution["id"]} ({workflow_id}) of component deployment '
                                  f'"{deployment_id}" did not end within {timeout} seconds')
    status = current.get("status")
    if status != "terminated":
        error = (current.get("error") or "").strip().splitlines()
        raise NonRecoverableError(f'Execution {execution["id"]} ({workflow_id}) of component deployment '
                                  f'"{deployment_id}" ended {status}' + (f": {error[-1]}" if error else ""))
    ctx.logger.info('Execution succeeded for "%s" deployment', deployment_id)
    if workflow_id != "uninstall":
        _populate_results(ctx, client, deployment_id)
    return True


def delete(ctx, timeout=EXECUTIONS_TIMEOUT, **kwargs):
    client = _client(ctx, kwargs)
    blueprint, deployment, blueprint_id, deployment_id = _ids(ctx, kwargs)
    exists = _exists(lambda: client.deployments.get(deployment_id))
    if exists and not _wait_idle(client, deployment_id, timeout, POLLING_INTERVAL):
        return ctx.operation.retry(f'The "{deployment_id}" deployment still has executions running.')
    if deployment.get("external_resource"):
        ctx.logger.info('Leaving the external deployment "%s"', deployment_id)
    elif exists:
        ctx.logger.info('Delete component\'s "%s" deployment', deployment_id)
        client.deployments.delete(deployment_id)
    else:
        ctx.logger.warning('Didn\'t find component\'s "%s" deployment, so nothing to do and moving on.',
                           deployment_id)
    if not blueprint.get("external_resource") and _exists(lambda: client.blueprints.get(blueprint_id)):
        ctx.logger.info('Delete component\'s blueprint "%s".', blueprint_id)
        client.blueprints.delete(blueprint_id)
    for key in ("deployment", "blueprint"):
        ctx.instance.runtime_properties.pop(key, None)
    return True


def refresh(ctx, **kwargs):
    client = _client(ctx, kwargs)
    _populate_results(ctx, client, _ids(ctx, kwargs)[3])
    return True
