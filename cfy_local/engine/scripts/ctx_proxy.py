"""The per-operation ctx proxy: a Unix socket served by the worker while one script runs.

Each script operation gets its own proxy (its own socket, token and thread), bound to that
operation's ctx object -- never a shared route, unlike Cloudify 7.0.5, whose proxies all answer
on the route of the last one created.
The socket lives in a 0700 directory, so only this user can reach it, and every request
must carry the operation's random token. Requests walk the real ctx object the way
Cloudify's proxy does, so writes land in the very ``ctx.instance.runtime_properties``
the engine persists when the operation ends.
"""
from __future__ import annotations

import collections.abc
import json
import os
import re
import secrets
import socket
import threading
import traceback
from typing import Any

REQUEST_LIMIT = 64 * 1024 * 1024
CONNECTION_TIMEOUT = 10.0     # a client that connects and never sends cannot hold a thread longer
SHUTDOWN_JOIN_TIMEOUT = 2.0

_INDEXED_SEGMENT = re.compile(r"^(.*?)\[(\d+)\]$")
CLI_MAGIC = b"CTX1\0"
ENDED_MESSAGE = "the operation has ended: ctx can only be used while its operation runs"

CLI_USAGE = """usage: ctx [-t|--timeout SECONDS] [--socket-url URL] [--json-arg-prefix PREFIX]
           [-j|--json-output|--json] ARG...

Reads and changes the context of the running operation, as Cloudify's ctx command:
  ctx node id|name|type            ctx node properties KEY.PATH
  ctx instance id                  ctx instance runtime-properties KEY [VALUE]
  ctx deployment id                ctx logger info|warning|error|debug MESSAGE
  ctx download-resource PATH [TARGET]
  ctx download-resource-and-render PATH [TARGET] [@'{"template_variables": {...}}']
  ctx returns VALUE                ctx abort-operation MESSAGE
  ctx retry-operation MESSAGE [@RETRY_AFTER]
  ctx source ... / ctx target ...  (relationship operations)
Arguments starting with @ are JSON (@42, @true, @'{"k": 1}'); others are strings.
Without -j, results print as Python text and false/empty values print nothing.
"""


class StopOperation(Exception):
    """``ctx abort-operation`` / ``ctx retry-operation``: answered as ``stop_operation``."""

    def __init__(self, message: Any):
        super().__init__(message)
        self.message = message


class ScriptOutcome:
    """What the script asked for through ``ctx``: a return value, an abort, a retry, or an error
    its Python code raised. Only one of returns/abort/retry may be given (Cloudify's rule)."""

    def __init__(self) -> None:
        self.kind: str | None = None          # "returns" | "abort" | "retry"
        self.value: Any = None
        self.message: Any = None
        self.retry_after: Any = None
        self.conflict = False                 # a second returns/abort/retry was attempted
        self.raised: dict | None = None       # {"error_type", "message", "retry_after"} from a Python script

    def _claim(self, kind: str) -> None:
        if self.kind is not None:
            self.conflict = True
            raise RuntimeError("ctx may only abort or return once")
        self.kind = kind

    def returns(self, value: Any) -> None:
        self._claim("returns")
        self.value = value

    def abort(self, message: Any) -> None:
        self._claim("abort")
        self.message = message
        raise StopOperation(message)

    def retry(self, message: Any, retry_after: Any) -> None:
        self._claim("retry")
        self.message = message
        self.retry_after = retry_after
        raise StopOperation(message)


class ScriptCtx:
    """The object ``ctx`` commands walk: the operation's ctx plus the script-only calls
    (``returns``, ``abort_operation``, ``retry_operation``), without changing the engine's ctx."""

    def __init__(self, ctx: Any, outcome: ScriptOutcome):
        object.__setattr__(self, "_ctx", ctx)
        object.__setattr__(self, "_outcome", outcome)

    def returns(self, value: Any = None) -> None:
        self._outcome.returns(value)

    def abort_operation(self, message: Any = None) -> None:
        self._outcome.abort(message)

    def retry_operation(self, message: Any = None, retry_after: Any = None) -> None:
        self._outcome.retry(message, retry_after)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._ctx, name, value)


# ----------------------------------------------------------------------------- path access

def _split_path(path: str) -> list[Any]:
    """``a.b[0].c`` → ``['a', 'b', 0, 'c']``."""
    steps: list[Any] = []
    for segment in str(path).split("."):
        indexes: list[int] = []
        match = _INDEXED_SEGMENT.match(segment)
        while match:
            indexes.insert(0, int(match.group(2)))
            segment = match.group(1)
            match = _INDEXED_SEGMENT.match(segment)
        steps.append(segment)
        steps.extend(indexes)
    return steps


def _step(obj: Any, key: Any, path: str) -> Any:
    try:
        if isinstance(key, int) and isinstance(obj, list):
            return obj[key]
        if isinstance(obj, collections.abc.Mapping) and not isinstance(key, int):
            return obj[key]
    except (KeyError, IndexError, TypeError):
        pass
    raise RuntimeError(f"illegal path: {path}")


def get_by_path(mapping: Any, path: str) -> Any:
    current = mapping
    for key in _split_path(path):
        current = _step(current, key, path)
    return current


def set_by_path(mapping: Any, path: str, value: Any) -> None:
    """Set ``path`` = ``value``, creating missing intermediate dicts. The assignment at the
    top level goes through the mapping's own ``__setitem__`` (so dirty tracking sees it);
    deeper changes only mutate nested values, exactly as in Cloudify."""
    steps = _split_path(path)
    current = mapping
    for key in steps[:-1]:
        if isinstance(key, int):
            current = _step(current, key, path)
            continue
        if not isinstance(current, collections.abc.MutableMapping):
            raise RuntimeError(f"illegal path: {path}")
        if key not in current or current[key] is None:
            current[key] = {}
        current = current[key]
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(current, list) or not -len(current) <= last < len(current):
            raise RuntimeError(f"illegal path: {path}")
        current[last] = value
    elif isinstance(current, collections.abc.MutableMapping):
        current[last] = value
    else:
        raise RuntimeError(f"illegal path: {path}")


def resolve_cli(root: Any, args: list[Any]) -> Any:
    """Cloudify's proxy resolution of ``ctx ARG...``."""
    current = root
    index = 0
    while index < len(args):
        arg = args[index]
        if isinstance(arg, str) and hasattr(current, arg):
            current = getattr(current, arg)
        elif isinstance(arg, str) and hasattr(current, arg.replace("-", "_")):
            current = getattr(current, arg.replace("-", "_"))
        elif isinstance(current, collections.abc.Mapping):
            remaining = len(args) - index - 1
            if remaining == 0:
                return get_by_path(current, arg)
            if remaining == 1:
                set_by_path(current, arg, args[index + 1])
                return None
            raise RuntimeError("Illegal argument while accessing dict")
        elif callable(current):
            call_args = list(args[index:])
            kwargs: dict = {}
            if call_args and isinstance(call_args[-1], dict):
                kwargs = call_args.pop()
            return current(*call_args, **kwargs)
        else:
            raise RuntimeError(f"{arg} cannot be processed in {args}")
        index += 1
    if callable(current):
        return current()
    return current


# ----------------------------------------------------------------------------- the ctx command line

def parse_command_line(argv: list[str]) -> tuple[dict, list[str]]:
    """Options may appear anywhere (as in Cloudify's client); ``--`` ends them."""
    options: dict[str, Any] = {"prefix": "@", "json_output": False, "help": False}
    positional: list[str] = []
    index = 0
    only_positional = False
    while index < len(argv):
        token = argv[index]
        index += 1
        if only_positional:
            positional.append(token)
            continue
        name, eq, inline = token.partition("=")
        if token == "--":
            only_positional = True
        elif token in ("-j", "--json-output", "--json"):
            options["json_output"] = True
        elif token in ("-h", "--help"):
            options["help"] = True
        elif name in ("-t", "--timeout", "--socket-url", "--json-arg-prefix") and (not eq or name.startswith("--")):
            if eq:
                value = inline
            elif index < len(argv):
                value = argv[index]
                index += 1
            else:
                raise ValueError(f"option {name} needs a value")
            if name in ("-t", "--timeout"):
                try:
                    float(value)
                except ValueError:
                    raise ValueError(f"option {name} needs a number of seconds, not {value!r}") from None
            elif name == "--json-arg-prefix":
                options["prefix"] = value
        else:
            positional.append(token)
    return options, positional


def decode_argument(arg: str, prefix: str) -> Any:
    """``@<json>`` → the JSON value; anything else stays a string."""
    if prefix and arg.startswith(prefix):
        try:
            return json.loads(arg[len(prefix):])
        except ValueError as err:
            raise ValueError(f"argument {arg!r} is not valid JSON after {prefix!r}: {err}") from None
    return arg


def format_result(value: Any, json_output: bool) -> str:
    """Cloudify's output: ``json.dumps`` with -j; else nothing for falsy values, else ``str()``."""
    encoded = json.dumps(value)   # as in Cloudify, a result must travel as JSON (bytes, objects fail)
    if json_output:
        return encoded
    if not value:
        return ""
    return str(value)


# ----------------------------------------------------------------------------- Python shim requests

def _json_plain(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def describe(value: Any, via_attribute: bool) -> dict:
    """How the Python shim should represent ``value``: a plain copy, or a remote handle."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return {"kind": "value", "value": value}
    if isinstance(value, collections.abc.Mapping) and via_attribute:
        return {"kind": "mapping"}
    if callable(value) and not isinstance(value, (collections.abc.Mapping, list)):
        return {"kind": "callable"}
    if _json_plain(value):
        return {"kind": "value", "value": value}
    return {"kind": "object", "repr": repr(value)[:200]}


def _walk_steps(root: Any, steps: list) -> Any:
    current = root
    for kind, key in steps:
        current = getattr(current, key) if kind == "attr" else current[key]
    return current


def resolve_python(root: Any, request: dict, parameters: dict, outcome: ScriptOutcome) -> Any:
    action = request.get("action")
    steps = [tuple(step) for step in request.get("steps", [])]
    if action == "parameters":
        return parameters
    if action == "raise":
        outcome.raised = {"error_type": str(request.get("error_type")), "message": request.get("message"),
                          "retry_after": request.get("retry_after")}
        return None
    if action in ("get", "call"):
        target = _walk_steps(root, steps)
        if action == "call":
            target = target(*request.get("args", []), **request.get("kwargs", {}))
            return describe(target, via_attribute=False)
        return describe(target, via_attribute=bool(steps) and steps[-1][0] == "attr")
    if not steps:
        raise RuntimeError(f"{action} needs a target")
    if action in ("set", "del"):
        parent = _walk_steps(root, steps[:-1])
        kind, key = steps[-1]
        if action == "set":
            if kind == "attr":
                setattr(parent, key, request.get("value"))
            else:
                parent[key] = request.get("value")
        elif kind == "attr":
            delattr(parent, key)
        else:
            del parent[key]
        return None
    target = _walk_steps(root, steps)
    if action == "contains":
        return request.get("value") in target
    if action == "len":
        return len(target)
    if action == "copy":
        if isinstance(target, collections.abc.Mapping):
            return dict(target)
        return list(target)
    raise RuntimeError(f"unknown ctx proxy action: {action!r}")


# ----------------------------------------------------------------------------- the server

class CtxProxy:
    """Serves one operation's ctx on ``<directory>/ctx.sock`` until :meth:`close`."""

    def __init__(self, ctx: Any, directory: str, *, parameters: dict | None = None):
        self.outcome = ScriptOutcome()
        self.root = ScriptCtx(ctx, self.outcome)
        self.parameters = parameters or {}
        self.token = secrets.token_hex(16)
        self.socket_path = os.path.join(directory, "ctx.sock")
        self._ctx_lock = threading.Lock()   # one request at a time touches the ctx
        self._closed = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return "unix://" + self.socket_path

    def start(self) -> "CtxProxy":
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.socket_path)
        os.chmod(self.socket_path, 0o600)
        listener.listen(64)
        listener.settimeout(0.5)   # a safety net: close() also shuts the socket down to wake accept()
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, name=f"ctx-proxy-{os.path.basename(os.path.dirname(self.socket_path))}",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving: later ``ctx`` calls get a clear "operation has ended" error."""
        if self._closed.is_set():
            return
        self._closed.set()
        listener = self._listener
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        if self._thread is not None:
            self._thread.join(SHUTDOWN_JOIN_TIMEOUT)
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "CtxProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.settimeout(CONNECTION_TIMEOUT)
                data = self._read_request(connection)
                if data.startswith(CLI_MAGIC):
                    connection.sendall(self._respond_cli(data[len(CLI_MAGIC):]))
                else:
                    response = self._respond_python(json.loads(data.decode("utf-8")))
                    connection.sendall(json.dumps(response).encode("utf-8"))
            except (OSError, ValueError):
                return   # the client went away or sent garbage; nothing to answer

    @staticmethod
    def _read_request(connection: socket.socket) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > REQUEST_LIMIT:
                raise ValueError("request too large")
        return b"".join(chunks)

    def _token_ok(self, token: bytes) -> bool:
        return secrets.compare_digest(token, self.token.encode("ascii"))

    def _respond_cli(self, data: bytes) -> bytes:
        token, *raw_args = data.split(b"\0")
        if not self._token_ok(token):
            return _cli_answer(1, "", "ctx: invalid or missing ctx proxy token\n")
        if self._closed.is_set():
            return _cli_answer(1, "", f"ctx: {ENDED_MESSAGE}\n")
        argv = [arg.decode("utf-8", "surrogateescape") for arg in raw_args]
        try:
            options, positional = parse_command_line(argv)
            if options["help"]:
                return _cli_answer(0, CLI_USAGE, "")
            if not positional:
                raise ValueError("no arguments given (try: ctx --help)")
            args = [decode_argument(arg, options["prefix"]) for arg in positional]
        except ValueError as err:
            return _cli_answer(1, "", f"ctx: {err}\n")
        with self._ctx_lock:
            try:
                payload = resolve_cli(self.root, args)
            except StopOperation as stop:
                return _cli_answer(1, "", f"{_text(stop.message)}\n")
            except Exception as err:  # any ctx error goes back to the script, as Cloudify's proxy does
                return _cli_answer(1, "", f"ctx: {type(err).__name__}: {_message_of(err)}\n")
        try:
            return _cli_answer(0, format_result(payload, options["json_output"]), "")
        except (TypeError, ValueError) as err:
            return _cli_answer(1, "", f"ctx: {type(err).__name__}: {err}\n")

    def _respond_python(self, request: Any) -> dict:
        if not isinstance(request, dict) or not self._token_ok(str(request.get("token", "")).encode("utf-8")):
            return _error("PermissionError", "invalid or missing ctx proxy token")
        if self._closed.is_set():
            return _error("RuntimeError", ENDED_MESSAGE)
        with self._ctx_lock:
            try:
                payload = resolve_python(self.root, request.get("py") or {}, self.parameters, self.outcome)
            except StopOperation as stop:
                return {"type": "stop_operation", "payload": {"message": stop.message}}
            except Exception as err:  # any ctx error goes back to the script, as Cloudify's proxy does
                return _error(type(err).__name__, _message_of(err), traceback.format_exc())
        try:
            json.dumps(payload)
        except (TypeError, ValueError) as err:
            return _error(type(err).__name__, str(err))
        return {"type": "result", "payload": payload}


def _message_of(err: Exception) -> str:
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    return str(err)


def _text(message: Any) -> str:
    return "" if message is None else str(message)


def _cli_answer(exit_code: int, stdout: str, stderr: str) -> bytes:
    out = stdout.encode("utf-8", "surrogateescape")
    return f"{exit_code} {len(out)}\n".encode("ascii") + out + stderr.encode("utf-8", "surrogateescape")


def _error(kind: str, message: str, trace: str = "") -> dict:
    return {"type": "error", "payload": {"type": kind, "message": message, "traceback": trace}}
