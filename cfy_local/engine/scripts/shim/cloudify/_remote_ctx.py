"""A ctx object for script processes that forwards every access to the operation's ctx proxy.

Attribute access is resolved eagerly: plain values (ids, names, numbers, lists, nested
dicts read by key) come back as copies; context objects (``ctx.node``, ``ctx.instance``)
come back as remote handles; mappings reached by attribute (``ctx.node.properties``,
``ctx.instance.runtime_properties``) come back as remote mappings whose item writes go to
the operation's real dict -- so top-level writes are tracked and saved as in Cloudify.
"""
import json
import os
from collections.abc import MutableMapping

import _socket  # not `socket`: its enum/selectors imports cost milliseconds per script start

from cloudify import exceptions as _exceptions

REQUEST_TIMEOUT = 30.0


class ProxyClosed(RuntimeError):
    """The operation's ctx proxy is gone: the operation has ended."""


def send_request(body):
    """One JSON request to the operation's proxy (``{"token", "py": {...}}``); the decoded answer."""
    url = os.environ.get("CTX_SOCKET_URL", "")
    if not url:
        raise RuntimeError("Missing CTX_SOCKET_URL environment variable: this ctx only works inside a "
                           "script operation run by cfy-local")
    scheme, sep, path = url.partition("://")
    if scheme != "unix" or not sep:
        raise RuntimeError("Unsupported protocol: %s" % (scheme if sep else url))
    request = dict(body)
    request["token"] = os.environ.get("CFY_LOCAL_CTX_TOKEN", "")
    data = json.dumps(request).encode("utf-8")
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    chunks = []
    try:
        sock.settimeout(REQUEST_TIMEOUT)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ProxyClosed("the context proxy of this operation is closed: the operation has ended, "
                              "and ctx can only be used while its operation runs")
        sock.sendall(data)
        sock.shutdown(_socket.SHUT_WR)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    if not chunks:
        raise ProxyClosed("the context proxy closed the connection without an answer: the operation has ended")
    return json.loads(b"".join(chunks).decode("utf-8"))

_BUILTIN_ERRORS = {
    "KeyError": KeyError,
    "IndexError": IndexError,
    "AttributeError": AttributeError,
    "TypeError": TypeError,
    "ValueError": ValueError,
    "RuntimeError": RuntimeError,
    "PermissionError": PermissionError,
    "FileNotFoundError": FileNotFoundError,
}


def _request(body):
    response = send_request({"py": body})
    kind = response["type"]
    payload = response.get("payload")
    if kind == "result":
        return payload
    if kind == "stop_operation":
        # abort/retry were recorded; the script goes on, as with Cloudify's patched ctx
        return None
    payload = payload if isinstance(payload, dict) else {"message": str(payload)}
    error_type = payload.get("type", "RuntimeError")
    message = payload.get("message", "")
    error_class = getattr(_exceptions, error_type, None)
    if isinstance(error_class, type) and issubclass(error_class, BaseException):
        if error_class is _exceptions.HttpException:
            raise _exceptions.NonRecoverableError(message)
        raise error_class(message)
    if error_type in _BUILTIN_ERRORS:
        raise _BUILTIN_ERRORS[error_type](message)
    raise RuntimeError("%s: %s" % (error_type, message))


def _materialize(description, steps):
    kind = description.get("kind")
    if kind == "value":
        return description.get("value")
    if kind == "mapping":
        return RemoteMapping(steps)
    return RemoteObject(steps)


class RemoteObject(object):
    """A handle on an object inside the operation's ctx, named by its access steps."""

    def __init__(self, steps):
        object.__setattr__(self, "_steps", list(steps))

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        steps = self._steps + [["attr", name]]
        return _materialize(_request({"action": "get", "steps": steps}), steps)

    def __setattr__(self, name, value):
        _request({"action": "set", "steps": self._steps + [["attr", name]], "value": value})

    def __delattr__(self, name):
        _request({"action": "del", "steps": self._steps + [["attr", name]]})

    def __getitem__(self, key):
        steps = self._steps + [["item", key]]
        return _materialize(_request({"action": "get", "steps": steps}), steps)

    def __setitem__(self, key, value):
        _request({"action": "set", "steps": self._steps + [["item", key]], "value": value})

    def __delitem__(self, key):
        _request({"action": "del", "steps": self._steps + [["item", key]]})

    def __contains__(self, item):
        return _request({"action": "contains", "steps": self._steps, "value": item})

    def __len__(self):
        return _request({"action": "len", "steps": self._steps})

    def __iter__(self):
        return iter([self[index] for index in range(len(self))])

    def __call__(self, *args, **kwargs):
        description = _request({"action": "call", "steps": self._steps, "args": list(args), "kwargs": kwargs})
        # A call's result has no path to reach it again, so only plain values come back.
        return description.get("value") if description.get("kind") == "value" else None

    def __repr__(self):
        path = ".".join(str(key) if kind == "attr" else "[%r]" % (key,) for kind, key in self._steps)
        return "<remote ctx%s>" % ("." + path if path else "")


class RemoteMapping(RemoteObject, MutableMapping):
    """A dict of the operation's ctx (properties, runtime properties), read and written in place."""

    def _copy(self):
        return _request({"action": "copy", "steps": self._steps})

    def __iter__(self):
        return iter(list(self._copy()))

    def keys(self):
        return list(self._copy().keys())

    def items(self):
        return list(self._copy().items())

    def values(self):
        return list(self._copy().values())

    def copy(self):
        return self._copy()

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __eq__(self, other):
        if isinstance(other, RemoteMapping):
            other = other._copy()
        return self._copy() == other

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __repr__(self):
        return repr(self._copy())


class _Logger(object):
    """``ctx.logger``: formats like ``logging`` here, then logs the text through the operation's logger."""

    def _log(self, level, message, args):
        text = str(message)
        if args:
            text = text % args
        _request({"action": "call", "steps": [["attr", "logger"], ["attr", level]], "args": [text], "kwargs": {}})

    def debug(self, message, *args, **kwargs):
        self._log("debug", message, args)

    def info(self, message, *args, **kwargs):
        self._log("info", message, args)

    def warning(self, message, *args, **kwargs):
        self._log("warning", message, args)

    warn = warning

    def error(self, message, *args, **kwargs):
        self._log("error", message, args)

    def critical(self, message, *args, **kwargs):
        self._log("critical", message, args)

    def exception(self, message, *args, **kwargs):
        import traceback
        text = str(message) % args if args else str(message)
        trace = traceback.format_exc()
        if trace and not trace.startswith("NoneType: None"):
            text = text + "\n" + trace.rstrip("\n")
        self._log("error", text, ())

    def log(self, level, message, *args, **kwargs):
        names = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}
        self._log(names.get(level, "info"), message, args)


class RemoteCtx(RemoteObject):
    """The root ``ctx``."""

    def __getattr__(self, name):
        if name == "logger":
            return _LOGGER
        return RemoteObject.__getattr__(self, name)

    def __repr__(self):
        return "<cfy-local remote ctx>"


class Parameters(dict):
    """``cloudify.state.ctx_parameters``: the operation inputs; attribute access works too."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self[name]


def load_parameters():
    return Parameters(_request({"action": "parameters"}) or {})


_LOGGER = _Logger()
ctx = RemoteCtx([])

__all__ = ["ctx", "RemoteObject", "RemoteMapping", "Parameters", "load_parameters"]
