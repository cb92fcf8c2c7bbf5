"""``cfy install`` (upload + create deployment + run install) and ``cfy uninstall`` (run
uninstall + delete the deployment + delete its blueprint when nothing else uses it)."""
from __future__ import annotations

import click

from cfy_local.cli.common import get_home, json_option, parse_values, verbosity
from cfy_local.cli.deployments import created_text
from cfy_local.cli.executions import event_filter, start_execution
from cfy_local.cli.result import Message, Result
from cfy_local.cli.waiting import wait_result
from cfy_local.deployments import api as deployments
from cfy_local.errors import ExitCode


def _run_and_wait(home, workflow_id, deployment_id, params, *, allow_custom, timeout, include_logs,
                  before: list[Message], then=None) -> Result:
    record = start_execution(home, workflow_id, deployment_id, params, allow_custom_parameters=allow_custom)
    before = before + [Message(f"Executing workflow `{workflow_id}` on deployment `{deployment_id}` "
                               f"[timeout={timeout} seconds]")]
    return wait_result(home, record, keep=event_filter(include_logs), verbose=verbosity(), timeout=timeout, before=before,
                       then=then)


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
    home = get_home()
    deployment_inputs = parse_values(inputs)
    params = parse_values(parameters)
    blueprint = deployments.upload_blueprint(home, blueprint_path, blueprint_id, blueprint_filename)
    deployment_id = deployment_id or blueprint["id"]
    deployment = deployments.create_deployment(home, deployment_id, blueprint["id"], deployment_inputs)
    before = [Message(f"Uploading blueprint {blueprint_path}..."),
              Message(f"Blueprint uploaded. The blueprint's id is {blueprint['id']}"),
              Message(f"Creating new deployment from blueprint {blueprint['id']}..."),
              Message(created_text(deployment))]
    return _run_and_wait(home, workflow_id, deployment["id"], params, allow_custom=allow_custom_parameters,
                         timeout=timeout, include_logs=include_logs, before=before)


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
    home = get_home()
    deployment = deployments.load_deployment(home, deployment_id)

    def remove(code: int) -> Result:
        """After a successful uninstall: delete the deployment, then its blueprint if unused."""
        result = Result(exit_code=ExitCode.OK)  # with --json the events alone are the output (NDJSON)
        result.say(f"Trying to delete deployment {deployment_id}...")
        deployments.delete_deployment(home, deployment_id, force=force)
        result.say("Deployment deleted")
        blueprint_id = deployment.get("blueprint_id")
        if blueprint_id and not deployments.list_deployments(home, blueprint_id):
            result.say(f"Deleting blueprint {blueprint_id}...")
            deployments.delete_blueprint(home, blueprint_id)
            result.say("Blueprint deleted")
        return result

    return _run_and_wait(home, workflow_id, deployment_id, parse_values(parameters),
                         allow_custom=allow_custom_parameters, timeout=timeout, include_logs=include_logs,
                         before=[], then=remove)
