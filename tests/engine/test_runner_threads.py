"""How many runner threads a graph keeps (engine/tasks.py, ``_GraphRun``): one joins while
the runners are blocked, and one leaves again once more than one keep a core busy."""
from __future__ import annotations

import pytest

from cfy_local.engine.tasks import CONTENDED_SHARE

OPS = """
import threading
import time

from cloudify import ctx

_lock = threading.Lock()
_spinning = [0]
_slept = set()  # deployments whose first operation slept


def blocked_then_busy(spin=0.008, nap=0.3, **kwargs):
    props = ctx.instance.runtime_properties
    with _lock:
        first = ctx.deployment.id not in _slept
        _slept.add(ctx.deployment.id)
    if first:
        # The run's first operation blocks: another runner joins and runs the others.
        time.sleep(nap)
        props['slept_until'] = time.monotonic()
        return
    with _lock:
        _spinning[0] += 1
        overlapped = _spinning[0] > 1
    props['began'] = time.monotonic()
    props['cpu'] = time.process_time()
    deadline = time.perf_counter() + spin
    while time.perf_counter() < deadline:  # Python work, holding the interpreter lock
        pass
    with _lock:
        overlapped = overlapped or _spinning[0] > 1
        _spinning[0] -= 1
    props['overlapped'] = overlapped
"""

BLUEPRINT = """
node_templates:
  a:
    type: cloudify.nodes.Root
    capabilities:
      scalable:
        properties:
          default_instances: 150
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.blocked_then_busy
"""


def _late_operations(env, dep: str) -> tuple[list[dict], float]:
    """Run the install; the operations that began well after the sleeper came back
    (SHRINK_AFTER and an operation later), and the share of a core the process had then."""
    env.deploy(BLUEPRINT, OPS, dep=dep)
    outcome = env.run("install", dep=dep, pool=8)
    assert outcome.error is None, outcome.error
    props = [i["runtime_properties"] for i in env.instances(dep).values()]
    slept_until = next(p["slept_until"] for p in props if "slept_until" in p)
    busy = [p for p in props if "began" in p]
    # A second runner did join: operations ran while the first one slept.
    assert any(p["began"] < slept_until for p in busy)
    later = sorted((p for p in busy if p["began"] > slept_until + 0.3), key=lambda p: p["began"])
    assert len(later) >= 20, f"only {len(later)} operations ran late enough to judge"
    share = (later[-1]["cpu"] - later[0]["cpu"]) / (later[-1]["began"] - later[0]["began"])
    return later, share


def test_a_runner_that_joined_while_one_was_blocked_leaves_once_both_are_busy(env):
    # Other processes can keep this one from a core (the suite's other worker): then its
    # runners look blocked, not busy, and the rule under test does not apply. Up to three
    # runs, for one that had the core.
    shares = []
    for attempt in range(3):
        later, share = _late_operations(env, f"dep{attempt}")
        shares.append(round(share, 2))
        if share >= CONTENDED_SHARE:
            break
    else:
        pytest.skip(f"the machine gave this process {shares} of a core, under {CONTENDED_SHARE}")
    # Two runners that only contend for the interpreter lock gain nothing: they no longer
    # run operations side by side.
    overlapped = sum(1 for p in later if p["overlapped"])
    assert overlapped < len(later) / 4, f"{overlapped} of {len(later)} late operations overlapped another"
