"""``cfy init`` and ``cfy status``."""
from __future__ import annotations

import os

from cfy_local.config import default_config_text, load_config
from cfy_local.executions import records
from cfy_local.store.paths import Home


def test_init_creates_home_and_config_once(cfy, home):
    result = cfy("init")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [f"Initializing cfy-local in {home}...", "Initialization completed successfully"]
    assert open(home / "config.yaml").read() == default_config_text()
    assert (os.stat(home).st_mode & 0o777) == 0o700
    assert load_config(Home(str(home))).scheduler_interval == 60
    again = cfy("init")
    assert again.exit_code == 1
    assert again.stderr.strip() == (f"Environment is already initialized at {home}. You can reset the "
                                    f"configuration by running `cfy init -r`")
    (home / "config.yaml").write_text("scheduler_interval: 5\n")
    assert cfy("init", "-r").exit_code == 0
    assert open(home / "config.yaml").read() == default_config_text()


def test_status_counts_and_corrupt_records(cfy, home):
    store = Home.open(str(home))
    for status in ("started", "queued", "terminated"):
        record = records.new_record(workflow_id="install", deployment_id="d", blueprint_id="bp",
                                    status="queued" if status == "queued" else "pending")
        records.save(store, record)
        if status == "started":
            records.set_status(store, record["id"], "started")
        elif status == "terminated":
            records.set_status(store, record["id"], "started")
            records.set_status(store, record["id"], "terminated")
    broken = os.path.join(store.executions_dir, "broken.json")
    with open(broken, "w") as fh:
        fh.write("{not json")
    data = cfy("status", "--json").json
    assert data["home"] == str(home)
    assert data["executions"]["active"] == 1 and data["executions"]["queued"] == 1
    assert data["maintenance"]["status"] == "deactivated" and data["scheduler"]["running"] is False
    assert data["corrupt_records"] == [broken]
    text = cfy("status")
    assert text.exit_code == 0
    assert "\tExecutions:" in text.stdout and "1 active, 1 queued" in text.stdout
    assert broken in text.stdout and "cannot be read" in text.stderr
