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


BLUEPRINT = __import__("pathlib").Path(__file__).resolve().parent / "blueprint" / "blueprint.yaml"


def deploy(home_path, marker_dir, *deployment_ids: str, blueprint_id: str = "bp") -> None:
    """Upload the tests' blueprint (once) and create deployments of it (H1's API)."""
    import os

    from cfy_local.deployments import api as deployments

    home = Home.open(str(home_path))
    if not os.path.exists(home.blueprint_file(blueprint_id)):
        deployments.upload_blueprint(home, str(BLUEPRINT), blueprint_id)
    for deployment_id in deployment_ids:
        deployments.create_deployment(home, deployment_id, blueprint_id, {"marker_dir": str(marker_dir)})


def count(marker_dir, name: str) -> int:
    path = marker_dir / f"{name}.count"
    return len(path.read_text().splitlines()) if path.exists() else 0
