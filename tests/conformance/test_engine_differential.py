"""Differential engine tests: every corpus blueprint runs under cfy-local (the real CLI and a
real worker) and under Cloudify's own local engine (cloudify-common 7.0.5, in the oracle venv),
and the two must end the same way.

Compared, per workflow run: the end status and the error markers (each failing operation of the
test plugin raises a message carrying ``ERR:<operation>``); after the last run: every node
instance's state and runtime properties (the test plugin records each operation in the
runtime property ``trace``, so the per-instance order of operations is compared too), grouped
by node since instance ids are random on both sides; and the evaluated outputs.

Normalisations, each a deliberate departure listed in the README: an instance no workflow
touched is ``uninitialized`` (as on a manager; Cloudify's local engine leaves ``None``).

A case is a folder under ``corpus/`` with ``blueprint.yaml``, ``case.yaml`` (inputs, steps,
``unordered`` trace keys for operations that legitimately run in parallel, ``ignore`` keys
whose value is timing) and any resources.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cloudify_oracle import oracle_python

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
PLUGIN = HERE / "plugin"
TYPES = HERE.parent.parent / "cfy_local" / "dsl" / "resources" / "types.yaml"
CASES = sorted(path.name for path in CORPUS.iterdir() if (path / "case.yaml").exists())
MARKER = re.compile(r"ERR:[A-Za-z0-9_:.\-]+")

pytestmark = pytest.mark.slow


def _case(name: str) -> dict:
    return yaml.safe_load((CORPUS / name / "case.yaml").read_text()) or {}


def _stage(name: str, root: Path) -> Path:
    """A copy of the case folder with the test plugin beside the blueprint (``source: plugin``)."""
    folder = root / name
    if not folder.exists():
        shutil.copytree(CORPUS / name, folder)
        shutil.copytree(PLUGIN, folder / "plugin")
    return folder / "blueprint.yaml"


def _corpus_digest() -> str:
    digest = hashlib.sha256()
    for base in (CORPUS, PLUGIN, HERE / "oracle_engine.py", TYPES):
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in paths:
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(HERE.parent.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def cloudify_outcomes(tmp_path_factory) -> dict:
    """Every case under Cloudify's engine, run once per session (shared by pytest-xdist
    workers through a file under the session's common temp folder)."""
    python = oracle_python()
    shared = tmp_path_factory.getbasetemp().parent
    digest = _corpus_digest()
    result_file = shared / f"cloudify-engine-{digest}.json"
    with open(shared / "cloudify-engine.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result_file.exists():
            # Staged per corpus digest: a copy staged from an older corpus (this folder is
            # shared by every session of the machine) must never stand in for the current one.
            staged = shared / f"cloudify-engine-cases-{digest}"
            cases = []
            for name in CASES:
                spec = _case(name)
                blueprint = _stage(name, staged)
                cases.append({"name": name, "blueprint": str(blueprint),
                              "plugin_dir": str(blueprint.parent / "plugin"), "types": str(TYPES),
                              "inputs": spec.get("inputs") or {}, "steps": spec["steps"]})
            # Two oracle processes, each with half of the cases (the machine has two cores).
            halves = [cases[0::2], cases[1::2]]
            procs = []
            for number, half in enumerate(halves):
                spec_file = shared / f"cloudify-engine-cases-{number}.json"
                spec_file.write_text(json.dumps(half))
                out_file = shared / f"cloudify-engine-out-{number}.json"
                log_file = shared / f"cloudify-engine-log-{number}.txt"
                with open(log_file, "w") as log:  # the engine's events: a file, never a full pipe
                    procs.append((out_file, log_file, subprocess.Popen(
                        [python, str(HERE / "oracle_engine.py"), str(spec_file), str(out_file)],
                        stdout=subprocess.DEVNULL, stderr=log)))
            outcomes = []
            for out_file, log_file, proc in procs:
                proc.wait(timeout=600)
                assert proc.returncode == 0, f"Cloudify's engine runner failed:\n{log_file.read_text()[-4000:]}"
                outcomes += json.loads(out_file.read_text())
            partial = result_file.with_suffix(".partial")
            partial.write_text(json.dumps(outcomes))
            os.replace(partial, result_file)
    return {outcome["name"]: outcome for outcome in json.loads(result_file.read_text())}


class _Cli:
    """The real CLI, in-process (click's runner; workers are still real detached processes)."""

    def __init__(self, cfy):
        self._cfy = cfy

    def __call__(self, *args: str, check: bool = True):
        done = self._cfy(*args)
        if check:
            assert done.exit_code == 0, f"cfy {' '.join(args)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done


def _json(done):
    return json.loads(done.stdout)


def run_ours(name: str, root: Path, cli: _Cli) -> dict:
    spec = _case(name)
    blueprint = _stage(name, root / "staged")
    outcome: dict = {"name": name, "steps": []}
    uploaded = cli("blueprints", "upload", str(blueprint), "-b", name, check=False)
    if uploaded.exit_code != 0:
        outcome["create_error"] = {"text": uploaded.stderr + uploaded.stdout}
        return outcome
    inputs = spec.get("inputs") or {}
    create = ["deployments", "create", name, "-b", name]
    if inputs:
        inputs_file = root / "inputs.json"
        inputs_file.write_text(json.dumps(inputs))
        create += ["-i", str(inputs_file)]
    created = cli(*create, check=False)
    if created.exit_code != 0:
        outcome["create_error"] = {"text": created.stderr + created.stdout}
        return outcome
    for step in spec["steps"]:
        args = ["executions", "start", step["workflow"], "-d", name,
                "--task-retries", str(step.get("task_retries", 0)),
                "--task-retry-interval", str(step.get("task_retry_interval", 0))]
        if step.get("parameters"):
            params_file = root / "params.json"
            params_file.write_text(json.dumps(step["parameters"]))
            args += ["-p", str(params_file)]
        if step.get("allow_custom_parameters"):
            args.append("--allow-custom-parameters")
        started = cli(*args, check=False)
        executions = _json(cli("executions", "list", "-d", name, "--json"))
        mine = [e for e in executions if e.get("workflow_id") == step["workflow"]]
        if not mine:  # refused before an execution existed
            outcome["steps"].append({"status": "refused", "error": {"text": started.stderr}})
            continue
        latest = max(mine, key=lambda e: e.get("created_ns") or e.get("created_at"))
        record = _json(cli("executions", "get", latest["id"], "--json"))
        error = record.get("error") or None
        outcome["steps"].append({"status": record["status"], "error": {"text": error} if error else None})
    outcome["instances"] = [
        {"node_id": i["node_id"], "state": i.get("state"), "runtime_properties": i.get("runtime_properties") or {}}
        for i in _json(cli("node-instances", "list", "-d", name, "--json"))]
    outputs = cli("deployments", "outputs", name, "--json", check=False)
    if outputs.exit_code == 0:
        data = _json(outputs)
        outcome["outputs"] = {key: (value["value"] if isinstance(value, dict) and "value" in value else value)
                              for key, value in data.items()}
    else:
        outcome["outputs_error"] = {"text": outputs.stderr}
    return outcome


def normalise(outcome: dict, unordered: set[str], ignore: set[str] = frozenset()) -> dict:
    """What both engines must agree on (see the module docstring). ``unordered``: list
    properties written by operations that legitimately run in parallel; ``ignore``: keys
    whose value is timing (each case says why)."""
    if "create_error" in outcome:
        return {"create": "refused"}

    def props(values: dict) -> dict:
        return {key: (sorted(value, key=json.dumps) if key in unordered and isinstance(value, list) else value)
                for key, value in values.items() if key not in ignore}

    by_node: dict[str, list] = {}
    for instance in outcome.get("instances") or []:
        state = instance["state"] or "uninitialized"
        by_node.setdefault(instance["node_id"], []).append(
            json.dumps({"state": state, "runtime_properties": props(instance["runtime_properties"])},
                       sort_keys=True))
    steps = []
    for step in outcome["steps"]:
        markers = sorted(set(MARKER.findall((step["error"] or {}).get("text") or "")))
        steps.append({"status": step["status"], "markers": markers})
    return {"steps": steps, "instances": {node: sorted(items) for node, items in sorted(by_node.items())},
            "outputs": outcome.get("outputs", "error" if "outputs_error" in outcome else None)}


@pytest.mark.parametrize("name", CASES)
def test_case_ends_as_under_cloudify(name, cloudify_outcomes, tmp_path, cfy):
    spec = _case(name)
    unordered = set(spec.get("unordered") or [])
    ignore = set(spec.get("ignore") or [])
    theirs = normalise(cloudify_outcomes[name], unordered, ignore)
    ours = normalise(run_ours(name, tmp_path, _Cli(cfy)), unordered, ignore)
    # Cloudify's local engine often words a failed workflow as "Task failed: <task>: " without
    # the operation's message; markers are compared only where its text carries them.
    for our_step, their_step in zip(ours.get("steps") or [], theirs.get("steps") or []):
        if not their_step["markers"]:
            our_step["markers"] = []
    assert ours == theirs, (f"{name}: cfy-local and Cloudify's engine disagree\n"
                            f"cfy-local: {json.dumps(ours, indent=1)}\ncloudify:  {json.dumps(theirs, indent=1)}\n"
                            f"cloudify raw errors: {[s['error'] for s in cloudify_outcomes[name]['steps']]}")


def test_corpus_is_large_enough():
    assert len(CASES) >= 40, f"the differential corpus has {len(CASES)} cases; the bar is 40"
