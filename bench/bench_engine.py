"""Engine benchmark: install then uninstall of N node instances, cfy-local vs Cloudify.

Blueprint: N ``app`` instances, each contained_in one ``host`` and connected_to one
``peer``; every lifecycle operation is a no-op Python function. Each measurement runs in
its own process (so peak RSS is that run's). Cloudify's own local engine
(``cloudify-common[dispatcher]==7.0.5``) runs from a separate venv created here
(``/tmp/cfy-bench-venv``), with ``init_env(...)`` then
``env.execute('install', task_thread_pool_size=8)``.

    .venv/bin/python bench/bench_engine.py [--sizes 10,100,1000] [--no-cloudify]
    .venv/bin/python bench/bench_engine.py --profile 1000   # where cfy-local's CPU goes, per thread

Prints a table with both timings, the ratio and peak RSS. Both engines' modules are
imported before the clock starts (Cloudify's by ``init_env``). Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFY_VENV = "/tmp/cfy-bench-venv"
CFY_REQUIREMENT = "cloudify-common[dispatcher]==7.0.5"

NOOP_MODULE = "def noop(**kwargs):\n    return None\n"

LIFECYCLE_OPS = ("create", "configure", "start", "stop", "delete")


def _interfaces(indent: str) -> str:
    lines = [f"{indent}cloudify.interfaces.lifecycle:"]
    lines += [f"{indent}  {op}: benchops.benchops.ops.noop" for op in LIFECYCLE_OPS]
    return "\n".join(lines)


def _templates(n: int) -> str:
    return f"""
node_templates:
  host:
    type: cloudify.nodes.Root
    interfaces:
{_interfaces('      ')}
  peer:
    type: cloudify.nodes.Root
    interfaces:
{_interfaces('      ')}
  app:
    type: cloudify.nodes.Root
    capabilities:
      scalable:
        properties:
          default_instances: {n}
    interfaces:
{_interfaces('      ')}
    relationships:
      - type: cloudify.relationships.contained_in
        target: host
      - type: cloudify.relationships.connected_to
        target: peer
"""


OURS_HEADER = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
plugins:
  benchops:
    executor: central_deployment_agent
    source: plugin
"""

# Cloudify's local engine cannot fetch types.yaml here (no network): the few types the
# blueprint needs are declared inline, with the built-in workflow mappings.
CLOUDIFY_HEADER = """\
tosca_definitions_version: cloudify_dsl_1_3
plugins:
  benchops:
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
        stop: {}
        delete: {}
relationships:
  cloudify.relationships.depends_on:
    properties:
      connection_type:
        default: all_to_all
  cloudify.relationships.contained_in:
    derived_from: cloudify.relationships.depends_on
  cloudify.relationships.connected_to:
    derived_from: cloudify.relationships.depends_on
workflows:
  install: default_workflows.cloudify.plugins.workflows.install
  uninstall: default_workflows.cloudify.plugins.workflows.uninstall
"""


def _write_blueprint(folder: str, header: str, n: int) -> str:
    pkg = os.path.join(folder, "plugin", "benchops")
    os.makedirs(pkg, exist_ok=True)
    open(os.path.join(pkg, "__init__.py"), "w").close()
    with open(os.path.join(pkg, "ops.py"), "w") as fh:
        fh.write(NOOP_MODULE)
    path = os.path.join(folder, "blueprint.yaml")
    with open(path, "w") as fh:
        fh.write(header + _templates(n))
    return path


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- children ---------------------------------------------------------------------------
def child_ours(n: int, workdir: str) -> dict:
    sys.path.insert(0, REPO)
    import threading
    import uuid

    from cfy_local.deployments import api
    from cfy_local.engine.runner import run_workflow
    from cfy_local.store.events import EventWriter
    from cfy_local.store.paths import Home

    # The engine's modules load before the clock starts, as Cloudify's do in init_env
    # (a worker imports them once; ~15 ms, which would otherwise dominate N=10).
    import cfy_local.engine.builtin  # noqa: F401
    import cfy_local.engine.compat  # noqa: F401
    import cfy_local.engine.context  # noqa: F401
    import cfy_local.engine.lifecycle  # noqa: F401
    import cfy_local.engine.runner  # noqa: F401
    import cfy_local.engine.workflow_ctx  # noqa: F401

    blueprint = _write_blueprint(os.path.join(workdir, "bp"), OURS_HEADER, n)
    home = Home.open(os.path.join(workdir, "home"))
    started = time.perf_counter()
    api.upload_blueprint(home, blueprint, "bench")
    api.create_deployment(home, "bench", "bench", {})
    setup = time.perf_counter() - started
    timings = {}
    cpu_before = _cpu_seconds()
    for workflow in ("install", "uninstall"):
        execution = {"id": str(uuid.uuid4()), "workflow_id": workflow, "deployment_id": "bench",
                     "blueprint_id": "bench", "parameters": {}}
        writer = EventWriter(home.events_file(execution["id"]), batch=True)  # as the worker
        began = time.perf_counter()
        run_workflow(home, execution, events=writer, cancel=threading.Event(), task_retries=0,
                     task_retry_interval=0, thread_pool_size=8)
        writer.close()
        timings[workflow] = time.perf_counter() - began
    timings["cpu"] = _cpu_seconds() - cpu_before
    states = {i["state"] for i in api.list_node_instances(home, "bench")}
    assert states == {"deleted"}, states
    return {"setup": setup, **timings, "rss_mb": _peak_rss_mb(), "instances": n + 2}


CLOUDIFY_CHILD = textwrap.dedent("""
    import json, logging, os, resource, sys, time
    logging.disable(logging.CRITICAL)
    blueprint, plugin_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.path.insert(0, plugin_dir)
    from cloudify.workflows import local
    started = time.perf_counter()
    env = local.init_env(blueprint, name='bench', ignored_modules=['cloudify_agent.operations',
                         'cloudify_agent.installer.operations'])
    setup = time.perf_counter() - started
    timings = {}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    for workflow in ('install', 'uninstall'):
        began = time.perf_counter()
        env.execute(workflow, task_retries=0, task_retry_interval=0, task_thread_pool_size=8)
        timings[workflow] = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    timings['cpu'] = usage.ru_utime + usage.ru_stime - cpu_before
    print(json.dumps(dict(setup=setup, rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                          instances=n + 2, **timings)))
""")


def ensure_cloudify_venv() -> str | None:
    """The python of a venv with Cloudify's local engine, created on first use (also used by
    bench_scripts.py); None when it cannot be installed here."""
    python = os.path.join(CFY_VENV, "bin", "python")
    probe = [python, "-c", "import cloudify.workflows.local"]
    if os.path.exists(python) and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    try:
        subprocess.run(["python3", "-m", "venv", CFY_VENV],
                       check=True, capture_output=True)
        subprocess.run([os.path.join(CFY_VENV, "bin", "pip"), "install", "-q", CFY_REQUIREMENT], check=True,
                       capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"cloudify-common could not be installed here ({exc}); reporting cfy-local figures only")
        return None
    return python if subprocess.run(probe, capture_output=True).returncode == 0 else None


def run_cloudify(python: str, n: int, workdir: str) -> dict:
    folder = os.path.join(workdir, "cfy-bp")
    blueprint = _write_blueprint(folder, CLOUDIFY_HEADER, n)
    script = os.path.join(workdir, "cfy_child.py")
    with open(script, "w") as fh:
        fh.write(CLOUDIFY_CHILD)
    # Local mode imports `benchops.ops` after stripping the plugin name.
    proc = subprocess.run([python, script, blueprint, os.path.join(folder, "plugin"), str(n)],
                          capture_output=True, text=True, timeout=3600, env=_child_env())
    if proc.returncode != 0:
        raise RuntimeError(f"Cloudify run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_ours(n: int, top: int = 25) -> None:
    """Run cfy-local's side in this process with cProfile in every engine thread.

    Each thread gets its own profiler timed by ``time.thread_time`` (CPU of that thread
    only), so time a thread spends waiting for the GIL, a queue or the disk does not show
    as cost. Prints the graph thread (workflow + graph loop), the operation pool threads
    and the instance-state writer separately, then the wall time spent in the final
    state flush of each workflow (the states written after the graph ends).
    """
    import cProfile
    import pstats

    sys.path.insert(0, REPO)
    from cfy_local.engine import runner, storage

    profiles: dict[str, list] = {"workflow thread": [], "operation pool threads": [], "state writer thread": []}

    def profiled(group: str, func):
        def wrapper(*args, **kwargs):
            profiler = cProfile.Profile(time.thread_time)
            profiles[group].append(profiler)
            profiler.enable()
            try:
                return func(*args, **kwargs)
            finally:
                profiler.disable()
        return wrapper

    flush_seconds: list[float] = []
    original_flush = runner.WorkflowRun.flush_graph_state

    def timed_flush(self):
        began = time.perf_counter()
        try:
            original_flush(self)
        finally:
            flush_seconds.append(time.perf_counter() - began)

    runner.run_workflow = profiled("workflow thread", runner.run_workflow)
    runner._WorkerPool._work = profiled("operation pool threads", runner._WorkerPool._work)
    storage._StateFlusher._loop = profiled("state writer thread", storage._StateFlusher._loop)
    runner.WorkflowRun.flush_graph_state = timed_flush
    workdir = tempfile.mkdtemp(prefix=f"bench-engine-profile-{n}-")
    try:
        result = child_ours(n, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"N={n}: install {result['install']:.3f}s, uninstall {result['uninstall']:.3f}s (under the profiler)")
    print("final state flush per graph (wall): " + ", ".join(f"{s:.3f}s" for s in flush_seconds))
    for group, profilers in profiles.items():
        if not profilers:
            continue
        stats = pstats.Stats(profilers[0])
        for profiler in profilers[1:]:
            stats.add(profiler)
        print(f"\n=== {group} ({len(profilers)} profiled calls), CPU seconds of those threads")
        stats.sort_stats("tottime").print_stats(top)


def _child_env() -> dict:
    # Both engines run as users run them: with bytecode caches (this sandbox sets
    # PYTHONDONTWRITEBYTECODE, which would recompile every module a run imports).
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_ours(n: int, workdir: str) -> dict:
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(n), workdir],
                          capture_output=True, text=True, timeout=3600, env=_child_env())
    if proc.returncode != 0:
        raise RuntimeError(f"cfy-local run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--no-cloudify", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the fastest counts")
    parser.add_argument("--child", nargs=2, metavar=("N", "WORKDIR"))
    parser.add_argument("--profile", type=int, metavar="N",
                        help="profile cfy-local's run of N instances per engine thread (CPU time) and exit")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_ours(int(args.child[0]), args.child[1])))
        return
    if args.profile:
        profile_ours(args.profile)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    python = None if args.no_cloudify else ensure_cloudify_venv()
    print("wall = install + uninstall (fastest of --repeat runs); cpu = process CPU seconds of those runs;")
    print("the two engines run in turns (ours, Cloudify, ours, ...) and 'pair x' is the median of the per-turn")
    print("wall ratios, so a machine whose speed drifts during the bench skews neither side")
    print(f"{'N':>6} {'ours inst':>10} {'ours uninst':>12} {'ours wall':>10} {'ours cpu':>9} {'ours RSS':>9} "
          f"{'cfy inst':>9} {'cfy uninst':>11} {'cfy wall':>9} {'cfy cpu':>8} {'cfy RSS':>8} {'wall x':>7} "
          f"{'cpu x':>6} {'pair x':>7}")
    previous = None

    def once(runner, n):
        workdir = tempfile.mkdtemp(prefix=f"bench-engine-{n}-")
        try:
            return runner(n, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def wall(result):
        return result["install"] + result["uninstall"]

    for n in sizes:
        ours_runs, their_runs = [], []
        for _ in range(max(1, args.repeat)):
            ours_runs.append(once(run_ours, n))
            if python:
                their_runs.append(once(lambda size, workdir: run_cloudify(python, size, workdir), n))
        ours = min(ours_runs, key=wall)
        total = wall(ours)
        row = (f"{n:>6} {ours['install']:>9.3f}s {ours['uninstall']:>11.3f}s {total:>9.3f}s {ours['cpu']:>8.2f}s "
               f"{ours['rss_mb']:>7.0f}MB")
        if their_runs:
            theirs = min(their_runs, key=wall)
            their_total = wall(theirs)
            pairs = sorted(wall(t) / wall(o) for o, t in zip(ours_runs, their_runs))
            row += (f" {theirs['install']:>8.3f}s {theirs['uninstall']:>10.3f}s {their_total:>8.3f}s "
                    f"{theirs['cpu']:>7.2f}s {theirs['rss_mb']:>6.0f}MB {their_total / total:>6.1f}x "
                    f"{theirs['cpu'] / ours['cpu']:>5.1f}x {pairs[len(pairs) // 2]:>6.1f}x")
        print(row, flush=True)
        if previous:
            prev_n, prev_total = previous
            print(f"{'':>6} growth vs N={prev_n}: x{total / prev_total:.1f} time for x{n / prev_n:.0f} instances")
        previous = (n, total)


if __name__ == "__main__":
    main()
