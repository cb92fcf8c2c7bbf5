"""Script-operation benchmark: 100 instances x 3 script operations, each calling
``ctx instance runtime-properties`` twice (one set, one get).

Runs the real engine in-process (as the worker does) on a deployment of N ``app``
instances whose create/configure/start are a bash script, and the same deployment with
operations that have no implementation (the engine's own cost). The difference divided by
the number of script operations is the per-operation overhead of the script runner: temp
folder, proxy socket and thread, process start, two ``ctx`` calls, logging, clean-up.
Measured with the native ``ctx`` client and with the Python one (CFY_LOCAL_CTX_CLIENT=python),
at thread pool sizes 1 and 8. Goal: <= 25 ms per script operation including process start.
The same blueprint also runs on Cloudify 7.0.5's local engine and script plugin, for a ratio
(in the venv bench_engine.py creates on first use).

    .venv/bin/python bench/bench_scripts.py [--instances 100] [--no-cloudify]

Each measurement runs in its own process. Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOAL_MS = 25.0
OPERATIONS = ("create", "configure", "start")

SCRIPT = """#!/bin/bash
ctx instance runtime-properties "$OPERATION" done
ctx instance runtime-properties "$OPERATION" > /dev/null
"""

OURS_HEADER = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
"""

CLOUDIFY_HEADER = """\
tosca_definitions_version: cloudify_dsl_1_3
plugins:
  script:
    executor: central_deployment_agent
    install: false
  default_workflows:
    executor: central_deployment_agent
    install: false
node_types:
  cloudify.nodes.Root:
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {}
        configure: {}
        start: {}
workflows:
  install: default_workflows.cloudify.plugins.workflows.install
"""


def write_blueprint(folder: str, header: str, instances: int, with_scripts: bool, cloudify: bool = False) -> str:
    os.makedirs(os.path.join(folder, "scripts"), exist_ok=True)
    script = os.path.join(folder, "scripts", "op.sh")
    with open(script, "w") as handle:
        handle.write(SCRIPT)
    os.chmod(script, 0o755)
    lines = ["      cloudify.interfaces.lifecycle:"]
    for operation in OPERATIONS:
        if not with_scripts:
            lines.append(f"        {operation}: {{}}")
        elif cloudify:
            lines += [f"        {operation}:",
                      "          implementation: script.script_runner.tasks.run",
                      "          inputs:",
                      "            script_path: scripts/op.sh",
                      f"            OPERATION: {operation}"]
        else:
            lines += [f"        {operation}:",
                      "          implementation: scripts/op.sh",
                      "          inputs:",
                      f"            OPERATION: {operation}"]
    body = textwrap.dedent(f"""
        node_templates:
          app:
            type: cloudify.nodes.Root
            capabilities:
              scalable:
                properties:
                  default_instances: {instances}
            interfaces:
        """) + "\n".join(lines) + "\n"
    path = os.path.join(folder, "blueprint.yaml")
    with open(path, "w") as handle:
        handle.write(header + body)
    return path


def child(instances: int, with_scripts: bool, pool: int, workdir: str) -> dict:
    sys.path.insert(0, REPO)
    import threading
    import uuid

    from cfy_local.deployments import api
    from cfy_local.engine.workflow_run import run_workflow
    from cfy_local.store.event_log import EventWriter
    from cfy_local.store.paths import Home

    blueprint = write_blueprint(os.path.join(workdir, "bp"), OURS_HEADER, instances, with_scripts)
    home = Home.open(os.path.join(workdir, "home"))
    api.upload_blueprint(home, blueprint, "bench")
    api.create_deployment(home, "bench", "bench", {})
    if with_scripts:   # build/locate the ctx client outside the measurement, as a warm worker would
        from cfy_local.engine.scripts import native
        native.command_dir()
    execution = {"id": str(uuid.uuid4()), "workflow_id": "install", "deployment_id": "bench",
                 "blueprint_id": "bench", "parameters": {}}
    writer = EventWriter(home.events_file(execution["id"]), batch=True)
    cpu_before = _cpu_seconds()
    began = time.perf_counter()
    run_workflow(home, execution, events=writer, cancel=threading.Event(), task_retries=0,
                 task_retry_interval=0, thread_pool_size=pool)
    elapsed = time.perf_counter() - began
    cpu = _cpu_seconds() - cpu_before
    writer.close()
    if with_scripts:
        for item in api.list_node_instances(home, "bench"):
            assert item["runtime_properties"] == {op: "done" for op in OPERATIONS}, item
    return {"seconds": elapsed, "cpu": cpu}


def _cpu_seconds() -> float:
    """CPU time of this process and of every (waited-for) descendant: scripts and ctx calls.
    Unlike wall time, it barely moves when other work shares the machine."""
    import resource
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


CLOUDIFY_CHILD = textwrap.dedent("""
    import json, logging, os, sys, time
    logging.disable(logging.CRITICAL)
    blueprint, pool = sys.argv[1], int(sys.argv[2])
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    from cloudify.workflows import local
    env = local.init_env(blueprint, name='bench')
    began = time.perf_counter()
    env.execute('install', task_retries=0, task_retry_interval=0, task_thread_pool_size=pool)
    elapsed = time.perf_counter() - began
    props = [i.runtime_properties for i in env.storage.get_node_instances()]
    assert all(p == {"create": "done", "configure": "done", "start": "done"} for p in props), props[:2]
    print(json.dumps({"seconds": elapsed}))
""")


def measure(instances: int, with_scripts: bool, pool: int, client: str) -> dict:
    env = dict(os.environ)
    if client == "python":
        env["CFY_LOCAL_CTX_CLIENT"] = "python"
    with tempfile.TemporaryDirectory(prefix="cfy-bench-scripts-") as workdir:
        out = subprocess.run([sys.executable, __file__, "--child", str(instances), str(int(with_scripts)),
                              str(pool), workdir], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_cloudify(instances: int, pool: int) -> dict | None:
    from bench_engine import ensure_cloudify_venv

    python = ensure_cloudify_venv()
    if python is None:
        return None
    with tempfile.TemporaryDirectory(prefix="cfy-bench-scripts-cloudify-") as workdir:
        blueprint = write_blueprint(os.path.join(workdir, "bp"), CLOUDIFY_HEADER, instances, True, cloudify=True)
        out = subprocess.run([python, "-c", CLOUDIFY_CHILD, blueprint, str(pool)], capture_output=True,
                             text=True, check=False, cwd=workdir, timeout=1800)
    if out.returncode != 0:
        summary = [line for line in out.stderr.splitlines() if "Error" in line or "Failed" in line][-1:]
        return {"failed": summary[0] if summary else f"exit code {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        instances, with_scripts, pool, workdir = int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4]), sys.argv[5]
        print(json.dumps(child(instances, with_scripts, pool, workdir)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--no-cloudify", action="store_true")
    options = parser.parse_args()
    n = options.instances
    operations = n * len(OPERATIONS)
    print(f"{n} instances x {len(OPERATIONS)} script operations = {operations} operations, "
          f"2 ctx calls each; {os.cpu_count()} CPUs")
    load = os.getloadavg()[0]
    print(f"load average now {load:.1f}: wall times grow with load; the CPU column does not")
    print(f"{'client':<8} {'pool':>4} {'install (s)':>12} {'no-op (s)':>10} {'per op (ms)':>12} "
          f"{'overhead/op (ms)':>17} {'vs goal':>8} {'CPU overhead/op (ms)':>21}")
    worst = 0.0
    for client in ("native", "python"):
        for pool in (1, 8):
            scripts = measure(n, True, pool, client)
            baseline = measure(n, False, pool, client)
            per_op = scripts["seconds"] / operations * 1000
            overhead = max(0.0, scripts["seconds"] - baseline["seconds"]) / operations * 1000
            cpu_overhead = max(0.0, scripts["cpu"] - baseline["cpu"]) / operations * 1000
            if client == "native" and pool == 1:
                worst = overhead
            print(f"{client:<8} {pool:>4} {scripts['seconds']:>12.2f} {baseline['seconds']:>10.2f} {per_op:>12.1f} "
                  f"{overhead:>17.1f} {overhead / GOAL_MS:>7.2f}x {cpu_overhead:>21.1f}")
    if not options.no_cloudify:
        for pool in (1, 8):
            theirs = measure_cloudify(n, pool)
            if theirs is None:
                print("Cloudify 7.0.5: not measured (cloudify-common could not be installed here)")
                break
            if "failed" in theirs:
                print(f"Cloudify 7.0.5 local, pool {pool}: FAILED ({theirs['failed']}); likely its shared "
                      "ctx proxy route under concurrent scripts")
                continue
            ours = measure(n, True, pool, "native")["seconds"]
            print(f"Cloudify 7.0.5 local, pool {pool}: {theirs['seconds']:.2f} s "
                  f"({theirs['seconds'] / operations * 1000:.1f} ms/op); cfy-local {ours:.2f} s; "
                  f"ratio cfy-local/Cloudify = {ours / theirs['seconds']:.2f}")
    print(f"goal: <= {GOAL_MS:.0f} ms overhead per script operation (native client, pool 1: {worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
