"""Helpers for the executions tests: records written as the API writes them."""
from __future__ import annotations

from cfy_local.executions import records
from cfy_local.store.paths import Home


def put_record(home_path, *, workflow_id="install", deployment_id="dep", status="pending", **extra) -> dict:
    """Save an execution record straight into the state dir (as admission would leave it)."""
    home = Home.open(str(home_path))
    record = records.new_record(workflow_id=workflow_id, deployment_id=deployment_id, blueprint_id="bp",
                                status=status, **extra)
    records.save(home, record)
    return record
