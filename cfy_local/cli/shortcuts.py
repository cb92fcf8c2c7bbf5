"""``cfy install`` (upload + create deployment + run install) and ``cfy uninstall`` (run
uninstall + delete the deployment + delete its blueprint when nothing else uses it)."""
from __future__ import annotations

import os

import click

from cfy_local.cli import render
from cfy_local.cli.common import get_home, json_option, wants_json
from cfy_local.errors import ExitCode


def _parse(values) -> dict:
    if not values:
        return {}
    from cfy_local.inputs import parse_inputs

    return parse_inputs(list(values))


def _run_and_wait(home, workflow_id, deployment_id, params, *, allow_custom, force, timeout, include_logs):
    from cfy_local.cli.executions import wait_and_report
    from cfy_local.executions import api

    as_json = wants_json()
    if not as_json:
        render.echo(f"Executing workflow `{workflow_id}` on deployment `{deployment_id}` [timeout={timeout} seconds]")
    record = api.start(home, workflow_id, deployment_id, params, allow_custom_parameters=allow_custom,
                       force=force, env=dict(os.environ))
    return wait_and_report(home, record, timeout=timeout, include_logs=include_logs, as_json=as_json)


@click.command("install")
@click.argument("blueprint_path", required=False, default="blueprint.yaml")
@click.option("-b", "--blueprint-id", help="The unique identifier for the blueprint (default: the folder name)")
@click.option("-n", "--blueprint-filename", help="The name of the archive's main blueprint file")
@click.option("-d", "--deployment-id", help="The unique identifier for the deployment (default: the blueprint id)")
@click.option("-i", "--inputs", multiple=True, help="Inputs for the deployment (JSON, YAML, k=v;k2=v2, a file). "
                                                    "Repeatable")
@click.option("-w", "--workflow-id", default="install", show_default=True, help="The workflow to execute")
@click.option("-p", "--parameters", multiple=True, help="Parameters for the workflow. Repeatable")
@click.option("--allow-custom-parameters", is_flag=True,
              help="Allow passing custom parameters (which were not defined in the workflow's schema)")
@click.option("--timeout", type=int, default=900, show_default=True,
              help="Operation timeout in seconds (the execution keeps going; the CLI stops waiting)")
@click.option("--include-logs/--no-logs", default=True, show_default=True, help="Include logs in returned events")
@json_option
def install(blueprint_path, blueprint_id, blueprint_filename, deployment_id, inputs, workflow_id, parameters,
            allow_custom_parameters, timeout, include_logs):
    """Upload a blueprint, create a deployment from it and execute the install workflow"""
    from cfy_local.deployments import api as deployments

    home = get_home()
    as_json = wants_json()
    deployment_inputs = _parse(inputs)
    params = _parse(parameters)
    if not as_json:
        render.echo(f"Uploading blueprint {blueprint_path}...")
    blueprint = deployments.upload_blueprint(home, blueprint_path, blueprint_id, blueprint_filename)
    if not as_json:
        render.echo(f"Blueprint uploaded. The blueprint's id is {blueprint['id']}")
    deployment_id = deployment_id or blueprint["id"]
    if not as_json:
        render.echo(f"Creating new deployment from blueprint {blueprint['id']}...")
    deployment = deployments.create_deployment(home, deployment_id, blueprint["id"], deployment_inputs)
    if not as_json:
        render.echo(f"Deployment created. The deployment's id is {deployment['id']}")
    code = _run_and_wait(home, workflow_id, deployment["id"], params, allow_custom=allow_custom_parameters,
                         force=False, timeout=timeout, include_logs=include_logs)
    click.get_current_context().exit(code)


@click.command("uninstall")
@click.argument("deployment_id")
@click.option("-w", "--workflow-id", default="uninstall", show_default=True, help="The workflow to execute")
@click.option("-p", "--parameters", multiple=True, help="Parameters for the workflow. Repeatable")
@click.option("--allow-custom-parameters", is_flag=True,
              help="Allow passing custom parameters (which were not defined in the workflow's schema)")
@click.option("-f", "--force", is_flag=True, help="Delete the deployment even if it has live nodes")
@click.option("--timeout", type=int, default=900, show_default=True,
              help="Operation timeout in seconds (the execution keeps going; the CLI stops waiting)")
@click.option("--include-logs/--no-logs", default=True, show_default=True, help="Include logs in returned events")
@json_option
def uninstall(deployment_id, workflow_id, parameters, allow_custom_parameters, force, timeout, include_logs):
    """Execute the uninstall workflow, delete the deployment and its blueprint"""
    from cfy_local.deployments import api as deployments

    home = get_home()
    as_json = wants_json()
    deployment = deployments.load_deployment(home, deployment_id)
    code = _run_and_wait(home, workflow_id, deployment_id, _parse(parameters), allow_custom=allow_custom_parameters,
                         force=False, timeout=timeout, include_logs=include_logs)
    if code != ExitCode.OK:
        click.get_current_context().exit(code)
    if not as_json:
        render.echo(f"Trying to delete deployment {deployment_id}...")
    deployments.delete_deployment(home, deployment_id, force=force)
    if not as_json:
        render.echo("Deployment deleted")
    blueprint_id = deployment.get("blueprint_id")
    if blueprint_id and not deployments.list_deployments(home, blueprint_id):
        if not as_json:
            render.echo(f"Deleting blueprint {blueprint_id}...")
        deployments.delete_blueprint(home, blueprint_id)
        if not as_json:
            render.echo("Blueprint deleted")
    click.get_current_context().exit(ExitCode.OK)
