"""A virtual table: draws only the rows on screen, so 10,000 rows cost nothing to show.

Textual's DataTable measures every row whenever rows are added, which takes seconds at
10,000 executions; this table gets its rows as an ordered list of keys plus a function that
returns the cells of one key, and renders each visible line on demand (the line API). The
cursor is tied to a row key, not an index: when the rows are refreshed or re-sorted the
cursor stays on the same execution.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int = 0          # fixed width; 0 = flexible
    min_width: int = 6      # for flexible columns
    min_screen: int = 0     # only shown when the table is at least this wide


HEADER_STYLE = Style(bold=True, reverse=True)
CURSOR_STYLE = Style(reverse=True)
CURSOR_BLURRED = Style(underline=True)

CellFn = Callable[[str], tuple[dict[str, str], Style | None, dict[str, Style]]]


def fit(text: str, width: int) -> str:
    """Pad or cut ``text`` to exactly ``width`` cells (an ellipsis marks a cut)."""
    if len(text) <= width:
        return text.ljust(width)
    if width <= 1:
        return text[:width]
    return text[: width - 1] + "…"


def layout(columns: list[Column], width: int) -> list[tuple[Column, int]]:
    """The columns that fit ``width`` and the width each gets (one space between columns)."""
    shown = [c for c in columns if width >= c.min_screen]
    fixed = sum(c.width for c in shown if c.width)
    flexible = [c for c in shown if not c.width]
    gaps = max(0, len(shown) - 1)
    spare = max(0, width - fixed - gaps)
    out = []
    share, extra = divmod(spare, len(flexible)) if flexible else (0, 0)
    for column in shown:
        if column.width:
            out.append((column, column.width))
        else:
            size = share + (1 if extra > 0 else 0)
            extra -= 1
            out.append((column, max(column.min_width, size)))
    return out


class VirtualTable(ScrollView, can_focus=True, inherit_bindings=False):
    """Rows drawn on demand; the first line is a sticky header."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    DEFAULT_CSS = """
    VirtualTable { height: 1fr; overflow-x: hidden; }
    """

    class Highlighted(Message):
        def __init__(self, table: "VirtualTable", key: str | None):
            super().__init__()
            self.table = table
            self.key = key

    class Selected(Message):
        def __init__(self, table: "VirtualTable", key: str):
            super().__init__()
            self.table = table
            self.key = key

    def __init__(self, columns: list[Column], cells: CellFn, *, id: str | None = None):
        super().__init__(id=id)
        self.columns = columns
        self._cells = cells
        self.keys: list[str] = []
        self._positions: dict[str, int] = {}
        self.cursor = 0
        self._cursor_key: str | None = None
        self.empty_text = "nothing to show"

    # --- data --------------------------------------------------------------------------

    @property
    def cursor_key(self) -> str | None:
        return self._cursor_key

    def set_rows(self, keys: list[str]) -> None:
        """New rows (in order). The cursor follows its key (if that row is gone it stays at
        the same position, clamped) and stays in view; a view the user scrolled away from
        the cursor is left where it is."""
        # The model hands over a new list only when the order changed.
        reordered = keys is not self.keys
        on_screen = self.cursor - int(self.scroll_y)
        if reordered:
            self.keys = keys
            self._positions = {key: index for index, key in enumerate(keys)}
        if self._cursor_key is not None and self._cursor_key in self._positions:
            self.cursor = self._positions[self._cursor_key]
        else:
            self.cursor = min(self.cursor, max(0, len(keys) - 1))
        previous = self._cursor_key
        self._cursor_key = keys[self.cursor] if keys else None
        self.virtual_size = Size(self.size.width, len(keys) + 1)
        if reordered and 0 <= on_screen < self._body_height():
            self._keep_cursor_visible()
        self.refresh()
        if self._cursor_key != previous:
            self.post_message(self.Highlighted(self, self._cursor_key))

    def rename_cursor_key(self, key: str) -> None:
        """The cursor's row got a new key (before ``set_rows`` with it): keep the cursor on it."""
        self._cursor_key = key

    def move_to_key(self, key: str) -> bool:
        if key not in self._positions:
            return False
        self._move(self._positions[key])
        return True

    # --- cursor ------------------------------------------------------------------------

    def _move(self, index: int) -> None:
        if not self.keys:
            return
        index = max(0, min(len(self.keys) - 1, index))
        changed = index != self.cursor or self._cursor_key != self.keys[index]
        self.cursor = index
        self._cursor_key = self.keys[index]
        self._keep_cursor_visible()
        self.refresh()
        if changed:
            self.post_message(self.Highlighted(self, self._cursor_key))

    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _keep_cursor_visible(self) -> None:
        top = int(self.scroll_y)
        height = self._body_height()
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, force=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, force=True)

    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * self._body_height())

    def action_edge(self, end: int) -> None:
        self._move(len(self.keys) - 1 if end else 0)

    def action_select(self) -> None:
        if self._cursor_key is not None:
            self.post_message(self.Selected(self, self._cursor_key))

    def on_click(self, event: Click) -> None:
        if event.y < 1:
            return
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < len(self.keys):
            self._move(index)
            if event.chain >= 2:
                self.action_select()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.keys) + 1)
        self._keep_cursor_visible()

    # --- drawing -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        columns = layout(self.columns, width)
        base = self.rich_style
        if y == 0:
            text = " ".join(fit(column.label, size) for column, size in columns)
            return Strip([Segment(text, base + HEADER_STYLE)]).adjust_cell_length(width, base + HEADER_STYLE)
        index = int(self.scroll_y) + y - 1
        if index >= len(self.keys):
            if not self.keys and y == 1:
                return Strip([Segment(fit(f" {self.empty_text}", width), base + Style(dim=True))])
            return Strip.blank(width, base)
        key = self.keys[index]
        values, row_style, cell_styles = self._cells(key)
        row = base + row_style if row_style else base
        if index == self.cursor:
            row = row + (CURSOR_STYLE if self.has_focus else CURSOR_BLURRED)
        segments = []
        for position, (column, size) in enumerate(columns):
            if position:
                segments.append(Segment(" ", row))
            style = cell_styles.get(column.key)
            cell_style = row + style if style else row
            if index == self.cursor and style:
                cell_style = cell_style + (CURSOR_STYLE if self.has_focus else CURSOR_BLURRED)
            segments.append(Segment(fit(values.get(column.key, ""), size), cell_style))
        return Strip(segments).adjust_cell_length(width, row)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
