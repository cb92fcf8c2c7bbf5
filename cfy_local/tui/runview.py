"""The operations view of one execution, computed without textual: the rows of the tree
(run → node → node instance → operation) and the timeline (Gantt) bars drawn with block
characters on one time axis. The screen (screens/detail.py) only paints these strings."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cfy_local.executions import insight, statuses
from cfy_local.executions.insight import Operation, RunTracker

RUN_KEY = "run"


@dataclass
class Row:
    key: str
    kind: str                      # run | node | instance | op
    label: str
    depth: int
    ops: list[Operation] = field(default_factory=list)
    op: Operation | None = None

    def started(self) -> datetime | None:
        starts = [op.started for op in self.ops if op.started is not None]
        return min(starts) if starts else None

    def ended(self, now: datetime) -> datetime | None:
        """The end of the last operation (now while one of them still runs)."""
        if not self.ops:
            return None
        ends = []
        for op in self.ops:
            if op.started is None:
                continue
            duration = op.duration(now)
            ends.append(op.started + timedelta(seconds=duration or 0))
        return max(ends) if ends else None


def build_rows(tracker: RunTracker, run_label: str) -> list[Row]:
    ops = tracker.ordered()
    rows = [Row(RUN_KEY, "run", run_label, 0, ops)]
    node_row = instance_row = None
    for op in ops:
        if node_row is None or op.node != node_row.label:
            node_row, instance_row = Row(f"n:{op.node}", "node", op.node, 1, []), None
            rows.append(node_row)
        if instance_row is None or op.instance != instance_row.label:
            instance_row = Row(f"i:{op.instance}", "instance", op.instance, 2, [])
            rows.append(instance_row)
        node_row.ops.append(op)
        instance_row.ops.append(op)
        rows.append(Row(op.key, "op", op.short, 3, [op], op))
    return rows


def summary_state(ops: list[Operation]) -> tuple[str, str]:
    """(text, state class) of a group of operations: ``3/4 ✗1``; the class is the worst."""
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.shown_state] = counts.get(op.shown_state, 0) + 1
    done = counts.get(insight.SUCCEEDED, 0)
    text = f"{done}/{len(ops)}"
    if counts.get(insight.FAILED):
        text += f" ✗{counts[insight.FAILED]}"
        return text, insight.FAILED
    if counts.get(insight.RESCHEDULED):
        return text + f" ↻{counts[insight.RESCHEDULED]}", insight.RESCHEDULED
    if counts.get(insight.STARTED) or counts.get(insight.SENDING):
        return text, insight.STARTED
    if done == len(ops) and ops:
        return text, insight.SUCCEEDED
    return text, insight.PENDING


def retry_text(op: Operation) -> str:
    """Cloudify's ``[retry n/N]``: the retry running (or, while waiting, the next one);
    for an ended operation the retries it took. Empty for a first attempt."""
    number = op.retries + (1 if op.shown_state == insight.RESCHEDULED else 0)
    if not number:
        return ""
    total = "∞" if op.total_retries == -1 else str(op.total_retries if op.total_retries is not None else "?")
    return f"{number}/{total}"


# --- timeline ------------------------------------------------------------------------

EIGHTHS = " ▏▎▍▌▋▊▉█"


@dataclass(frozen=True)
class Axis:
    """The shared time axis: ``start`` at column 0, ``seconds`` across ``width`` columns."""

    start: datetime
    seconds: float
    width: int
    origin: datetime              # the run's start: tick labels count from it

    def column(self, moment: datetime) -> float:
        return (moment - self.start).total_seconds() / self.seconds * self.width


def make_axis(start: datetime | None, end: datetime | None, width: int, *, zoom: float = 1.0,
              offset: float = 0.0) -> Axis | None:
    """The axis over [start, end] at ``zoom`` (2 = twice as wide, scrolled by ``offset``,
    a fraction of the whole run)."""
    if start is None or width <= 0:
        return None
    total = max(0.001, ((end or start) - start).total_seconds())
    seconds = total / max(1.0, zoom)
    shift = timedelta(seconds=total * max(0.0, min(offset, 1.0 - 1.0 / max(1.0, zoom))))
    return Axis(start + shift, seconds, width, start)


def bar(axis: Axis, started: datetime | None, ended: datetime | None, marker: datetime | None = None) -> str:
    """One row of the Gantt chart: spaces before, full blocks over the run time, an eighth
    block for a partial end (so short operations still show), a ``│`` at ``marker``."""
    width = axis.width
    cells = [" "] * width
    if started is not None:
        begin = axis.column(started)
        finish = axis.column(ended or started)
        if finish >= 0 and begin < width:
            first = max(0, int(begin))
            if finish - begin < 1 / 8:
                finish = begin + 1 / 8
            for col in range(first, min(width, int(finish) + 1)):
                covered = min(finish, col + 1) - max(begin, col)
                if covered >= 1 - 1e-9:
                    cells[col] = "█"
                elif covered > 0:
                    if col < int(finish) or finish >= width:
                        cells[col] = "▐" if covered <= 0.5 else "█"
                    else:
                        cells[col] = EIGHTHS[max(1, min(8, int(round(covered * 8))))]
    if marker is not None:
        col = int(axis.column(marker))
        if 0 <= col < width and cells[col] == " ":
            cells[col] = "│"
    return "".join(cells)


def axis_label(axis: Axis) -> str:
    """Tick labels for the chart's header: time since the run's start, every ~1/6 width."""
    width = axis.width
    out = [" "] * width
    step = max(10, width // 6)
    base = (axis.start - axis.origin).total_seconds()
    for col in range(0, width, step):
        text = "|" + insight.format_seconds(base + col / width * axis.seconds)
        if col + len(text) <= width:
            out[col:col + len(text)] = text
    return "".join(out)


# --- why it is slow or stuck ---------------------------------------------------------

def why_lines(record: dict, tracker: RunTracker | None, *, others=(), maintenance: str = "deactivated",
              max_concurrent: int | None = None, retry_interval=None, now: datetime) -> list[tuple[str, str]]:
    """(text, class) lines saying why a run is slow, stuck or waiting, most telling first."""
    out: list[tuple[str, str]] = []
    facts = insight.queue_facts(record, others, maintenance=maintenance, max_concurrent=max_concurrent)
    if facts is not None:
        out.append((facts.text(), "waiting"))
    if tracker is not None:
        left = insight.wait_after_fail_left(record, tracker, now)
        if left is not None:
            failed = tracker.first_failed()
            name = f"{failed.label} failed" if failed else "an operation failed"
            out.append((f"{name}; waiting for the other operations, {insight.format_seconds(left)} left "
                        f"(wait_after_fail {record.get('wait_after_fail')} s)", "failed"))
        if not statuses.is_end(record.get("status") or ""):  # an ended run retries nothing
            for item in insight.retrying(tracker, retry_interval):
                out.append((item.text(now), "cancelled"))
    if record.get("status") == "failed" and record.get("error"):
        cause = ""
        if tracker is not None:
            failed = tracker.first_failed()
            if failed is not None:
                cause = f"{failed.label}: {failed.cause}"
        out.append((cause or insight.first_line(record["error"]), "failed"))
    return out


PROBLEM_STATES = frozenset({insight.FAILED, insight.RESCHEDULED})


def visible_rows(rows: list[Row], folded: set[str], *, problems_only: bool = False) -> list[Row]:
    """The rows shown: children of folded node/instance rows left out; with
    ``problems_only``, only failed or retrying operations and the rows above them."""
    out: list[Row] = []
    hidden_below: int | None = None   # depth of a folded row whose children are skipped
    for row in rows:
        if hidden_below is not None:
            if row.depth > hidden_below:
                continue
            hidden_below = None
        if problems_only and row.kind != "run" and not any(op.shown_state in PROBLEM_STATES for op in row.ops):
            continue
        out.append(row)
        if row.key in folded and row.kind in ("node", "instance"):
            hidden_below = row.depth
    return out
