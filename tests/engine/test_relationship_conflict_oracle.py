"""Source- and target-side ``establish`` both writing the source instance's runtime
properties, under cfy-local and under Cloudify's own local engine (the oracle venv).

What Cloudify does: the two operations of one relationship run in parallel (a fork-join per
target), and its storage neither serialises nor merges them: each operation fetched the
source instance lazily and writes it back at its end with the version it read, so the
later writer gets a version conflict (``StorageConflictError`` locally, HTTP 409 on a
manager). That is an ordinary, recoverable task error: the operation is retried and, on
its retry, reads the fresh record, so both values land. The plugin below forces the race
(both operations hold their fetched copy until the other has fetched too), so both engines
must show exactly one conflict, one retry and the same final properties.
"""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from cloudify_oracle import run_oracle

HERE = Path(__file__).resolve().parent
CONFORMANCE = HERE.parent / "conformance"  # oracle_engine.py: Cloudify's engine with our types
TYPES = HERE.parent.parent / "cfy_local" / "dsl" / "resources" / "types.yaml"

pytestmark = pytest.mark.slow

PLUGIN = """
import os
import threading

_barrier = threading.Barrier(2, timeout=20)


def _record(side, ctx):
    with open(os.path.join(os.environ["RACE_LOG"], side), "a") as fh:
        fh.write("%d\\n" % ctx.operation.retry_number)


def _write(side, ctx):
    _record(side, ctx)
    props = ctx.source.instance.runtime_properties  # fetched now, written at the end
    props["from_" + side] = props.get("from_" + side, 0) + 1
    if ctx.operation.retry_number == 0:
        _barrier.wait()  # both sides hold a copy of the same version


def source_side(ctx, **kwargs):
    _write("source", ctx)


def target_side(ctx, **kwargs):
    _write("target", ctx)
"""

TEMPLATES = """
node_templates:
  tgt:
    type: cloudify.nodes.Root
  src:
    type: cloudify.nodes.Root
    relationships:
      - type: cloudify.relationships.connected_to
        target: tgt
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish: {ops}.source_side
        target_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish: {ops}.target_side
"""

# Cloudify's engine reads the types cfy-local bundles, through the conformance oracle's
# resolver (there is no network here to fetch Cloudify's own types.yaml).
CLOUDIFY_HEADER = """\
tosca_definitions_version: cloudify_dsl_1_5
imports:
  - cloudify/types/types.yaml
plugins:
  p:
    executor: central_deployment_agent
    install: false
"""

CLOUDIFY_RUN = """
import json, sys
sys.path.insert(0, sys.argv[2])
sys.path.insert(0, sys.argv[3])
from oracle_engine import IGNORED, BundledTypes, local
env = local.init_env(sys.argv[1], name='race', resolver=BundledTypes(sys.argv[4]), ignored_modules=IGNORED)
env.execute('install', task_retries=2, task_retry_interval=0, task_thread_pool_size=4)
props = {i.node_id: i.runtime_properties for i in env.storage.get_node_instances()}
print(json.dumps(props))
"""


def _attempts(folder) -> dict[str, list[int]]:
    out = {}
    for side in ("source", "target"):
        path = os.path.join(folder, side)
        out[side] = [int(line) for line in open(path).read().split()] if os.path.exists(path) else []
    return out


def test_both_sides_of_establish_writing_the_source_end_as_under_cloudify(env, tmp_path, monkeypatch):
    # Cloudify's local engine
    cfy_log = tmp_path / "cfy-log"
    cfy_log.mkdir()
    folder = tmp_path / "cfy-bp"
    (folder / "plugin" / "raceops").mkdir(parents=True)
    (folder / "plugin" / "raceops" / "__init__.py").write_text("")
    (folder / "plugin" / "raceops" / "ops.py").write_text(textwrap.dedent(PLUGIN))
    (folder / "blueprint.yaml").write_text(CLOUDIFY_HEADER + TEMPLATES.format(ops="p.raceops.ops"))
    done = run_oracle(CLOUDIFY_RUN, str(folder / "blueprint.yaml"), str(folder / "plugin"), str(CONFORMANCE),
                      str(TYPES),
                      env=dict(os.environ, RACE_LOG=str(cfy_log)), timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    their_attempts = _attempts(cfy_log)

    # cfy-local
    our_log = tmp_path / "our-log"
    our_log.mkdir()
    monkeypatch.setenv("RACE_LOG", str(our_log))
    env.deploy(TEMPLATES.format(ops="p.PKG.ops"), PLUGIN)
    outcome = env.run("install", retries=2, interval=0, pool=4)
    assert outcome.error is None, outcome.error
    ours = {i["node_id"]: i["runtime_properties"] for i in env.instances().values()}
    our_attempts = _attempts(our_log)

    assert theirs["src"] == {"from_source": 1, "from_target": 1}
    assert ours == theirs
    # One side lost the race in each engine and ran once more; which one is timing.
    assert sorted(len(a) for a in their_attempts.values()) == [1, 2]
    assert sorted(len(a) for a in our_attempts.values()) == [1, 2]
    retried = [e for e in outcome.events if e.get("event_type") == "task_rescheduled"
               or "conflict" in json.dumps(e.get("message")).lower() or "changed by another" in json.dumps(e)]
    assert retried, "the conflict did not show in the events"
