"""Finding the Python function behind an operation or workflow mapping.

A mapping ``<plugin>.<module path>.<func>`` names a plugin declared under ``plugins:``;
its code is a folder beside the blueprint (``source:``, relative to the blueprint folder),
a plugin uploaded to the catalog (``package_name:``/``package_version:`` of an uploaded
plugin), or a package the worker can import.

A source folder is put on ``sys.path`` of the engine's process (the worker) and its module
imported: the in-process path. An uploaded plugin's operations run in its own virtualenv,
as the manager's mgmtworker runs them: a warm operation host per environment
(``scripts/shim/_cfy_local_plugin_host.py``) takes each operation as a message and asks the
worker back for whatever the operation's ctx reads or writes, so the plugin gets its own
dependencies and the real cloudify-common when it has it. An uploaded plugin's workflows
run in the worker (a workflow drives the worker's task graph, which lives in this
process), which runs on the plugin's interpreter then (``plugins/workflow_env.py``); the
environment's packages are also appended to ``sys.path`` for a worker that does not.
"""
from __future__ import annotations

import base64
import glob
import importlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from typing import Any, Callable

from cfy_local.engine import components, rest_api
from cfy_local.engine.exceptions import (HttpException, NonRecoverableError, OperationRetry, ProcessExecutionError,
                                         RecoverableError)
from cfy_local.engine.storage import StorageConflictError
from cfy_local.plugins import catalog
from cfy_local.store import serve_record

_path_lock = threading.Lock()
_cache: dict[tuple, Callable] = {}
# Code of the manager's built-in ``cfy_extensions`` plugin that cfy-local provides.
BUILTIN_PLUGIN_MODULES = {("cfy_extensions", "cloudify_types.component"): components}


def plugin_search_path(plugins: dict, plugin_name: str | None, resources_dir: str) -> str | None:
    """The folder to import a plugin's code from, or None for an installed package."""
    if not plugin_name:
        return None
    plugin = (plugins or {}).get(plugin_name)
    if plugin is None:
        raise NonRecoverableError(f"Plugin not found: {plugin_name}")
    source = plugin.get("source")
    if not source:
        return None
    if "://" in str(source):
        raise NonRecoverableError(
            f"Plugin `{plugin_name}`: source `{source}` is a URL; cfy-local only runs plugins from a folder "
            f"beside the blueprint or an installed package (package_name)"
        )
    base = os.path.realpath(resources_dir)
    folder = os.path.realpath(os.path.join(base, source))
    if folder != base and not folder.startswith(base + os.sep):
        raise NonRecoverableError(f"Plugin `{plugin_name}`: source `{source}` is outside the blueprint folder")
    if not os.path.isdir(folder):
        raise NonRecoverableError(f"Plugin `{plugin_name}`: source folder `{source}` does not exist in the blueprint folder")
    return folder


def _ensure_on_path(folder: str) -> None:
    with _path_lock:
        if folder not in sys.path:
            sys.path.insert(0, folder)
        src = os.path.join(folder, "src")
        if os.path.isdir(src) and src not in sys.path:
            sys.path.insert(0, src)


def uploaded_environment(home: Any, plugins: dict, plugin_name: str | None) -> str | None:
    """The virtualenv of the uploaded plugin a ``plugins:`` entry names, if it was uploaded."""
    plugin = (plugins or {}).get(plugin_name) if plugin_name else None
    if home is None or not plugin or plugin.get("source") or not plugin.get("package_name"):
        return None
    return catalog.environment_of(home, plugin["package_name"], plugin.get("package_version"))


def _add_site_packages(venv: str) -> None:
    with _path_lock:
        for folder in sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))):
            if folder not in sys.path:
                sys.path.append(folder)


def import_function(mapping: str, *, plugins: dict, plugin_name: str | None, resources_dir: str,
                    home: Any = None, workflow: bool = False) -> Callable:
    """Import ``module.path.func`` (the mapping without the plugin name) and return it; for an
    operation of an uploaded plugin, a callable that runs it in the plugin's environment."""
    key = (mapping, plugin_name, resources_dir, getattr(home, "root", None), workflow)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    module_name, _, func_name = mapping.rpartition(".")
    if not module_name or not func_name:
        raise NonRecoverableError(f"Invalid operation mapping `{mapping}`: expected <module>.<function>")
    builtin = BUILTIN_PLUGIN_MODULES.get((plugin_name, module_name))
    if builtin is not None:
        func = getattr(builtin, func_name, None)
        if func is None or func_name.startswith("_"):
            raise NonRecoverableError(f"{module_name}.{func_name} needs a Cloudify Manager; cfy-local does "
                                      f"not provide it")
        _cache[key] = func
        return func
    venv = uploaded_environment(home, plugins, plugin_name)
    if venv is not None:
        if not workflow:
            remote = RemoteOperation(venv, mapping, plugin_name, (plugins or {}).get(plugin_name) or {})
            _cache[key] = remote
            return remote
        _add_site_packages(venv)
    folder = plugin_search_path(plugins, plugin_name, resources_dir)
    if folder is not None:
        _ensure_on_path(folder)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        declared = (plugins or {}).get(plugin_name) or {}
        if declared.get("package_name") and not declared.get("source"):
            version = declared.get("package_version")
            raise NonRecoverableError(
                f"No module named {module_name} ({exc}): plugin `{plugin_name}` is package "
                f"{declared['package_name']}{' ' + str(version) if version else ''}, which is not uploaded; "
                f"upload it with `cfy plugins upload`") from exc
        raise NonRecoverableError(f"No module named {module_name} ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - a plugin module that raises on import
        raise NonRecoverableError(f"Cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    func: Any = getattr(module, func_name, None)
    if func is None:
        raise NonRecoverableError(f"{module_name} has no function named '{func_name}' ")
    if not callable(func):
        raise NonRecoverableError(f"{module_name}.{func_name} is not callable")
    _cache[key] = func
    return func


# -- operations in a plugin's own environment ------------------------------------------------------

HOST_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts", "shim", "_cfy_local_plugin_host.py")
HOST_START_TIMEOUT = 60.0
_hosts: dict[str, "PluginHost"] = {}
_hosts_lock = threading.Lock()
_remote_classes: dict[str, type] = {}
_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING,
               "error": logging.ERROR, "critical": logging.CRITICAL}


class PluginHostDied(NonRecoverableError):
    """The operation host of a plugin environment exited while an operation ran."""


class PluginHost:
    """One warm Python process in a plugin's virtualenv that runs its operations."""

    def __init__(self, venv: str, server: dict | None = None):
        self.venv = venv
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["VIRTUAL_ENV"] = venv
        env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
        # A ``cfy serve`` of this state dir is running: cloudify-common's own
        # get_rest_client() reaches it through the variables it reads on a manager (the
        # token comes with each operation's context, as the execution token there).
        self.server = server
        for key in ("REST_HOST", "REST_PORT", "REST_PROTOCOL", "LOCAL_REST_CERT_FILE"):
            env.pop(key, None)
        if server is not None:
            env["REST_HOST"] = server["connect_host"]
            env["REST_PORT"] = str(server["port"])
            env["REST_PROTOCOL"] = server.get("protocol") or "http"
            # cloudify-common insists on an existing certificate file even for plain HTTP,
            # where it is never read: the server's record stands in for it.
            env["LOCAL_REST_CERT_FILE"] = server.get("cert") or server["record_path"]
        self.process = subprocess.Popen([catalog.env_python(venv), "-I", "-u", HOST_SCRIPT], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env, cwd=venv, close_fds=True)
        self._write_lock = threading.Lock()
        self._calls: dict[int, Any] = {}
        self._calls_lock = threading.Lock()
        self._next = 0
        self.alive = True
        first = self.process.stdout.readline()
        try:
            ready = json.loads(first)
        except ValueError:
            ready = {}
        if ready.get("op") != "ready":
            self.alive = False
            self.process.kill()
            raise NonRecoverableError(f"The operation host of plugin environment {venv} did not start "
                                      f"(exit code {self.process.wait()})")
        self.real_cloudify = bool(ready.get("real"))
        threading.Thread(target=self._read, name=f"plugin-host-{os.path.basename(venv)}", daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._calls_lock:
                inbox = self._calls.get(message.get("id"))
            if inbox is not None:
                inbox.put(message)
        code = self.process.wait()
        with self._calls_lock:
            self.alive = False
            for inbox in self._calls.values():
                inbox.put({"op": "died", "code": code})

    def send(self, message: dict) -> None:
        data = (json.dumps(message, default=str) + "\n").encode("utf-8")
        with self._write_lock:
            self.process.stdin.write(data)
            self.process.stdin.flush()

    def call(self, context: dict, kwargs: dict, ctx: Any) -> Any:
        """Run one operation; answer its ctx requests in this (the operation's) thread."""
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        with self._calls_lock:
            if not self.alive:  # it died before this call could be told
                raise PluginHostDied(f"The operation host of {self.venv} is gone")
            self._next += 1
            call_id = self._next
            self._calls[call_id] = inbox
        try:
            try:
                self.send({"op": "call", "id": call_id, "context": context, "kwargs": kwargs})
            except (OSError, ValueError):
                raise PluginHostDied(f"The operation host of {self.venv} is gone") from None
            handler = _Requests(ctx)
            while True:
                message = inbox.get()
                kind = message.get("op")
                if kind == "done":
                    return message.get("result")
                if kind == "error":
                    raise remote_exception(message.get("error") or {})
                if kind == "died":
                    raise PluginHostDied(f"The operation host of plugin environment {self.venv} exited "
                                         f"(exit code {message.get('code')}) while the operation ran")
                reply = {"op": "reply", "id": call_id, "rid": message.get("rid")}
                reply.update(handler.answer(kind, message.get("body") or {}))
                try:
                    self.send(reply)
                except (OSError, ValueError):
                    raise PluginHostDied(f"The operation host of {self.venv} is gone") from None
        finally:
            with self._calls_lock:
                self._calls.pop(call_id, None)


def host_for(venv: str, home: Any = None) -> PluginHost:
    """The warm host of a plugin environment, started on first use (and again if it died);
    pointed at the state dir's ``cfy serve`` if one runs when it starts."""
    with _hosts_lock:
        host = _hosts.get(venv)
        if host is None or not host.alive:
            server = serve_record.live_server(home) if home is not None else None
            if server is not None:
                server["record_path"] = serve_record.record_path(home)
            host = PluginHost(venv, server)
            _hosts[venv] = host
        return host


def remote_exception(error: dict) -> BaseException:
    """The error an operation raised in its host, as the engine classifies it: Cloudify's
    exception classes (from cloudify-common or the shim) map to cfy-local's by name."""
    kind = error.get("type") or "Exception"
    message = error.get("message") or ""
    retry_after = error.get("retry_after")
    causes = list(error.get("causes") or [])
    if kind == "OperationRetry":
        # a retry asked for is no error: no traceback, as for an in-process operation
        return OperationRetry(message, retry_after=retry_after, causes=causes)
    causes.append({"message": message, "type": kind, "traceback": error.get("traceback") or ""})
    if kind == "RecoverableError":
        return RecoverableError(message, retry_after=retry_after, causes=causes)
    if kind == "HttpException":
        exc = HttpException(causes=causes)
        exc.args = (message,)
        return exc
    if kind == "NonRecoverableError":
        return NonRecoverableError(message, causes=causes)
    if kind == "ProcessExecutionError":
        return ProcessExecutionError(message, causes=causes)
    if kind == "CloudifyClientError" and error.get("status_code") == 409:
        return StorageConflictError(message)
    cls = _remote_classes.get(kind)
    if cls is None:
        cls = type(kind, (Exception,), {"__module__": "cfy_local.plugin_host"})
        _remote_classes[kind] = cls
    return cls(message)


class _Requests:
    """Answers what an operation in a host asks of the worker: its ctx, storage, REST calls."""

    def __init__(self, ctx: Any):
        self.ctx = ctx
        self.run = ctx._run
        # The script runner's modules (and the socket module) load with the first
        # operation that needs them, not with every worker.
        from cfy_local.engine.scripts.ctx_proxy import ScriptOutcome

        self.outcome = ScriptOutcome()

    def answer(self, kind: str, body: dict) -> dict:
        try:
            if kind == "ctxpy":
                return {"result": self._ctx_python(body)}
            if kind == "storage":
                return {"result": self._storage(body)}
            if kind == "rest":
                return {"result": self._rest(body)}
            if kind == "log":
                self.ctx.logger.log(_LOG_LEVELS.get(str(body.get("level")).lower(), logging.INFO), body.get("text"))
                return {"result": None}
            if kind == "event":
                self.ctx.send_event(body.get("text"))
                return {"result": None}
            raise ValueError(f"unknown request {kind!r}")
        except rest_api.CloudifyClientError as exc:
            return {"error": {"type": "CloudifyClientError", "message": exc.message, "status_code": exc.status_code,
                              "error_code": exc.error_code}}
        except StorageConflictError as exc:
            return {"error": {"type": "CloudifyClientError", "message": str(exc), "status_code": 409,
                              "error_code": "conflict_error"}}
        except KeyError as exc:
            return {"error": {"type": "KeyError", "message": str(exc.args[0]) if exc.args else ""}}
        except Exception as exc:  # noqa: BLE001 - the operation's own request failed; it decides
            return {"error": {"type": type(exc).__name__, "message": str(exc)}}

    def _ctx_python(self, body: dict) -> dict:
        request = body.get("py") or {}
        from cfy_local.engine.scripts.ctx_proxy import resolve_python

        payload = resolve_python(self.ctx, request, {}, self.outcome)
        return {"type": "result", "payload": payload}

    def _storage(self, body: dict) -> Any:
        method = body.get("method")
        args = list(body.get("args") or [])
        kwargs = dict(body.get("kwargs") or {})
        storage = self.run.storage
        if method == "get_node":
            node = self.run.node_map.get(args[0])
            if node is None:
                raise KeyError(f"Node {args[0]} does not exist")
            return dict(node, name=node.get("id"))
        if method == "get_node_instance":
            return storage.load_instance(args[0])
        if method == "update_node_instance":
            version = kwargs.get("version")
            record = storage.update_instance(
                args[0], expected_version=None if kwargs.get("force") else version,
                runtime_properties=kwargs.get("runtime_properties"), state=kwargs.get("state"))
            return record
        if method == "get_resource":
            return base64.b64encode(self.ctx.get_resource(args[0])).decode("ascii")
        if method == "download_resource":
            return self.ctx.download_resource(args[0], args[1] if len(args) > 1 else None)
        if method == "get_workdir":
            folder = os.path.join(storage.home.deployment_dir(self.run.deployment_id), "workdir")
            os.makedirs(folder, mode=0o700, exist_ok=True)
            return folder
        if method == "evaluate_functions":
            return self.run.evaluate_functions(args[0], self.ctx._task)
        raise ValueError(f"unknown storage call {method!r}")

    def _rest(self, body: dict) -> Any:
        target: Any = rest_api.client_for(self.run.home)
        for name in body.get("path") or []:
            if name.startswith("_"):
                raise AttributeError(name)
            target = getattr(target, name)
        return _plain_rest(target(*(body.get("args") or []), **(body.get("kwargs") or {})))


def _plain_rest(value: Any) -> Any:
    if isinstance(value, rest_api.ListResponse):
        return {"__list__": True, "items": [_plain_rest(v) for v in value],
                "total": value.metadata["pagination"]["total"]}
    if isinstance(value, dict):
        return {k: _plain_rest(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_rest(v) for v in value]
    return value


class RemoteOperation:
    """An uploaded plugin's operation: called like the function, run in the plugin's host."""

    def __init__(self, venv: str, mapping: str, plugin_name: str | None, plugin: dict):
        self.venv = venv
        self.mapping = mapping
        self.plugin_name = plugin_name
        self.plugin = plugin
        self.__name__ = mapping.rpartition(".")[2]
        self.resumable = True

    def __call__(self, **kwargs: Any) -> Any:
        ctx = kwargs.pop("ctx")
        host = host_for(self.venv, ctx._run.home)
        context = self.context(ctx)
        if host.server is not None:
            context.update(rest_host=host.server["connect_host"], rest_port=host.server["port"],
                           rest_token=host.server["token"], execution_token=host.server["token"])
        return host.call(context, _jsonable(kwargs), ctx)

    def context(self, ctx: Any) -> dict:
        """Cloudify's operation context (the dict ``cloudify.dispatch`` gets) for this attempt."""
        task = ctx._task
        run = ctx._run
        instance = task.instance
        context = {
            "type": "operation", "task_name": self.mapping, "task_id": task.id, "task_target": None,
            "execution_id": run.execution_id, "workflow_id": run.workflow_id,
            "blueprint_id": run.deployment.get("blueprint_id"), "deployment_id": run.deployment_id,
            "node_id": instance["id"], "node_name": instance["node_id"],
            "operation": {"name": task.operation_name, "retry_number": task.current_retries,
                          "max_retries": task.total_retries, "relationship": task.relationship},
            "plugin": {"name": self.plugin_name, "package_name": self.plugin.get("package_name"),
                       "package_version": self.plugin.get("package_version"), "source": self.plugin.get("source"),
                       "properties": self.plugin.get("properties") or {}},
            "tenant": {"name": "default_tenant"}, "execution_creator_username": "admin",
            "resume": bool(run.resume), "timeout": task.op.get("timeout"),
            "workflow_parameters": dict(run.parameters), "local": True,
        }
        if task.relationship is not None:
            related = task.related_instance
            context["related"] = {"node_id": related["id"], "node_name": related["node_id"],
                                  "is_target": task.relationship == "source"}
        return context


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))
