"""Smaller things a person meets: -V, completion, clear input errors, events by node,
schedule times labelled with their zone, occurrences due at their time, safe deletes."""
from __future__ import annotations

import json

from cli_support import cfy_tty, deploy, put_record
from cfy_local import __version__
from cfy_local.executions import records
from cfy_local.store.event_log import append_events
from cfy_local.store.paths import Home


def test_version_and_completion(cfy):
    assert cfy("-V").stdout.strip() == f"cfy-local, version {__version__}"
    for shell, marker in (("bash", "complete -o nosort -F _cfy_completion cfy"), ("zsh", "#compdef cfy"),
                          ("fish", "complete --no-files --command cfy")):
        result = cfy("completion", shell)
        assert result.exit_code == 0 and marker in result.stdout and "_CFY_COMPLETE" in result.stdout
    assert cfy("completion", "tcsh").exit_code == 2


def test_completion_completes_commands(home):
    import os
    import subprocess
    import sys

    env = dict(os.environ, _CFY_COMPLETE="bash_complete", COMP_WORDS="cfy exec", COMP_CWORD="1")
    out = subprocess.run([sys.executable, "-m", "cfy_local"], capture_output=True, text=True, env=env)
    assert "plain,executions" in out.stdout.splitlines()


def test_input_errors_are_one_clear_line(home, cfy, tmp_path):
    deploy(cfy, tmp_path)
    missing = cfy("executions", "start", "hello", "-d", "dep", "-p", "/nonexistent.yaml")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "Invalid input: /nonexistent.yaml does not exist (no such file)"
    unknown = cfy("executions", "start", "helo", "-d", "dep")
    (line,) = unknown.stderr.splitlines()
    assert line.startswith("Workflow helo does not exist in the deployment dep. Did you mean `hello`? "
                           "Declared workflows: ") and "install" in line and unknown.stdout == ""
    constraint = cfy("executions", "start", "hello", "-d", "dep", "-p", "port=500")
    assert constraint.stderr.strip().startswith('Parameter "port" does not meet its constraints: ')
    assert constraint.stderr.strip().endswith("(value given: 500)")
    assert all(r["workflow_id"] != "hello" for r in records.load_all(Home(str(home))))  # nothing was started


def test_messages_show_structures_as_json_never_python(home, cfy):
    record = put_record(home, status="terminated", parameters={"nested": {"a": 1}, "items": ["x"]})
    out = cfy("executions", "get", record["id"]).stdout
    assert '{"a": 1}' in out and '["x"]' in out and "{'a'" not in out


def _event(record: dict, node_id: str, node_name: str, text: str) -> dict:
    return {"type": "cloudify_event", "event_type": "task_succeeded", "timestamp": record["created_at"],
            "reported_timestamp": record["created_at"], "message": {"text": text, "arguments": None},
            "context": {"deployment_id": "dep", "execution_id": record["id"], "node_id": node_id,
                        "node_name": node_name, "operation": "cloudify.interfaces.lifecycle.create"}}


def test_events_node_filter_takes_a_node_or_an_instance(home, cfy):
    record = put_record(home, status="terminated")
    h = Home(str(home))
    append_events(h.events_file(record["id"]), [_event(record, "web_a1", "web", "one"),
                                                 _event(record, "web_b2", "web", "two"),
                                                 _event(record, "db_c3", "db", "three")])
    by_node = [e["message"]["text"] for e in map(json.loads, cfy("events", "list", record["id"], "--node", "web",
                                                                   "--json").stdout.splitlines())]
    assert by_node == ["one", "two"]
    by_instance = cfy("events", "list", record["id"], "--node", "web_b2")
    assert "two" in by_instance.stdout and "one" not in by_instance.stdout
    assert "Showing 1 of 3 events" in by_instance.stdout and "-vv" not in by_instance.stdout


def test_schedule_times_in_their_zone_and_due_at_their_time(home, cfy, tmp_path):
    deploy(cfy, tmp_path)
    assert cfy("deployments", "schedule", "create", "dep", "hello", "-n", "daily", "-s", "2030-01-01 09:00",
               "-r", "1d", "--tz", "Asia/Tokyo").exit_code == 0
    shown = cfy("deployments", "schedule", "get", "dep", "daily", "--preview", "2").stdout
    assert "  1     2030-01-01 09:00:00 Asia/Tokyo\n  2     2030-01-02 09:00:00 Asia/Tokyo" in shown
    header = next(line for line in cfy("deployments", "schedule", "list").stdout.splitlines() if "timezone" in line)
    assert "timezone" in [c.strip() for c in header.strip("|").split("|")]
    assert "Asia/Tokyo" in cfy("deployments", "schedule", "list").stdout
    nxt = cfy("deployments", "schedule", "get", "dep", "daily", "--json").json["next_occurrence"]
    assert nxt == "2030-01-01T00:00:00.000Z"
    fired = cfy("scheduler", "run", "--once", "--at", "2030-01-01 00:00:00", "--json").json
    assert [d["action"] for d in fired["decisions"]] == ["fired"]  # due *at* its time, not one pass later


def test_delete_needs_a_filter_or_all(home, cfy):
    done = put_record(home, status="terminated")
    refused = cfy("executions", "delete")
    assert refused.exit_code == 2 and (home / "executions" / f"{done['id']}.json").exists()
    assert "Say which executions to delete: --to, --before, --keep-last or -d, or --all" in refused.stderr
    assert cfy("executions", "delete", "-d", "dep").stdout.strip() == "Deleted 1 executions"


def test_delete_without_a_filter_asks_on_a_terminal(home, cfy):
    done = put_record(home, status="terminated")
    code, out = cfy_tty(home, "executions", "delete", answer="n")
    assert code == 2 and "Delete every finished execution? [y/N]" in out
    assert (home / "executions" / f"{done['id']}.json").exists()
    code, out = cfy_tty(home, "executions", "delete", answer="y")
    assert code == 0 and "Deleted 1 executions" in out and not (home / "executions" / f"{done['id']}.json").exists()
