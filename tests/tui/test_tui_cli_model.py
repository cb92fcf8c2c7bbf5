"""`cfy tui` as a command, and the TUI's data layer (no textual) on real files."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cfy_local.errors import ValidationError
from cfy_local.store.event_log import append_events
from cfy_local.tui import model

import tui_state


def test_tui_help_and_unknown_deployment(cfy, home):
    result = cfy("tui", "--help")
    assert result.exit_code == 0 and "-d, --deployment-id DEP" in result.stdout
    result = cfy("tui", "-d", "nope")
    assert result.exit_code == 1
    assert "Requested `Deployment` with ID `nope` was not found" in result.stderr
    result = cfy("tui", "-d", "../x")
    assert result.exit_code == 1 and "illegal characters" in result.stderr


def test_importing_the_cli_does_not_import_textual():
    code = ("import sys, cfy_local.cli, cfy_local.cli.tui; "
            "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_index_rereads_only_changed_records_and_survives_bad_files(state):
    index = model.ExecutionIndex(state)
    assert len(index.refresh()) == 7
    assert index.refresh() == set()
    first = "00000001-0000-4000-8000-000000000001"
    record = dict(index.get(first), error="edited")
    tui_state.records.save(state, record)
    assert index.refresh() == {first}
    assert index.get(first)["error"] == "edited"
    # a corrupt file keeps the last good version and is reported
    path = state.execution_file(first)
    with open(path + ".tmp", "w") as fh:
        fh.write("{not json")
    os.replace(path + ".tmp", path)
    assert index.refresh() == set()
    assert index.get(first)["error"] == "edited" and first in index.unreadable
    os.unlink(path)
    assert index.refresh() == {first}
    assert index.get(first) is None and first not in index.unreadable


def test_event_tail_reads_only_new_lines_and_restarts_on_a_replaced_log(state):
    first = "00000001-0000-4000-8000-000000000001"
    path = state.events_file(first)
    tail = model.EventTail(path)
    assert len(tail.poll()) == 6 and tail.poll() == []
    # a torn last line is not taken until it is complete
    with open(path, "a") as fh:
        fh.write('{"type": "cloudify_event", "message": {"text": "half"')
    assert tail.poll() == []
    with open(path, "a") as fh:
        fh.write('}}\n')
    assert [e["message"]["text"] for e in tail.poll()] == ["half"]
    record = {"id": first, "deployment_id": "web", "workflow_id": "install"}
    replacement = path + ".new"
    append_events(replacement, [tui_state.event(record, tui_state.NOW, "fresh", "workflow_started")])
    os.replace(replacement, path)
    assert [e["message"]["text"] for e in tail.poll()] == ["fresh"]
    assert len(tail.events) == 1


def test_durations_filters_and_sorting():
    now = tui_state.NOW
    assert model.format_duration(None) == "" and model.format_duration(59.9) == "59s"
    assert model.format_duration(61) == "1m01s" and model.format_duration(3 * 3600 + 60) == "3h01m"
    assert model.format_duration(2 * 86400 + 3600) == "2d01h"
    running = {"id": "a", "status": "started", "deployment_id": "web", "workflow_id": "install",
               "created_at": "2026-11-27T15:00:00.000Z", "started_at": "2026-11-27T15:59:00.000Z", "ended_at": None}
    done = dict(running, id="b", status="terminated", created_at="2026-11-27T14:00:00.000Z",
                started_at="2026-11-27T14:00:00.000Z", ended_at="2026-11-27T14:00:05.000Z")
    system = dict(done, id="c", workflow_id="create_deployment_environment")
    assert model.duration_seconds(running, now) == 60
    view = model.TableView()
    assert model.ordered_ids([running, done, system], view, now) == ["a", "b"]
    view.sort_by = "duration"
    assert model.ordered_ids([running, done, system], view, now) == ["a", "b"]
    view.descending = False
    view.include_system = True
    assert model.ordered_ids([running, done, system], view, now)[-1] == "a"
    view.status_filter = "active"
    assert model.ordered_ids([running, done], view, now) == ["a"]
    assert model.status_class("terminated") == "ok" and model.status_class("kill_cancelling") == "cancelled"
    assert model.status_class("queued") == "waiting" and model.status_class("pending") == "active"
    assert json.dumps(model.short_time("2026-11-27T15:00:00.123Z")) == '"2026-11-27 15:00:00"'
    assert model.short_time("2026-11-27T15:00:00.123Z", with_date=False) == "11-27 15:00:00"


def test_event_tail_starts_near_the_end_of_a_huge_log(tmp_path):
    path = str(tmp_path / "events.ndjson")
    record = {"id": "x", "deployment_id": "web", "workflow_id": "install"}
    append_events(path, [tui_state.event(record, tui_state.NOW, f"line {i}", "task_started")
                         for i in range(2000)])
    size = os.path.getsize(path)
    tail = model.EventTail(path, window=size // 4)
    events = tail.poll()
    assert 400 < len(events) < 600
    assert events[-1]["message"]["text"] == "line 1999"
    assert tail.skipped_bytes > 0 and tail.offset == size
    # every line taken is whole: the first one is the line right after the cut
    first = int(events[0]["message"]["text"].split()[1])
    assert [e["message"]["text"] for e in events] == [f"line {i}" for i in range(first, 2000)]


def test_start_form_values_are_typed_as_declared():
    from cfy_local.tui.screens.start import changed_parameters, default_text

    declared = {"name": {"type": "string", "default": "1.0"}, "count": {"type": "integer", "default": 2},
                "tags": {"default": ["a"]}, "label": {"default": "x"}, "needed": {}}
    assert default_text(declared["count"]) == "2" and default_text(declared["tags"]) == '["a"]'
    texts = {"name": "2.0", "count": "2", "tags": "[a, b]", "label": "3", "needed": ""}
    assert changed_parameters(declared, texts) == {"name": "2.0", "tags": ["a", "b"], "label": "3"}
    assert changed_parameters(declared, dict(texts, needed="7")) == {
        "name": "2.0", "tags": ["a", "b"], "label": "3", "needed": 7}
    with pytest.raises(ValidationError, match="Parameter `count`: cannot read"):
        changed_parameters({"count": {"type": "integer"}}, {"count": "[1, 2"})
