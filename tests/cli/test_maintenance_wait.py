"""`maintenance-mode activate --wait` while already activating waits for `activated`."""
from __future__ import annotations

from cfy_local.executions import records
from cfy_local.store.paths import Home
from cli_support import live_record


def test_wait_when_already_activating(home, cfy):
    running = live_record(home)
    first = cfy("maintenance-mode", "activate")
    assert first.exit_code == 0 and cfy("maintenance-mode", "status", "--json").json["status"] == "activating"
    # Without --wait a second request is Cloudify's "Nothing to modify"...
    again = cfy("maintenance-mode", "activate")
    assert again.exit_code == 1 and again.stderr.strip() == "Nothing to modify"
    # ...with --wait it waits like the first request, here until its timeout (the run is still active).
    waited = cfy("maintenance-mode", "activate", "--wait", "--timeout", "1")
    assert waited.exit_code == 4, waited
    assert "Nothing to modify" not in waited.stderr and "Timed out while entering maintenance mode" in waited.stderr
    records.set_status(Home(str(home)), running["id"], "terminated")
    done = cfy("maintenance-mode", "activate", "--wait", "--timeout", "30")
    assert done.exit_code == 0, done
    assert done.stdout.endswith("Maintenance mode is on.\nWhile in maintenance mode most requests will be blocked.\n")
