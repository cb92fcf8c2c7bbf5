"""Runtime-property storage under concurrency: per-instance locks across threads and
processes, Cloudify's version conflicts, the journal that a killed worker leaves behind, and
what other processes see while a run writes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from cfy_local.deployments import api
from cfy_local.engine.storage import JOURNAL_NAME, DeploymentStorage, StorageConflictError
from cfy_local.errors import ConflictError
from cfy_local.store import locks
from polling import wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BODY = """
node_templates:
  a:
    type: cloudify.nodes.Root
    capabilities:
      scalable:
        properties:
          default_instances: 2
"""


def _child(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_key_lock_excludes_other_processes_per_key_and_dies_with_its_holder(tmp_path):
    root = str(tmp_path)
    holder = _child("""
        import sys
        from cfy_local.store import locks
        with locks.key_lock(sys.argv[1], "deployment-d", "a_1"):
            print("held", flush=True)
            sys.stdin.readline()
    """, root)
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()
        with pytest.raises(ConflictError, match="Timed out waiting for the lock `deployment-d` on `a_1`"):
            with locks.key_lock(root, "deployment-d", "a_1", timeout=0.2):
                pass
        with locks.key_lock(root, "deployment-d", "b_2", timeout=0.2):
            pass  # another instance of the same deployment is free
        with locks.lock(root, "deployment-d", timeout=0.2):
            pass  # the deployment-wide lock is another lock
        holder.kill()
        holder.wait(10)
        with locks.key_lock(root, "deployment-d", "a_1", timeout=5):
            pass  # the kernel dropped the killed holder's lock
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_threads_of_one_process_exclude_each_other_on_a_named_lock(tmp_path):
    root = str(tmp_path)
    box = {"n": 0, "inside": 0, "most": 0}

    def work():
        for _ in range(200):
            with locks.lock(root, "deployment-x"):
                box["inside"] += 1
                box["most"] = max(box["most"], box["inside"])
                value = box["n"]
                os.sched_yield()
                box["n"] = value + 1
                box["inside"] -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert box["n"] == 1600
    assert box["most"] == 1


def test_a_stale_write_conflicts_and_refresh_then_update_succeeds(env):
    env.deploy(BODY)
    first, other = env.by_node("a")
    one, two = DeploymentStorage(env.home, "dep"), DeploymentStorage(env.home, "dep")
    try:
        read = one.load_instance(first["id"])
        two.update_instance(first["id"], expected_version=read["version"], runtime_properties={"by": "two"})
        with pytest.raises(StorageConflictError):
            one.update_instance(first["id"], expected_version=read["version"], runtime_properties={"by": "one"})
        # Another instance is not affected by the conflict.
        one.update_instance(other["id"], expected_version=other["version"], runtime_properties={"x": 1})
        fresh = one.load_instance(first["id"])
        assert fresh["runtime_properties"] == {"by": "two"}
        one.update_instance(first["id"], expected_version=fresh["version"],
                            runtime_properties=dict(fresh["runtime_properties"], also="one"))
    finally:
        one.close()
        two.close()
    assert env.by_node("a")[0]["runtime_properties"] == {"by": "two", "also": "one"}
    assert env.by_node("a")[1]["runtime_properties"] == {"x": 1}


INCREMENTER = """
    import sys
    from cfy_local.engine.storage import DeploymentStorage, StorageConflictError
    home, instance_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    storage = DeploymentStorage(home, "dep")
    print("ready", flush=True)
    sys.stdin.readline()
    conflicts = 0
    for _ in range(count):
        while True:
            record = storage.load_instance(instance_id)
            props = dict(record["runtime_properties"])
            props["n"] = props.get("n", 0) + 1
            try:
                storage.update_instance(instance_id, expected_version=record["version"], runtime_properties=props)
                break
            except StorageConflictError:
                conflicts += 1
    storage.close()
    print(conflicts, flush=True)
"""


def test_parallel_runs_of_one_deployment_never_lose_each_others_updates(env):
    env.deploy(BODY)
    target = env.by_node("a")[0]["id"]
    children = [_child(INCREMENTER, str(env.home.root), target, "150") for _ in range(2)]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert all(child.returncode == 0 for child in children), outputs
    assert env.by_node("a")[0]["runtime_properties"] == {"n": 300}
    # The last run to close folded the journal into the states file.
    assert os.path.getsize(os.path.join(env.home.deployment_dir("dep"), JOURNAL_NAME)) == 0


def test_a_killed_writer_loses_nothing_and_others_see_its_writes_soon(env):
    env.deploy(BODY)
    target = env.by_node("a")[0]["id"]
    writer = _child("""
        import sys
        from cfy_local.engine.storage import DeploymentStorage
        storage = DeploymentStorage(sys.argv[1], "dep")
        record = storage.load_instance(sys.argv[2])
        storage.update_instance(sys.argv[2], expected_version=record["version"], runtime_properties={"ip": "10.0.0.9"})
        print("written", flush=True)
        sys.stdin.readline()
    """, str(env.home.root), target)
    try:
        assert writer.stdout.readline().strip() == "written", writer.stderr.read()
        # Another command (the deployments API reads the files) sees it while the writer runs.
        wait_for(lambda: api.load_node_instance(env.home, "dep", target)["runtime_properties"] == {"ip": "10.0.0.9"},
                 timeout=10, message="the write to reach the states file")
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(10)
    finally:
        if writer.poll() is None:
            writer.kill()
    journal = os.path.join(env.home.deployment_dir("dep"), JOURNAL_NAME)
    assert os.path.getsize(journal) > 0  # killed before it could fold its journal
    # A write the states file had not got yet is replayed from the journal by the next run.
    with open(journal, "a") as fh:
        fh.write('{"id":"%s","version":99,"runtime_properties":{"ip":"10.0.0.10"}}\n' % target)
        fh.write('{"id":"%s","vers' % target)  # the torn end a killed writer can leave
    storage = DeploymentStorage(env.home, "dep")
    try:
        assert storage.load_instance(target)["runtime_properties"] == {"ip": "10.0.0.10"}
    finally:
        storage.close()
    record = api.load_node_instance(env.home, "dep", target)
    assert record["runtime_properties"] == {"ip": "10.0.0.10"} and record["version"] == 99
    assert os.path.getsize(journal) == 0


ON_CONFLICT_OPS = """
from cloudify import ctx
from cfy_local.engine.storage import DeploymentStorage

def trace(**kwargs):
    calls = []

    def handler(local, fresh):
        calls.append((dict(local), dict(fresh)))
        return dict(fresh, traced=len(calls))

    # Nothing changed locally: Cloudify still calls the handler and writes what it returns.
    ctx.instance.update(on_conflict=handler)
    assert calls == [({}, {})], calls
    assert ctx.instance.runtime_properties == {"traced": 1}

def merge(**kwargs):
    calls = []
    ctx.instance.runtime_properties["mine"] = 1
    # Another writer changes the instance after this operation read it.
    other = DeploymentStorage(ctx._run.storage.home, ctx.deployment.id)
    record = other.load_instance(ctx.instance.id)
    other.update_instance(ctx.instance.id, expected_version=record["version"],
                          runtime_properties=dict(record["runtime_properties"], theirs=2))
    other.close()

    def handler(local, fresh):
        calls.append((dict(local), dict(fresh)))
        return dict(fresh, **local)

    ctx.instance.update(on_conflict=handler)
    # First optimistically with the local copy twice, then with the fresh one after the conflict.
    assert [c[1].get("theirs") for c in calls] == [None, 2], calls
    assert ctx.instance.runtime_properties["theirs"] == 2
"""


def test_update_on_conflict_calls_the_handler_as_cloudify_does(env):
    env.deploy("""
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.trace
        configure: p.PKG.ops.merge
""", ON_CONFLICT_OPS)
    outcome = env.run("install")
    assert outcome.error is None, outcome.error
    props = env.by_node("a")[0]["runtime_properties"]
    assert props == {"traced": 1, "mine": 1, "theirs": 2}


def test_progress_reads_only_the_head_of_a_large_graph(tmp_path):
    from cfy_local.engine.graphstate import GraphState, progress
    from cfy_local.store.paths import Home

    home = Home.open(str(tmp_path / "home"))
    graph = GraphState(home, "e1", "install", resume=False)
    for n in range(20000):
        graph.register(f"i{n}|op#0", "op", "cloudify.interfaces.lifecycle.create", f"i{n}")
    for n in range(7000):
        graph.record(f"i{n}|op#0", "succeeded", 0)
    graph.flush(durable=True)
    path = home.graph_file("e1")
    assert os.path.getsize(path) > 1_000_000
    assert progress(home, "e1") == (20000, 7000)
    # Only the first bytes are read: the counts come out of a file cut after them.
    with open(path, "r+b") as fh:
        fh.truncate(4096)
    assert progress(home, "e1") == (20000, 7000)


def test_graph_file_is_the_json_of_its_operations_after_every_kind_of_change(tmp_path):
    """graph.json is written from fragments kept between writes; whatever changed, the
    file is exactly the JSON of the operations (an operation with members of its own,
    as a file from another version may hold, included)."""
    from cfy_local.engine.graphstate import GraphState
    from cfy_local.store.paths import Home

    home = Home.open(str(tmp_path / "home"))
    path = home.graph_file("e1")
    graph = GraphState(home, "e1", "install", resume=False)
    graph.register("a|create#0", 'quote " and é', "cloudify.interfaces.lifecycle.create", "a_1")
    graph.register("b|create#0", "op", "cloudify.interfaces.lifecycle.create", "b_1")
    graph.operations["c|odd#0"] = {"state": "pending", "name": "odd", "retries": 0, "extra": [1]}
    graph._changed.add("c|odd#0")

    def written() -> dict:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        compact = json.dumps(data["operations"], separators=(",", ":")).encode()
        with open(path, "rb") as fh:
            assert compact in fh.read()  # byte for byte what json writes
        return data["operations"]

    for key, state, retries in (("a|create#0", "sent", 0), ("a|create#0", "failed", 2),
                                ("b|create#0", "succeeded", 0), ("c|odd#0", "succeeded", 1)):
        graph.record(key, state, retries)
        graph.flush()
        assert written() == graph.operations
    assert written()["a|create#0"] == {"name": 'quote " and é', "operation": "cloudify.interfaces.lifecycle.create",
                                       "node_instance_id": "a_1", "state": "failed", "retries": 2}
    resumed = GraphState(home, "e1", "install", resume=True)
    assert resumed.succeeded_before == {"b|create#0", "c|odd#0"}
    resumed.record("a|create#0", "succeeded", 0)
    resumed.flush()
    assert written()["a|create#0"]["state"] == "succeeded"
