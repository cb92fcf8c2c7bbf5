"""Credentials of ``cfy serve``: HTTP Basic ``admin:<password>``, or a token in the
``Authentication-Token`` (clients) or ``Execution-Token`` (operations) header.

The password comes from ``--password``, else ``$CFY_LOCAL_REST_PASSWORD``, else the one kept
(mode 0600) in the state dir, generated on first use. Tokens are issued by ``/tokens`` and
live as long as the server process (or are given by whoever starts it in a thread).
"""
from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
import threading
import time

from cfy_local.errors import StorageError
from cfy_local.store.atomic import atomic_write_bytes, read_bytes
from cfy_local.store.locks import lock
from cfy_local.store.paths import Home

USERNAME = "admin"
TENANT = "default_tenant"
PASSWORD_ENV = "CFY_LOCAL_REST_PASSWORD"
TOKEN_LIFETIME_SECONDS = 10 * 3600


def password_file(home: Home) -> str:
    return home.path("rest", "password")


def stored_password(home: Home, *, create: bool = True) -> tuple[str | None, bool]:
    """The password kept in the state dir and whether it was generated just now."""
    path = password_file(home)
    try:
        return read_bytes(path).decode("utf-8").strip(), False
    except FileNotFoundError:
        if not create:
            return None, False
    with lock(home.root, "rest"):
        try:
            return read_bytes(path).decode("utf-8").strip(), False
        except FileNotFoundError:
            value = secrets.token_urlsafe(18)
            atomic_write_bytes(path, (value + "\n").encode("utf-8"))
            return value, True


def resolve_password(home: Home, explicit: str | None) -> tuple[str, str]:
    """(password, where it came from: "option" | "environment" | "stored" | "generated")."""
    if explicit:
        return explicit, "option"
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env, "environment"
    value, generated = stored_password(home)
    if not value:
        raise StorageError(f"The REST password file {password_file(home)} is empty; delete it to get a new one")
    return value, "generated" if generated else "stored"


class Authenticator:
    """Checks one request's headers; thread-safe."""

    def __init__(self, password: str, token: str | None = None):
        self._password = password.encode("utf-8")
        self._tokens: dict[str, float] = {}
        self._mutex = threading.Lock()
        if token:
            self._tokens[token] = float("inf")

    def issue_token(self) -> tuple[str, float]:
        value = secrets.token_urlsafe(24)
        expires = time.time() + TOKEN_LIFETIME_SECONDS
        with self._mutex:
            self._tokens[value] = expires
        return value, expires

    def _token_ok(self, value: str) -> bool:
        with self._mutex:
            expires = self._tokens.get(value)
            if expires is not None and expires < time.time():
                del self._tokens[value]
                return False
        return expires is not None

    def check(self, headers) -> bool:
        # Operations calling cloudify.manager.get_rest_client() send Execution-Token.
        token = headers.get("Authentication-Token") or headers.get("Execution-Token")
        if token:
            return self._token_ok(token.strip())
        basic = headers.get("Authorization") or ""
        scheme, _, encoded = basic.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        # Both comparisons always run: the time taken does not tell which one failed.
        user_ok = hmac.compare_digest(user, USERNAME.encode())
        password_ok = hmac.compare_digest(password, self._password)
        return bool(sep) and user_ok and password_ok
