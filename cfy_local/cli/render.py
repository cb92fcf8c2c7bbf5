"""The one renderer: commands hand it data; it prints cfy-style tables or JSON.

Tables follow cfy's look (blank line, title, ``+---+`` bordered table with centred cells,
blank line); JSON goes to stdout alone — lists as one array, records as one object,
streams as NDJSON. Human messages go to stdout, errors and warnings to stderr.
"""
from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, Iterable, Sequence

_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def cell(value: Any) -> str:
    """cfy's cell rules: ISO dates lose ``T``/``Z``; lists comma-joined; falsy non-bool/int blank."""
    kind = type(value)
    if kind is str:  # the common case first: a table of 10,000 rows has 80,000 cells
        if value[10:11] == "T" and _DATE_PREFIX.match(value):
            return value.replace("T", " ").rstrip("Z")
        return value
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if value is None or value == "" or value == [] or value == {}:
        return ""
    if isinstance(value, str):
        if _DATE_PREFIX.match(value):
            return value.replace("T", " ").rstrip("Z")
        return value
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def format_table(rows: Sequence[dict], columns: Sequence[str], labels: dict[str, str] | None = None,
                 max_width: int | None = None) -> str:
    labels = labels or {}
    headers = [labels.get(c, c) for c in columns]
    missing = "N/A"
    body = [[cell(row[c]) if c in row else missing for c in columns] for row in rows]
    if max_width:
        body = [[v if len(v) <= max_width else v[: max_width - 3] + "..." for v in r] for r in body]
    widths = [max(len(header), max(map(len, column), default=0))
              for header, column in zip(headers, zip(*body) if body else [()] * len(headers))]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: Iterable[str]) -> str:
        return "| " + " | ".join([v.center(w) for v, w in zip(values, widths)]) + " |"

    out = [sep, line(headers), sep]
    out.extend(line(r) for r in body)
    out.append(sep)
    return "\n".join(out)


def print_table(rows: Sequence[dict], columns: Sequence[str], title: str, *,
                labels: dict[str, str] | None = None, max_width: int | None = None) -> None:
    echo("")
    echo(title)
    echo(format_table(rows, columns, labels, max_width))
    echo("")


def print_details(data: dict, title: str) -> None:
    """cfy's ``print_details``: title, then ``\\t<key>:`` padded, then the value."""
    echo(title)
    if not data:
        return
    width = max(len(k) for k in data) + 5
    for key, value in data.items():
        echo(f"\t{(key + ':').ljust(width)} {value}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_ndjson(record: Any) -> None:
    sys.stdout.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def echo(message: str = "") -> None:
    sys.stdout.write(message + "\n")


def warn(message: str) -> None:
    sys.stderr.write(message + "\n")


def error(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
