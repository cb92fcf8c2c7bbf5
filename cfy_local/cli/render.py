"""The one renderer: commands return a ``cli.result.Result``; :func:`show` prints it.

Tables follow cfy's look (blank line, title, ``+---+`` bordered table with centred cells,
blank line) and are fitted to the terminal; JSON goes to stdout alone — lists as one
array, records as one object, streams as NDJSON. Human messages go to stdout, errors and
warnings to stderr. Colour only on a terminal, never with ``NO_COLOR``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap
import time
from typing import Any, Iterable, Sequence

from cfy_local.cli.result import Details, Result, Stream, Table, Text

_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}T")
# The narrowest a shortened cell may become before a table is left wider than the screen.
MIN_CELL = 8
# Seconds between two redraws of the live status line while no event arrives.
STATUS_EVERY = 0.5

STATUS_COLOURS = {
    "failed": "red", "completed": "green", "terminated": "green", "cancelled": "magenta",
    "started": "yellow", "pending": "yellow", "queued": "cyan", "scheduled": "cyan",
    "cancelling": "yellow", "force_cancelling": "yellow", "kill_cancelling": "yellow",
}
LEVEL_COLOURS = {"ERROR": "red", "CRITICAL": "red", "WARNING": "yellow", "WARN": "yellow", "DEBUG": "bright_black"}


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def paint(text: str, colour: str | None, stream=None) -> str:
    if not colour or not use_colour(stream):
        return text
    import click

    return click.style(text, fg=colour)


def paint_status(text: str, stream=None) -> str:
    return paint(text, STATUS_COLOURS.get(text.strip()), stream)


def terminal_width() -> int | None:
    """The width tables must fit on a terminal (``$COLUMNS`` first, as shells set it);
    none when the output is piped: a script reading it gets every column."""
    if not (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()):
        return None
    return shutil.get_terminal_size((100, 24)).columns


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
    if value == "" or value == [] or value == {}:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def _shorten(value: str, width: int) -> str:
    value = value.replace("\n", " ")
    return value if len(value) <= width else value[: max(1, width - 3)] + "..."


def _widths(headers: Sequence[str], body: Sequence[Sequence[str]]) -> list[int]:
    return [max(len(header), max((len(r[i]) for r in body), default=0)) for i, header in enumerate(headers)]


def fit_columns(rows: Sequence[dict], columns: Sequence[str], labels: dict[str, str], drop_order: Sequence[str],
                width: int | None) -> tuple[list[str], list[str]]:
    """The columns that fit ``width``: those of ``drop_order`` leave first to last while the
    table is too wide. Returns (kept, dropped)."""
    kept = list(columns)
    dropped: list[str] = []
    if width is None:
        return kept, dropped

    def table_width(cols):
        body = [[cell(row.get(c)) for c in cols] for row in rows]
        return sum(_widths([labels.get(c, c) for c in cols], body)) + 3 * len(cols) + 1

    for name in drop_order:
        if table_width(kept) <= width:
            break
        if name in kept and len(kept) > 1:
            kept.remove(name)
            dropped.append(name)
    return kept, dropped


def format_table(rows: Sequence[dict], columns: Sequence[str], labels: dict[str, str] | None = None,
                 max_width: int | None = None, *, fit_width: int | None = None, colour_status: bool = False) -> str:
    labels = labels or {}
    headers = [labels.get(c, c) for c in columns]
    missing = "N/A"
    body = [[cell(row[c]) if c in row else missing for c in columns] for row in rows]
    body = [[v.replace("\n", " ") if "\n" in v else v for v in r] for r in body]
    if max_width:
        body = [[_shorten(v, max_width) for v in r] for r in body]
    widths = _widths(headers, body)
    if fit_width is not None and sum(widths) + 3 * len(widths) + 1 > fit_width:
        # Still too wide after dropping columns: narrow the widest column step by step, then
        # shorten its cells once.
        natural = list(widths)
        while sum(widths) + 3 * len(widths) + 1 > fit_width:
            widest = max(range(len(widths)), key=lambda i: widths[i])
            if widths[widest] <= max(MIN_CELL, len(headers[widest])):
                break
            widths[widest] -= 1
        narrowed = [i for i, (w, n) in enumerate(zip(widths, natural)) if w < n]
        body = [[_shorten(v, widths[i]) if i in narrowed else v for i, v in enumerate(r)] for r in body]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    status_at = columns.index("status") if colour_status and "status" in columns else None

    def line(values: Iterable[str], header: bool = False) -> str:
        cells = [v.center(w) for v, w in zip(values, widths)]
        if status_at is not None and not header:
            word = cells[status_at].strip()
            if word:
                cells[status_at] = cells[status_at].replace(word, paint_status(word), 1)
        return "| " + " | ".join(cells) + " |"

    out = [sep, line(headers, header=True), sep]
    out.extend(line(r) for r in body)
    out.append(sep)
    return "\n".join(out)


def table_text(table: Table, *, wide: bool = False) -> list[str]:
    labels = table.labels or {}
    width = None if wide else terminal_width()
    columns, dropped = fit_columns(table.rows, table.columns, labels, table.drop_order, width)
    lines = ["", table.title, format_table(table.rows, columns, labels, table.max_cell, fit_width=width,
                                           colour_status=True), ""]
    if dropped:
        note = f"(left out to fit {width} columns: {', '.join(dropped)}; --wide shows all)"
        lines.extend(textwrap.wrap(note, width or len(note)))
    return lines


def _detail(value: Any) -> str:
    """A detail's value: structures as JSON (never a Python repr), the rest as text."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return str(value)


def details_text(details: Details) -> list[str]:
    """cfy's ``print_details``: title, then ``\\t<key>:`` padded, then the value."""
    lines = [details.title]
    if details.data:
        width = max(len(k) for k in details.data) + 5
        lines.extend(f"\t{(key + ':').ljust(width)} {_detail(value)}" for key, value in details.data.items())
    return lines


# --- showing a result ---------------------------------------------------------------------

def show(result: Result, *, as_json: bool, wide: bool = False) -> int:
    """Print ``result`` once and return its exit code."""
    if not as_json:
        _messages(result.before)
    code = result.exit_code
    if result.stream is not None:
        after = _follow(result.stream, as_json)
        code = show(after, as_json=as_json, wide=wide)
        if result.data is None and not result.views and not result.after:
            return code
    if as_json:
        data = result.data() if callable(result.data) else result.data
        if data is not None:
            if result.json_lines:
                for item in data:
                    print_ndjson(item)
            else:
                print_json(data)
    else:
        for view in result.views:
            if isinstance(view, Table):
                lines = table_text(view, wide=wide)
            elif isinstance(view, Details):
                lines = details_text(view)
            elif isinstance(view, Text):
                lines = list(view.lines)
            else:  # a programming error: every view type is handled above
                raise TypeError(f"unknown view {view!r}")
            for line in lines:
                echo(line)
        _messages(result.after)
    sys.stdout.flush()
    return code


def _messages(messages) -> None:
    for message in messages:
        (error if message.err else echo)(message.text)


class StatusLine:
    """A live line at the bottom of a terminal while events scroll above it. Drawn only
    on a terminal; every event line first clears it, then it is drawn again."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.enabled = (hasattr(self.stream, "isatty") and self.stream.isatty()
                        and os.environ.get("TERM", "") != "dumb")  # a dumb terminal cannot erase a line
        self.shown = False

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.shown = False

    def draw(self, text: str) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((100, 24)).columns
        self.stream.write("\r\033[K" + paint(text[: max(10, width - 1)], "bright_black", self.stream))
        self.stream.flush()
        self.shown = True


# True once this process has followed a run's stream to its end (cli.main then leaves
# without the interpreter's teardown).
followed = False


def _follow(stream: Stream, as_json: bool) -> Result:
    """Print the stream's events as they come. A run's events arrive in batches (``None``
    ends one): lines are written to the buffered stdout and flushed once per batch, and the
    status line is redrawn once per batch — a large run has tens of thousands of events,
    and a write or a flush per event would cost the waiting command more than the worker
    spends producing them."""
    status_line = StatusLine() if (stream.status is not None and not as_json) else None
    drawing = status_line is not None and status_line.enabled
    last_draw = 0.0
    status_text = None
    outcome = "ended"
    write = sys.stdout.write
    fmt = stream.format
    encode = _NDJSON.encode
    pending = False
    try:
        for item in stream.events:
            if item is not None:
                if as_json:
                    write(encode(item) + "\n")
                    pending = True
                    continue
                text = fmt(item)
                if text is not None:
                    if status_line:
                        status_line.clear()
                    write(text + "\n")
                    pending = True
                continue
            if pending:
                sys.stdout.flush()
                pending = False
            if drawing:
                # Recomputed twice a second at most (it reads the run's progress file, not free
                # for a large run), redrawn after every batch of event lines (which cleared it).
                if status_text is None or time.monotonic() - last_draw >= STATUS_EVERY:
                    status_text = stream.status()
                    last_draw = time.monotonic()
                status_line.draw(status_text)
    except TimeoutError:
        outcome = "timeout"
    except KeyboardInterrupt:
        outcome = "interrupted"
    finally:
        if status_line:
            status_line.clear()
        sys.stdout.flush()
    global followed
    followed = True
    return stream.finish(outcome)


class LiveOutput:
    """Output that cannot wait for the command's end (a daemon's log): lines for a person,
    or records as NDJSON with ``--json`` — chosen here, once."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def line(self, text: str) -> None:
        if not self.as_json:
            echo(text)
            sys.stdout.flush()

    def record(self, data: Any) -> None:
        if self.as_json:
            print_ndjson(data)

    @staticmethod
    def warn(text: str) -> None:
        error(text)


# --- low-level output (used by the functions above and by `cfy scheduler run`'s log) ------

def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


# One encoder for NDJSON lines (json.dumps with options builds a new one per call).
_NDJSON = json.JSONEncoder(default=str, separators=(",", ":"))


def print_ndjson(record: Any) -> None:
    sys.stdout.write(_NDJSON.encode(record) + "\n")
    sys.stdout.flush()


def echo(message: str = "") -> None:
    sys.stdout.write(message + "\n")


def warn(message: str) -> None:
    sys.stderr.write(message + "\n")


def error(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
