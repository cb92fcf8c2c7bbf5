"""The operation host: a warm process in a plugin's own virtualenv that runs its operations.

cfy-local's worker starts one per plugin environment (``<venv>/bin/python -I this-file``) and
keeps it for the whole run, so an operation costs a message, not a new interpreter. Messages
are JSON lines: requests on the original stdin, answers on the original stdout.

Where cloudify-common is installed in the environment (real plugins depend on it), each
operation runs through its own ``cloudify.dispatch.dispatch`` with a local-mode context: the
``storage`` object cloudify-common's local endpoint reads and writes is answered by the
worker (node, node instance, version-checked updates, resources), log records go to the
worker's ctx logger, and ``get_rest_client()`` returns a client whose calls the worker
answers from the state dir. Without cloudify-common, cfy-local's small ``cloudify`` shim is
put on ``sys.path`` and its ctx forwards every access to the worker.

Runs on any Python 3 the plugin environment has; stdlib only.
"""
import base64
import json
import os
import sys
import threading
import traceback

# The protocol gets private copies of stdin/stdout; fd 0 becomes /dev/null and fd 1 a copy of
# stderr, so neither plugin code nor the processes it starts can read or corrupt a message.
_IN = os.fdopen(os.dup(0), "r", encoding="utf-8")
_OUT = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
_NULL = os.open(os.devnull, os.O_RDONLY)
os.dup2(_NULL, 0)
os.close(_NULL)
os.dup2(2, 1)
sys.stdout = sys.stderr
sys.stdin = open(os.devnull, "r")
_WRITE_LOCK = threading.Lock()
_PENDING = {}
_PENDING_LOCK = threading.Lock()
_NEXT = [0]
_local = threading.local()
SHIM_DIR = os.path.dirname(os.path.abspath(__file__))


def _send(message):
    data = json.dumps(message, default=str)
    with _WRITE_LOCK:
        _OUT.write(data + "\n")
        _OUT.flush()


def ask(kind, body):
    """One request to the worker on behalf of the operation of this thread; its answer."""
    call_id = _local.call_id
    with _PENDING_LOCK:
        _NEXT[0] += 1
        rid = _NEXT[0]
        slot = {"event": threading.Event(), "answer": None}
        _PENDING[rid] = slot
    _send({"op": kind, "id": call_id, "rid": rid, "body": body})
    slot["event"].wait()
    with _PENDING_LOCK:
        del _PENDING[rid]
    answer = slot["answer"]
    if answer.get("error"):
        raise _worker_error(answer["error"])
    return answer.get("result")


class WorkerError(Exception):
    pass


def _worker_error(error):
    kind = error.get("type") or "Exception"
    message = error.get("message") or ""
    if REAL:
        if kind == "CloudifyClientError":
            from cloudify_rest_client.exceptions import CloudifyClientError

            return CloudifyClientError(message, status_code=error.get("status_code", -1),
                                       error_code=error.get("error_code"))
        from cloudify import exceptions

        cls = getattr(exceptions, kind, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            try:
                return cls(message)
            except TypeError:
                pass
    builtin = {"KeyError": KeyError, "ValueError": ValueError, "TypeError": TypeError,
               "AttributeError": AttributeError, "IndexError": IndexError, "RuntimeError": RuntimeError,
               "FileNotFoundError": FileNotFoundError, "PermissionError": PermissionError}.get(kind)
    if builtin is not None:
        return builtin(message)
    return WorkerError("%s: %s" % (kind, message))


# -- cloudify-common's seams ---------------------------------------------------------------------

def _have_cloudify_common():
    try:
        import importlib.util

        return importlib.util.find_spec("cloudify.dispatch") is not None
    except (ImportError, ValueError):
        return False


REAL = _have_cloudify_common()


class AttrDict(dict):
    """A record (node, node instance, REST resource): keys read as attributes too."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            return None


def _wrap(value):
    if isinstance(value, dict):
        if value.get("__list__") is True:
            return _ListResponse([_wrap(v) for v in value["items"]], value.get("total"))
        # Only the record itself reads keys as attributes: the values inside stay plain
        # dicts, as Cloudify hands them to plugins (a yaml.safe_dump of them must work).
        return AttrDict(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class _ListResponse(list):
    def __init__(self, items, total=None):
        super().__init__(items)
        self.items = list(items)
        total = len(self.items) if total is None else total
        self.metadata = AttrDict(pagination=AttrDict(total=total, size=len(self.items), offset=0))


class Storage(object):
    """What cloudify-common's LocalEndpoint calls; the worker answers each call."""

    def get_node(self, node_id, evaluate_functions=False):
        return _wrap(ask("storage", {"method": "get_node", "args": [node_id]}))

    def get_node_instance(self, node_instance_id, evaluate_functions=False):
        return _wrap(ask("storage", {"method": "get_node_instance", "args": [node_instance_id]}))

    def update_node_instance(self, node_instance_id, version, runtime_properties=None, system_properties=None,
                             state=None, relationships=None, force=False):
        return _wrap(ask("storage", {"method": "update_node_instance", "args": [node_instance_id],
                                     "kwargs": {"version": version, "runtime_properties": runtime_properties,
                                                "state": state, "force": force}}))

    def get_resource(self, resource_path):
        return base64.b64decode(ask("storage", {"method": "get_resource", "args": [resource_path]}))

    def download_resource(self, resource_path, target_path=None):
        return ask("storage", {"method": "download_resource", "args": [resource_path, target_path]})

    def get_provider_context(self):
        return {}

    def get_workdir(self):
        return ask("storage", {"method": "get_workdir", "args": []})

    @property
    def env(self):
        return self

    def evaluate_functions(self, payload, context=None):
        return ask("storage", {"method": "evaluate_functions", "args": [payload]})


class _RestResource(object):
    def __init__(self, path):
        self._path = path

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _RestResource(self._path + [name])

    def __call__(self, *args, **kwargs):
        return _wrap(ask("rest", {"path": self._path, "args": list(args), "kwargs": kwargs}))


class RestClient(object):
    """``get_rest_client()`` inside the host: each call is answered by cfy-local's state dir."""

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _RestResource([name])


def get_rest_client(tenant=None, api_token=None):
    return RestClient()


def _forward_log(log, **kwargs):
    text = (log.get("message") or {}).get("text")
    if text is not None:
        ask("log", {"level": log.get("level") or "info", "text": text})


def _forward_event(event, **kwargs):
    text = (event.get("message") or {}).get("text")
    if text is not None:
        ask("event", {"text": text})


def _prepare_real():
    from cloudify import logs, manager, utils

    # Log records and plugin events of the local endpoint go to the worker, not to stdout.
    logs.stdout_log_out = _forward_log
    logs.stdout_event_out = _forward_event
    if os.environ.get("REST_HOST"):
        # A cfy serve of the state dir runs: cloudify-common's own client talks to it.
        return
    # No REST service runs for this host: the client's calls are answered by the worker.
    manager.get_rest_client = get_rest_client
    utils.get_rest_client = get_rest_client
    try:
        from cloudify import endpoint

        endpoint.get_rest_client = get_rest_client
    except ImportError:
        pass


def _prepare_shim():
    import types

    sys.path.insert(0, SHIM_DIR)
    import cloudify
    import cloudify._remote_ctx as remote

    def send_request(body):
        return ask("ctxpy", body)

    remote.send_request = send_request
    # get_rest_client() without cloudify-common: the worker answers, as with it
    manager = types.ModuleType("cloudify.manager", "Manager APIs answered by cfy-local.")
    manager.get_rest_client = get_rest_client
    sys.modules["cloudify.manager"] = manager
    cloudify.manager = manager


# -- running one operation -------------------------------------------------------------------------

def _error_of(exc, tb_text):
    out = {"type": type(exc).__name__, "message": str(exc), "traceback": tb_text,
           "retry_after": getattr(exc, "retry_after", None), "causes": getattr(exc, "causes", None) or [],
           "status_code": getattr(exc, "status_code", None)}
    module = type(exc).__module__ or ""
    out["from_cloudify"] = module.startswith("cloudify")
    return out


def _plain(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def _run_real(message):
    from cloudify import dispatch

    context = dict(message["context"])
    context["local"] = True
    context["storage"] = Storage()
    try:
        result = dispatch.dispatch(context, **message.get("kwargs") or {})
    except dispatch._WrappedTaskError as wrapped:
        exc = wrapped.wrapped_exc
        return {"op": "error", "error": _error_of(exc, wrapped.wrapped_tb)}
    return {"op": "done", "result": _plain(result)}


def _run_shim(message):
    import importlib

    import cloudify._remote_ctx as remote

    module_name, _, func_name = message["context"]["task_name"].rpartition(".")
    func = getattr(importlib.import_module(module_name), func_name)
    kwargs = dict(message.get("kwargs") or {})
    kwargs["ctx"] = remote.ctx
    return {"op": "done", "result": _plain(func(**kwargs))}


def _run(message):
    _local.call_id = message["id"]
    try:
        answer = _run_real(message) if REAL else _run_shim(message)
    except BaseException as exc:  # everything goes back to the worker, which classifies it
        answer = {"op": "error", "error": _error_of(exc, traceback.format_exc())}
    answer["id"] = message["id"]
    try:
        _send(answer)
    except (TypeError, ValueError) as exc:
        _send({"op": "error", "id": message["id"], "error": {"type": type(exc).__name__, "message": str(exc)}})


def main():
    if REAL:
        _prepare_real()
    else:
        _prepare_shim()
    _send({"op": "ready", "real": REAL, "python": sys.version.split()[0]})
    for line in _IN:
        message = json.loads(line)
        kind = message.get("op")
        if kind == "call":
            threading.Thread(target=_run, args=(message,), daemon=True).start()
        elif kind == "reply":
            with _PENDING_LOCK:
                slot = _PENDING.get(message["rid"])
            if slot is not None:
                slot["answer"] = message
                slot["event"].set()
        elif kind == "exit":
            break


if __name__ == "__main__":
    main()
