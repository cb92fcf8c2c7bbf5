"""What a CLI command returns: data, the human view of it, messages and an exit code.

Commands never print. Each returns a :class:`Result` built from what the core returned
(plain dicts and lists, the same data a REST adapter or the TUI gets from the same core
call), and ``cli.render.show`` prints it once: as JSON (data only) with ``--json``, else as
the messages around a table, a detail block or an event stream.

The exit-code policy of a waited execution lives here, once: :func:`exit_code_for`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from cfy_local.errors import ExitCode

# How a waited execution's end status becomes the exit code (the README's table).
EXIT_CODE_BY_END_STATUS = {
    "terminated": ExitCode.OK,
    "failed": ExitCode.ERROR,
    "cancelled": ExitCode.CANCELLED,
}


def exit_code_for(status: str) -> int:
    """The exit code of a command that waited for an execution that ended in ``status``."""
    return EXIT_CODE_BY_END_STATUS.get(status, ExitCode.ERROR)


@dataclass
class Table:
    """Rows shown as cfy's bordered table. ``drop_order`` lists the columns that may be
    left out, first to go first, when the table is wider than the terminal."""

    rows: Sequence[dict]
    columns: Sequence[str]
    title: str
    labels: dict[str, str] | None = None
    drop_order: Sequence[str] = ()
    max_cell: int | None = None


@dataclass
class Details:
    """cfy's detail block: a title, then ``key: value`` lines."""

    data: dict
    title: str


@dataclass
class Text:
    """Plain lines (stdout)."""

    lines: Sequence[str]


@dataclass
class Stream:
    """Events printed as they come (NDJSON with ``--json``). ``finish`` is called with how
    the stream ended (``"ended"``, ``"timeout"`` or ``"interrupted"``) and returns the
    result to show after it. ``status`` (optional) gives the live status line that a
    terminal shows below the events."""

    events: Iterable[dict | None]  # None: an idle tick (the status line is redrawn)
    finish: Callable[[str], "Result"]
    format: Callable[[dict], str | None] = str  # an event's line for a person (None: not shown)
    status: Callable[[], str] | None = None


@dataclass
class Message:
    text: str
    err: bool = False  # stderr rather than stdout


@dataclass
class Result:
    """One command's outcome. ``data`` is what ``--json`` prints (``None``: nothing; a
    callable is called only then, for data that costs more than the human views need);
    ``views`` are how a person sees it; ``before``/``after`` are human-only messages
    around the views; ``stream`` is followed between ``before`` and the views."""

    data: Any = None
    views: list = field(default_factory=list)
    before: list[Message] = field(default_factory=list)
    after: list[Message] = field(default_factory=list)
    exit_code: int = ExitCode.OK
    stream: Stream | None = None
    json_lines: bool = False  # data is a list printed one object per line (a stream's form)

    def say(self, text: str) -> "Result":
        """Add a human message after the views (stdout)."""
        self.after.append(Message(text))
        return self

    def warn(self, text: str) -> "Result":
        self.after.append(Message(text, err=True))
        return self


def message(*lines: str, data: Any = None, exit_code: int = ExitCode.OK) -> Result:
    """A result that is only human lines (and, with --json, ``data``)."""
    return Result(data=data, after=[Message(line) for line in lines], exit_code=exit_code)


def intro(text: str) -> list[Message]:
    return [Message(text)]
