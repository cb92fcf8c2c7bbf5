"""Events are encoded by hand into NDJSON lines (engine/event_emitter.py): every line must be the
JSON that encoding the event as a dict would give."""
from __future__ import annotations

import json

from cfy_local.engine.event_emitter import EventEmitter, encode_members


class ListWriter:
    """A writer without ``write_lines``: the emitter falls back to decoded dicts."""

    def __init__(self):
        self.events = []

    def write(self, event):
        self.events.append(event)


class LineWriter:
    def __init__(self):
        self.lines = []

    def write_lines(self, items):
        self.lines.extend(items)


AWKWARD = {"plain": "x", "unicode": "caf\u00e9 \u2603", "surrogate": "\ud800", "quote": 'a"b\\c\n',
           "none": None, "int": 7, "bool": True, "float": 1.5, "nested": {"list": [1, {"k": None}]},
           1: "int key", None: "none key"}


def test_members_encode_like_json():
    expected = json.loads(json.dumps(AWKWARD))
    assert json.loads("{" + encode_members(AWKWARD)[1:] + "}") == expected


def test_event_lines_decode_to_the_documented_shape():
    writer = LineWriter()
    emitter = EventEmitter(writer, deployment_id="dep", execution_id="e1", workflow_id="install",
                           blueprint_id="bp")
    emitter.event("task_started", "Task started 'x' \u2603", {"node_id": "n_1", "task_current_retries": 0})
    emitter.event("workflow_node_event", "created", encode_members({"node_id": "n_1"}))
    emitter.event("plugin_event", "overrides", {"deployment_id": "other"}, arguments={"a": [1]})
    emitter.log("info", "hello", {"node_id": "n_1"}, logger="ctx.x")
    emitter.flush()
    types = [event_type for event_type, _ in writer.lines]
    events = [json.loads(line) for _, line in writer.lines]
    assert types == ["task_started", "workflow_node_event", "plugin_event", ""]
    started, node, override, log = events
    assert started["context"] == {"deployment_id": "dep", "execution_id": "e1", "workflow_id": "install",
                                  "blueprint_id": "bp", "node_id": "n_1", "task_current_retries": 0}
    assert started["message"] == {"text": "Task started 'x' \u2603", "arguments": None}
    assert started["timestamp"] == started["reported_timestamp"] and started["timestamp"].endswith("Z")
    assert node["context"]["node_id"] == "n_1" and node["type"] == "cloudify_event"
    assert override["context"]["deployment_id"] == "other" and override["message"]["arguments"] == {"a": [1]}
    assert writer.lines[2][1].count('"deployment_id"') == 1  # overridden, not repeated
    assert log["type"] == "cloudify_log" and log["level"] == "info" and log["logger"] == "ctx.x"


def test_a_writer_without_write_lines_gets_dicts():
    writer = ListWriter()
    emitter = EventEmitter(writer, deployment_id=None, execution_id="e2", workflow_id="w", blueprint_id=None)
    emitter.event("workflow_started", "Starting 'w' workflow execution")
    emitter.flush()
    assert writer.events[0]["event_type"] == "workflow_started"
    assert writer.events[0]["context"]["deployment_id"] is None
