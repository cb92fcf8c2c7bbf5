"""Requests and answers as Cloudify's REST API has them: query booleans sent as ``True`` /
``False`` strings, the list envelope with pagination metadata, ``_sort``/``_include``,
and the error body ``{"message", "error_code", "server_traceback"}``."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from cfy_local.errors import ValidationError

MAX_PAGE_SIZE = 10_000


class RawJson(bytes):
    """A response body already encoded as JSON."""


def json_bytes(body: Any) -> bytes:
    if isinstance(body, RawJson):
        return body
    return json.dumps(body, default=str, separators=(",", ":")).encode("utf-8")


class HttpError(Exception):
    """An answer other than success, with the manager's error code."""

    def __init__(self, status: int, error_code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message
        self.headers = headers or {}


def error_body(error_code: str, message: str) -> dict[str, Any]:
    return {"message": message, "error_code": error_code, "server_traceback": None}


def bad(message: str) -> HttpError:
    return HttpError(400, "bad_parameters_error", message)


class Request:
    """One parsed request: method, path segments under the API version, query, body."""

    def __init__(self, method: str, segments: list[str], query_string: str, headers, body: bytes):
        self.method = method
        self.segments = segments
        self.query = parse_qs(query_string, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self._json: Any = None
        self.params: dict[str, str] = {}

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        out: list[str] = []
        for value in self.query.get(name, []):
            if name in ("_include", "_sort"):
                out.extend(v for v in value.split(",") if v)
            else:
                out.append(value)
        return out

    def flag(self, name: str, default: bool = False) -> bool:
        return to_bool(self.arg(name), name, default)

    def json(self) -> dict[str, Any]:
        if self._json is None:
            if not self.body.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.body)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise HttpError(400, "bad_parameters_error", f"Request body is not valid JSON: {exc}") from None
            if not isinstance(self._json, dict):
                raise bad("Request body must be a JSON object")
        return self._json


def to_bool(value: Any, name: str, default: bool = False) -> bool:
    """True/False as Python's str(bool), JSON booleans, or lower-case strings."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", "none", "null"):
        return False
    raise bad(f"`{name}` must be a boolean (true or false), got {value!r}")


def to_int(value: Any, name: str, default: int | None = None, minimum: int = 0) -> int | None:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise bad(f"`{name}` must be an integer, got {value!r}") from None
    if isinstance(value, bool) or number < minimum:
        raise bad(f"`{name}` must be an integer of at least {minimum}, got {value!r}")
    return number


def _sort_value(value: Any) -> tuple:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def sort_rows(rows: list[dict[str, Any]], sort_fields: list[str]) -> list[dict[str, Any]]:
    """``_sort=a&_sort=-b``: stable, applied last field first so the first one leads."""
    for field in reversed(sort_fields):
        descending = field.startswith("-")
        name = field.lstrip("-+")
        rows.sort(key=lambda r: _sort_value(r.get(name)), reverse=descending)
    return rows


def project(item: dict[str, Any], include: list[str]) -> dict[str, Any]:
    return {k: item.get(k) for k in include} if include else item


def check_include(include: list[str], known: set[str] | None) -> None:
    if include and known is not None:
        unknown = [f for f in include if f not in known]
        if unknown:
            raise HttpError(400, "no_such_include_field_error", f"Illegal include fields: {unknown}")


def page(request: Request, rows: list[dict[str, Any]], *, sort_default: list[str] | None = None,
         known_fields: set[str] | None = None) -> dict[str, Any]:
    """The list envelope: sort (``_sort``), slice (``_offset``/``_size``), project (``_include``)."""
    include = request.args("_include")
    check_include(include, known_fields)
    sort_fields = request.args("_sort") or list(sort_default or [])
    if sort_fields:
        rows = sort_rows(list(rows), sort_fields)
    offset = to_int(request.arg("_offset"), "_offset", 0)
    size = to_int(request.arg("_size"), "_size", 1000)
    size = min(size, MAX_PAGE_SIZE)
    items = rows[offset:offset + size]
    if include:
        items = [project(i, include) for i in items]
    return {"items": items,
            "metadata": {"pagination": {"total": len(rows), "size": size, "offset": offset}, "filtered": None}}


def filter_rows(request: Request, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Equality filters from the query (repeated keys mean any of the values)."""
    for field in fields:
        wanted = request.args(field)
        if wanted:
            rows = [r for r in rows if str(r.get(field)) in wanted or r.get(field) in wanted]
    return rows


def body_field(body: dict[str, Any], name: str, kind: type | tuple, default: Any = None, *,
               required: bool = False) -> Any:
    if name not in body or body[name] is None:
        if required:
            raise ValidationError(f"Missing {name} in json request body")
        return default
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad(f"`{name}` in the request body has the wrong type ({type(value).__name__})")
    return value
