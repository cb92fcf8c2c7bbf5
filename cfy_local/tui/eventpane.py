"""The events pane of the detail screen: events and logs drawn on demand, never cut off.

Each event becomes a few logical lines (the line `cfy events list` prints, then for a
failure every cause in full and its traceback with cfy-local's own frames folded into one
line); long lines are wrapped at the pane's width, so an error is never cut at 80 columns.
Only the lines on screen are drawn; the height of each event is counted from its text
length, so a pane of thousands of events costs nothing to scroll. Follows new events while
at the bottom, like `tail -f`.
"""
from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import Any, Callable

from rich.cells import cell_len, chop_cells
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from cfy_local.executions import insight
from cfy_local.executions.event_stream import render_line
from cfy_local.tui import model
from cfy_local.tui.widgets import CLASS_STYLES

CAUSE_STYLE = Style(color="red")
FRAME_STYLE = Style(color="bright_black")
FOLD_STYLE = Style(color="bright_black", italic=True)
HIT_STYLE = Style(reverse=True, color="yellow", bold=True)
CURRENT_HIT = Style(bgcolor="yellow", color="black", bold=True)

Lines = list[tuple[str, Style]]


def _head(event: dict[str, Any], compact: bool) -> str:
    """The event's line as `cfy events list` prints it; ``compact`` (narrow panes) keeps
    the time of day only and drops the ``CFY <deployment>`` marker."""
    line = render_line(event)
    if not compact:
        return line
    stamp, _, rest = line.partition("  ")
    rest = rest.split("> ", 1)[-1] if rest.startswith(("CFY <", "LOG <")) else rest
    return f"{stamp[11:]} {rest}"


def event_lines(event: dict[str, Any], *, expand: bool = False, compact: bool = False) -> Lines:
    """The logical lines of one event; a failure's causes follow in full (a cause the
    message already quotes is named only), and runs of cfy-local's internal frames are
    folded into one line unless ``expand``."""
    ctx = event.get("context") or {}
    causes = [c for c in (ctx.get("task_error_causes") or []) if isinstance(c, dict)]
    plain = dict(event, context=dict(ctx, task_error_causes=None)) if causes else event
    style = CLASS_STYLES[model.event_class(event)]
    head = _head(plain, compact)
    raw: list[tuple[str, Style]] = [(line, style) for line in head.split("\n")]
    for cause in causes:
        message = str(cause.get("message") or "")
        kind = cause.get("type") or "Error"
        if message and message[:60] in head:
            if cause.get("traceback"):
                raw.append((f"  cause: {kind} (message above)", CAUSE_STYLE))
        else:
            raw.extend((line, CAUSE_STYLE) for line in f"  {kind}: {message}".split("\n"))
        raw.extend(("    " + line, FRAME_STYLE) for line in str(cause.get("traceback") or "").splitlines())
    if expand:
        return raw
    out: Lines = []
    for index, frames in insight.fold_lines([text for text, _ in raw]):
        if frames:
            out.append((f"    ⋯ {frames} internal frame{'s' if frames > 1 else ''} (x shows them)", FOLD_STYLE))
        else:
            out.append(raw[index])
    return out


def wrap(text: str, width: int) -> list[str]:
    """``text`` in pieces of at most ``width`` cells, broken after a space when one is
    near the end of the piece (words stay whole), else at the width."""
    if width <= 0:
        return [text]
    if not text.isascii() and cell_len(text) != len(text):  # wide characters: cut by cells
        return [text] if cell_len(text) <= width else chop_cells(text, width)
    if len(text) <= width:
        return [text]
    out = []
    while len(text) > width:
        cut = text.rfind(" ", width // 2, width)
        cut = width if cut < 0 else cut + 1
        out.append(text[:cut])
        text = text[cut:]
    out.append(text)
    return out


def height(lines: Lines, width: int) -> int:
    total = 0
    for text, _ in lines:
        if width > 0 and len(text) > width:
            total += len(wrap(text, width))
        else:
            total += 1
    return total


class EventPane(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("up", "scroll_by(-1)", "Up", show=False),
        Binding("down", "scroll_by(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "top", "Top", show=False),
        Binding("end,G", "follow", "Follow", key_display="End"),
    ]
    DEFAULT_CSS = "EventPane { height: 1fr; overflow-x: hidden; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.source: list[dict[str, Any]] = []
        self.entries: list[int] = []          # indexes into source, in order
        self.expand = False
        self.needle = ""
        self.current_hit: int | None = None   # position in entries
        self.following = True
        self.on_follow_change: Callable[[], None] | None = None
        self._lines: dict[int, Lines] = {}
        self._prefix: list[int] = [0]
        self._width = 0

    # --- data --------------------------------------------------------------------------

    def lines_of(self, index: int) -> Lines:
        lines = self._lines.get(index)
        if lines is None:
            event = self.source[index]
            lines = event_lines(event, expand=self.expand, compact=self._width < 120)
            self._lines[index] = lines
        return lines

    def text_of(self, index: int) -> str:
        return "\n".join(text for text, _ in self.lines_of(index))

    def set_entries(self, source: list[dict[str, Any]], entries: list[int]) -> None:
        self.source = source
        self.entries = entries
        self.current_hit = None
        self._relayout()
        if self.following:
            self.scroll_end(animate=False, immediate=True)
            self.call_after_refresh(self._follow_end)
        else:
            self.scroll_to(y=0, animate=False, immediate=True)

    def _follow_end(self) -> None:
        if self.following:
            self.scroll_end(animate=False, immediate=True, force=True)

    def append(self, entries: list[int]) -> None:
        if not entries:
            return
        width = self._text_width()
        last = self._prefix[-1]
        self.entries.extend(entries)
        self._prefix.extend(list(accumulate((height(self.lines_of(i), width) for i in entries), initial=last))[1:])
        self.virtual_size = Size(width, self._prefix[-1])
        if self.following:
            self.scroll_end(animate=False, immediate=True)
            self.call_after_refresh(self._follow_end)
        self.refresh()

    def set_expand(self, expand: bool) -> None:
        self.expand = expand
        self._lines.clear()
        self._relayout()

    def _text_width(self) -> int:
        return max(10, self.scrollable_content_region.width or self.size.width or 80)

    def _relayout(self) -> None:
        width = self._text_width()
        if (width < 120) != (self._width < 120):
            self._lines.clear()  # compact lines below 120 columns, full ones above
        self._width = width
        self._prefix = list(accumulate((height(self.lines_of(i), width) for i in self.entries), initial=0))
        self.virtual_size = Size(width, self._prefix[-1])
        self.refresh()

    def on_resize(self) -> None:
        if self._text_width() != self._width:
            self._relayout()

    # --- finding -----------------------------------------------------------------------

    def hits(self) -> list[int]:
        """Positions (in entries) of the events whose text holds the search text."""
        if not self.needle:
            return []
        needle = self.needle.lower()
        return [pos for pos, index in enumerate(self.entries) if needle in self.text_of(index).lower()]

    def show_entry(self, position: int) -> None:
        """Scroll so the event at ``position`` is at the top third of the pane."""
        if not 0 <= position < len(self.entries):
            return
        self._set_following(False)
        self._scroll_to_entry(position)
        # the pane may not be laid out yet (just opened): scroll again once it is
        self.call_after_refresh(self._scroll_to_entry, position)

    def _scroll_to_entry(self, position: int) -> None:
        if not 0 <= position < len(self.entries) or self.following:
            return
        y = self._prefix[position]
        self.scroll_to(y=max(0, y - max(0, self.scrollable_content_region.height // 4)), animate=False,
                       immediate=True, force=True)
        self.refresh()

    def entry_at_top(self) -> int:
        return max(0, bisect_right(self._prefix, int(self.scroll_y)) - 1)

    # --- following ---------------------------------------------------------------------

    def _set_following(self, value: bool) -> None:
        if self.following != value:
            self.following = value
            if self.on_follow_change:
                self.on_follow_change()

    def action_follow(self) -> None:
        self._set_following(True)
        self.scroll_end(animate=False, immediate=True)

    def action_top(self) -> None:
        self._set_following(False)
        self.scroll_home(animate=False, immediate=True)

    def action_scroll_by(self, delta: int) -> None:
        if delta < 0:
            self._set_following(False)
        self.scroll_to(y=self.scroll_y + delta, animate=False, immediate=True)
        if delta > 0 and self.scroll_y >= self.max_scroll_y:
            self._set_following(True)

    def action_page(self, direction: int) -> None:
        self.action_scroll_by(direction * max(1, self.scrollable_content_region.height - 1))

    def _on_mouse_scroll_up(self, event) -> None:
        self._set_following(False)
        super()._on_mouse_scroll_up(event)

    # --- drawing -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self._text_width()
        row = int(self.scroll_y) + y
        base = self.rich_style
        if not self.entries:
            if y == 0:
                return Strip([Segment(" no events here", base + Style(dim=True))]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        if row >= self._prefix[-1]:
            return Strip.blank(width, base)
        position = bisect_right(self._prefix, row) - 1
        index = self.entries[position]
        skip = row - self._prefix[position]
        for text, style in self.lines_of(index):
            pieces = wrap(text, width)
            if skip >= len(pieces):
                skip -= len(pieces)
                continue
            piece = pieces[skip]
            hit = CURRENT_HIT if position == self.current_hit else HIT_STYLE
            return Strip(self._segments(piece, base + style, hit)).adjust_cell_length(width, base)
        return Strip.blank(width, base)

    def _segments(self, piece: str, style: Style, hit: Style) -> list[Segment]:
        if not self.needle:
            return [Segment(piece, style)]
        lower, needle = piece.lower(), self.needle.lower()
        out, at = [], 0
        while True:
            found = lower.find(needle, at)
            if found < 0:
                break
            if found > at:
                out.append(Segment(piece[at:found], style))
            out.append(Segment(piece[found:found + len(needle)], style + hit))
            at = found + len(needle)
        out.append(Segment(piece[at:], style))
        return out
