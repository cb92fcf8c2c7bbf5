"""The HTTP side of ``cfy serve``: the standard library's ThreadingHTTPServer, HTTP/1.1
keep-alive, one thread per connection.

Why the standard library: the API is a few dozen JSON routes over file-backed core calls,
so a framework would add a dependency (and its import time) for routing we do in a table.
``http.server`` costs about 15 ms to import and is only imported by ``cfy serve`` and by
operations that ask for a REST client (``serve_in_thread``).

Every request is authenticated before anything else is looked at; then maintenance mode
is applied as the manager applies it; then the route's handler runs. Core errors become
the manager's error bodies and status codes; no HTML, no traceback reaches a client.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import unquote, urlsplit

from cfy_local import errors, maintenance, maintenance_state
from cfy_local.executions.spawn import reap_finished
from cfy_local.rest import routes
from cfy_local.rest.auth import TENANT, Authenticator
from cfy_local.rest.wire import HttpError, Request, error_body, json_bytes
from cfy_local.store.paths import Home

API_PREFIX = "/api/v3.1/"
MAX_JSON_BODY = 10 * 1024 * 1024
MAX_UPLOAD_BODY = 100 * 1024 * 1024
IDLE_CONNECTION_SECONDS = 120
STOP_GRACE_SECONDS = 30

# First path segments the manager still serves in maintenance mode.
MAINTENANCE_EXEMPT = frozenset({"brokers", "managers", "db-nodes", "cluster", "config", "status", "version",
                                "license", "maintenance", "cluster-status", "file-server-auth", "ok", "tokens"})
# During activation the manager refuses only changes to these resources.
ACTIVATING_REFUSED = frozenset({"executions", "deployments", "deployment-modifications", "snapshots"})

class Api:
    """Authentication, maintenance rules, routing and error mapping; no sockets here."""

    def __init__(self, home: Home, authenticator: Authenticator):
        self.home = home
        self.auth = authenticator
        table = list(routes.ROUTES) + [("GET", "tokens", self._issue_token), ("POST", "tokens", self._issue_token)]
        self.router = routes.Router(table)

    def _issue_token(self, request: Request, home: Home):
        return 200, routes.token_body(*self.auth.issue_token())

    def body_limit(self, method: str, path: str) -> int:
        if (method == "PUT" and path.startswith(API_PREFIX + "blueprints/")) or (
                method == "POST" and path.split("?")[0] == API_PREFIX + "plugins"):
            return MAX_UPLOAD_BODY
        return MAX_JSON_BODY

    def authorize(self, headers) -> None:
        if not self.auth.check(headers):
            raise HttpError(401, "unauthorized_error", "User unauthorized: the credentials are missing or wrong")
        tenant = headers.get("Tenant")
        if tenant is not None and tenant != TENANT:
            raise HttpError(403, "forbidden_error",
                            f"Tenant `{tenant}` does not exist (cfy-local has only `{TENANT}`)")

    def _maintenance_gate(self, method: str, segments: list[str], headers) -> None:
        if segments and segments[0] in MAINTENANCE_EXEMPT or headers.get("X-BYPASS-MAINTENANCE"):
            return
        if not maintenance.record_exists(self.home):
            return
        current = maintenance.current_status(self.home)
        if current == maintenance.ACTIVATED:
            raise HttpError(503, "maintenance_mode_active", maintenance_state.REFUSAL)
        if (current == maintenance.ACTIVATING and method in ("POST", "PATCH", "PUT") and segments
                and segments[0] in ACTIVATING_REFUSED):
            raise HttpError(503, "entering_maintenance_mode", maintenance_state.REFUSAL)

    def _error(self, exc: Exception) -> HttpError:
        if isinstance(exc, maintenance.NothingToModify):
            return HttpError(304, "not_modified", str(exc))
        if isinstance(exc, errors.MaintenanceModeError):
            activating = maintenance.current_status(self.home) == maintenance.ACTIVATING
            return HttpError(503, "entering_maintenance_mode" if activating else "maintenance_mode_active", str(exc))
        if isinstance(exc, errors.CfyLocalError):
            code, status = errors.manager_error(exc)
            return HttpError(status, code, str(exc))
        # The operator sees the traceback on the server's stderr; the client only the kind.
        traceback.print_exception(exc, file=sys.stderr)
        return HttpError(500, "internal_server_error", f"Internal error in cfy-local: {type(exc).__name__}")

    def handle(self, method: str, target: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """One request → (status, extra headers, JSON body bytes; empty for 204/304)."""
        try:
            self.authorize(headers)
            path = urlsplit(target)
            if path.path == "/api/version":
                segments = ["version"]
            elif path.path.startswith(API_PREFIX):
                segments = path.path[len(API_PREFIX):].rstrip("/").split("/")
            else:
                raise HttpError(404, "not_found_error", f"Requested URL {path.path} was not found on this server "
                                                        f"(the API is under {API_PREFIX})")
            segments = [unquote(s) for s in segments]
            handler, params = self.router.match(method, segments)
            self._maintenance_gate(method, segments, headers)
            request = Request(method, segments, path.query, headers, body)
            request.params = params
            try:
                status, payload = handler(request, self.home)
            except HttpError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON error body
                raise self._error(exc) from None
        except HttpError as exc:
            if exc.status == 304:
                return 304, exc.headers, b""
            return exc.status, exc.headers, json_bytes(error_body(exc.error_code, exc.message))
        if status == 204 or payload is None:
            return 204, {}, b""
        return status, {}, json_bytes(payload)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cfy-local"
    sys_version = ""
    timeout = IDLE_CONNECTION_SECONDS
    api: Api  # set on the per-server subclass
    log: Callable[[str], None] | None = None
    tracker: "_InFlight"

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def _answer(self, status: int, extra: dict[str, str], body: bytes) -> None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [f"HTTP/1.1 {status} {phrase}", f"Server: {self.server_version}",
                 f"Date: {formatdate(usegmt=True)}"]
        if body:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
        for name, value in extra.items():
            lines.append(f"{name}: {value}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write: headers and body in separate small writes meet Nagle and delayed ACKs.
        self.wfile.write(head + body)
        if self.log:
            self.log(f'{self.address_string()} "{self.requestline}" {status} {len(body)}')

    def send_error(self, code, message=None, explain=None):
        """Malformed request lines and headers: a JSON error, never the default HTML page."""
        self.close_connection = True
        text = message or HTTPStatus(code).phrase
        try:
            self._answer(code, {}, json_bytes(error_body("bad_request_error" if code < 500 else "internal_server_error",
                                                          text)))
        except OSError:
            pass

    def _dispatch(self) -> None:
        with self.tracker:
            limit = self.api.body_limit(self.command, self.path)
            encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
            if encoding:
                # cloudify-rest-client streams plugin archives chunked.
                body = self._read_chunked(limit) if encoding == "chunked" else None
                if body is None:
                    self.close_connection = True
                    self._answer(400, {}, json_bytes(error_body(
                        "bad_request_error", f"Transfer-Encoding `{encoding}` is not accepted, or the chunked "
                                             f"body is malformed or larger than {limit} bytes")))
                    return
                status, extra, payload = self.api.handle(self.command, self.path, self.headers, body)
                self._answer(status, extra, payload)
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > limit:
                # The body is not read: the connection cannot be reused after it.
                self.close_connection = True
                status, message = (413, f"Request body too large ({length} bytes; at most {limit})") \
                    if length > limit else (400, "Invalid Content-Length")
                self._answer(status, {}, json_bytes(error_body("request_too_large_error" if status == 413
                                                                else "bad_request_error", message)))
                return
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                self.close_connection = True
                return
            status, extra, payload = self.api.handle(self.command, self.path, self.headers, body)
            self._answer(status, extra, payload)

    def _read_chunked(self, limit: int) -> bytes | None:
        """A chunked request body (size line, data, CRLF ... a zero size, trailers), or None
        when it is malformed or grows past ``limit``."""
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1026)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                break
            total += size
            if size < 0 or total > limit:
                return None
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                return None
            parts.append(chunk)
        while True:  # trailers, up to the empty line
            line = self.rfile.readline(8192)
            if line in (b"\r\n", b"\n", b""):
                break
        return b"".join(parts)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        if self.log:
            self.log(format % args)


class _InFlight:
    """Counts requests being answered, so a stop can let them finish."""

    def __init__(self):
        self._count = 0
        self._cond = threading.Condition()

    def __enter__(self):
        with self._cond:
            self._count += 1

    def __exit__(self, *exc):
        with self._cond:
            self._count -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class RunningServer:
    """A server answering in a thread: ``url``, ``port``, ``token``, ``stop()``."""

    def __init__(self, httpd: _Server, thread: threading.Thread, tracker: _InFlight, token: str | None):
        self._httpd, self._thread, self._tracker = httpd, thread, tracker
        host, port = httpd.server_address[:2]
        self.host, self.port, self.token = host, port, token
        self.url = f"http://{host}:{port}"

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop accepting, let requests in flight finish (up to ``grace`` seconds), close."""
        self._httpd.shutdown()
        self._tracker.wait_idle(grace)
        self._httpd.server_close()
        self._thread.join(timeout=grace)


def start(home: Home, *, host: str = "127.0.0.1", port: int = 0, password: str,
          token: str | None = None, log: Callable[[str], None] | None = None) -> RunningServer:
    """Bind and answer in a daemon thread of this process."""
    tracker = _InFlight()
    api = Api(home, Authenticator(password, token))
    handler = type("Handler", (_Handler,), {"api": api, "log": staticmethod(log) if log else None,
                                            "tracker": tracker})
    httpd = _Server((host, port), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                              name="cfy-local-rest", daemon=True)
    thread.start()
    return RunningServer(httpd, thread, tracker, token)


def serve_in_thread(home, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                    password: str | None = None) -> RunningServer:
    """The same API for code in this process (operations asking for a REST client).

    Without ``token`` one is made; without ``password`` HTTP Basic accepts nothing (a
    random password), so only the token opens it.
    """
    home = home if isinstance(home, Home) else Home.open(os.path.abspath(str(home)))
    token = token or secrets.token_urlsafe(24)
    return start(home, host=host, port=port, password=password or secrets.token_urlsafe(32), token=token)


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM; installed before the server starts, so a
    signal that arrives while it starts still means a clean stop."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def serve_until(running: RunningServer, stop: threading.Event) -> None:
    """Block until ``stop`` is set, then stop cleanly: requests in flight finish; workers
    are separate processes in their own sessions and keep running."""
    while not stop.wait(1.0):
        reap_finished()
    running.stop()


def _stderr(line: str) -> None:
    sys.stderr.write(time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + line + "\n")
    sys.stderr.flush()


stderr_log = _stderr
