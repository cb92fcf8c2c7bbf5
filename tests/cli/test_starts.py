"""Every start gives its id; a refused start says only why (and what this CLI offers)."""
from __future__ import annotations

import json

from cli_support import deploy, live_record


def test_queued_start_prints_its_id_alone_on_stdout(home, cfy, tmp_path):
    deploy(cfy, tmp_path)
    live_record(home)
    for extra in ((), ("--no-wait",)):
        result = cfy("executions", "start", "install", "-d", "dep", "--queue", *extra)
        assert result.exit_code == 0, result
        (line,) = result.stdout.splitlines()  # `id=$(cfy executions start ... --queue)` captures the id
        assert json.loads(cfy("executions", "get", line, "--json").stdout)["status"] == "queued"
        assert "Execution is being queued. It will automatically start when possible." in result.stderr
    record = cfy("executions", "start", "install", "-d", "dep", "--queue", "--no-wait", "--json").json
    assert record["status"] == "queued" and record["error"] is None and record["workflow_id"] == "install"


def test_no_wait_start_prints_the_id_or_the_record(home, cfy, tmp_path):
    deploy(cfy, tmp_path)
    result = cfy("executions", "start", "hello", "-d", "dep", "--no-wait")
    assert result.exit_code == 0, result
    (execution_id,) = result.stdout.split()
    record = cfy("executions", "start", "hello", "-d", "dep", "--no-wait", "--force", "--json").json
    assert record["id"] != execution_id and record["status"] in ("pending", "started")


def test_busy_deployment_refusal_keeps_cloudifys_sentence_then_offers_queue_and_force(home, cfy, tmp_path):
    deploy(cfy, tmp_path)
    running = live_record(home)
    result = cfy("executions", "start", "install", "-d", "dep")
    assert result.exit_code == 1
    assert result.stdout == ""  # no `Executing workflow ... [timeout=900 seconds]` before a refusal
    (line,) = result.stderr.splitlines()
    assert line.startswith("The following executions are currently running for this deployment: "
                           f"[<Execution id=`{running['id']}` status=`started` workflow_id=`install`>].")
    assert line.endswith("Use --queue to run it when they have ended, or --force to run it beside them.")
    assert "force=true" not in line and "query parameter" not in line


def test_install_says_deployment_created_in_the_one_form(home, cfy_proc, tmp_path):
    from cli_support import write_blueprint

    path = write_blueprint(tmp_path / "bp")
    markers = tmp_path / "markers"
    markers.mkdir()
    result = cfy_proc("install", str(path), "-b", "bp", "-d", "web", "-i", f"marker_dir={markers}")
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert "Deployment `web` created. The deployment's id is web" in lines
    assert lines.index("Deployment `web` created. The deployment's id is web") < lines.index(
        "Executing workflow `install` on deployment `web` [timeout=900 seconds]")
    assert lines[-2] == "Finished executing workflow install on deployment web"
    assert lines[-1].startswith("* Run 'cfy events list ")
