"""Run corpus cases under Cloudify's own local engine (cloudify-common 7.0.5).

Executed by the oracle venv's python (tests/cloudify_oracle.py), never imported by cfy-local
or by pytest. Reads a JSON list of cases from argv[1], writes a JSON list of outcomes to
argv[2]. Each case: ``{"name", "blueprint", "plugin_dir", "types", "inputs", "steps": [{"workflow",
"parameters", "task_retries", "task_retry_interval"}]}``; each outcome: per step the status and
error, then the node instances (node id, state, runtime properties) and the outputs.
"""
import contextlib
import json
import logging
import sys

logging.disable(logging.CRITICAL)

from cloudify.workflows import local  # noqa: E402
from dsl_parser.import_resolver.default_import_resolver import DefaultImportResolver  # noqa: E402

IGNORED = ["cloudify_agent.operations", "cloudify_agent.installer.operations"]


class BundledTypes(DefaultImportResolver):
    """Resolves Cloudify's types.yaml imports to cfy-local's bundled file (no network here)."""

    def __init__(self, types_path):
        super().__init__()
        self.types_path = types_path

    def fetch_import(self, import_url, **kwargs):
        if import_url.rstrip("/").endswith("cloudify/types/types.yaml"):
            with open(self.types_path) as handle:
                return handle.read()
        return super().fetch_import(import_url, **kwargs)


def _error(exc):
    return {"kind": type(exc).__name__, "text": str(exc)}


def run_case(case):
    outcome = {"name": case["name"], "steps": []}
    try:
        env = local.init_env(case["blueprint"], name=case["name"], inputs=case.get("inputs") or {},
                             resolver=BundledTypes(case["types"]), ignored_modules=IGNORED)
    except Exception as exc:  # noqa: BLE001 - a refused blueprint is an outcome
        outcome["create_error"] = _error(exc)
        return outcome
    for step in case["steps"]:
        workflows = env.plan["workflows"]
        try:
            # Refusals before any execution exists (unknown workflow, bad parameters), as a
            # manager answers them at `executions start`.
            if step["workflow"] not in workflows:
                raise ValueError("'{0}' workflow does not exist".format(step["workflow"]))
            local._merge_and_validate_execution_parameters(
                workflows[step["workflow"]], step["workflow"], step.get("parameters") or {},
                bool(step.get("allow_custom_parameters")))
        except Exception as exc:  # noqa: BLE001
            outcome["steps"].append({"status": "refused", "error": _error(exc)})
            continue
        try:
            env.execute(step["workflow"], parameters=step.get("parameters") or {},
                        allow_custom_parameters=bool(step.get("allow_custom_parameters")),
                        task_retries=step.get("task_retries", 0),
                        task_retry_interval=step.get("task_retry_interval", 0),
                        task_thread_pool_size=step.get("task_thread_pool_size", 8))
            outcome["steps"].append({"status": "terminated", "error": None})
        except Exception as exc:  # noqa: BLE001
            outcome["steps"].append({"status": "failed", "error": _error(exc)})
    outcome["instances"] = [
        {"node_id": instance.node_id, "state": instance.state,
         "runtime_properties": dict(instance.runtime_properties or {})}
        for instance in env.storage.get_node_instances()]
    try:
        outcome["outputs"] = env.outputs()
    except Exception as exc:  # noqa: BLE001
        outcome["outputs_error"] = _error(exc)
    return outcome


def main():
    with open(sys.argv[1]) as handle:
        cases = json.load(handle)
    plugin_dirs = {case["plugin_dir"] for case in cases}
    sys.path[:0] = sorted(plugin_dirs)
    results = []
    # The local engine prints its events to stdout; keep them out of the JSON channel.
    with contextlib.redirect_stdout(sys.stderr):
        for case in cases:
            results.append(run_case(case))
    with open(sys.argv[2], "w") as handle:
        json.dump(results, handle, default=repr)


if __name__ == "__main__":
    main()
