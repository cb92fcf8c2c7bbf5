"""A failing script, as a person waiting on `executions start` sees it: each retry one
line, the fail-fast hint once, a one-line final error, the whole error in the events."""
from __future__ import annotations

import pytest

from cli_support import deploy

pytestmark = pytest.mark.slow


def test_retries_are_one_line_each_and_the_final_error_is_one_line(home, cfy, cfy_proc, tmp_path):
    markers = deploy(cfy, tmp_path)
    (markers / "fail").touch()
    result = cfy_proc("executions", "start", "install", "-d", "dep", "--task-retries", "2",
                      "--task-retry-interval", "0")
    assert result.exit_code == 1, result
    out, err = result.stdout, result.stderr
    assert "Traceback" not in out + err and "cfy_local" not in out + err  # no internal frames
    retries = [line for line in out.splitlines() if "retrying" in line]
    assert len(retries) == 2
    assert retries[0].endswith("[broken_" + retries[0].split("[broken_")[1].split("]")[0] + "] Task failed "
                               "'script_runner.tasks.run', retrying in 0 s [retry 1/2]: scripts/broken.sh: "
                               "exit code 3: psql: could not connect to server")
    assert "[retry 2/2]: scripts/broken.sh: exit code 3" in retries[1]
    hints = [line for line in out.splitlines() if "To fail fast" in line]
    assert hints == ["Failed operations are retried up to 2 time(s), 0 s apart. To fail fast: --task-retries 0, "
                     "or `task_retries: 0` in config.yaml."]
    assert "/cfy-script-" not in out + err  # the script is named by its blueprint path, not its temp copy
    # Every line is an event line or one of the CLI's own: no continuation lines of an error.
    assert all(line[:4].isdigit() or line.startswith(("Executing workflow", "Failed operations are retried"))
               for line in out.splitlines()), out
    final, where = err.splitlines()[:2]
    execution_id = cfy("executions", "list", "--json").json[-1]["id"]
    assert final.startswith("Execution of workflow install for deployment dep failed. [error=broken_")
    assert final.endswith(" cloudify.interfaces.lifecycle.configure (script_runner.tasks.run): scripts/broken.sh: "
                          "exit code 3: psql: could not connect to server]")
    assert where == (f"* Run 'cfy events list {execution_id}' to retrieve the execution's events/logs "
                     f"(-v shows the whole error)")
    # The whole error stays in the events and in `executions get`.
    events = cfy("events", "list", execution_id)
    assert "Traceback (most recent call last)" in events.stdout
    assert "stderr: connecting\npsql: could not connect to server" in cfy("executions", "get", execution_id).stdout


def test_verbose_wait_shows_the_whole_error(home, cfy, cfy_proc, tmp_path):
    markers = deploy(cfy, tmp_path)
    (markers / "fail").touch()
    result = cfy_proc("-v", "executions", "start", "install", "-d", "dep", "--task-retries", "0")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stdout
    assert "Execution of workflow install for deployment dep failed. [error=Task failed: " in result.stderr
