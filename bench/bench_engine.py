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

WORKLOADS = ("noop", "props", "shared-target", "fan-in")

# The plugin both engines run. The conflict of a stale write is
# `cloudify.workflows.local.StorageConflictError` under Cloudify's local engine and
# `cloudify.exceptions.StorageConflictError` under cfy-local: matched by name, so one
# module serves both.
PLUGIN_MODULE = """\
def noop(**kwargs):
    return None


def _short(ctx):
    return ctx.operation.name.rsplit('.', 1)[-1]


def props(ctx, **kwargs):
    # A few reads and writes of the instance's own runtime properties, as a plugin does.
    rp = ctx.instance.runtime_properties
    done = list(rp.get('ops', []))
    rp['ops'] = done + [_short(ctx)]
    rp['count'] = rp.get('count', 0) + 1
    rp['node'] = ctx.node.id
    rp['resource_id'] = '%s-%s' % (ctx.node.id, rp['count'])


def rel_source(ctx, **kwargs):
    rp = ctx.source.instance.runtime_properties
    rp['rel_' + _short(ctx)] = ctx.target.node.id
    rp['rel_count'] = rp.get('rel_count', 0) + 1


def rel_target(ctx, **kwargs):
    # The optimistic-concurrency loop plugins use on a shared target.
    key = 'seen_' + _short(ctx)
    instance = ctx.target.instance
    while True:
        rp = instance.runtime_properties
        rp[key] = rp.get(key, 0) + 1
        try:
            instance.update()
            return
        except Exception as exc:
            if type(exc).__name__ != 'StorageConflictError':
                raise
            instance.refresh(force=True)
"""

LIFECYCLE_OPS = ("create", "configure", "start", "stop", "delete")
RELATIONSHIP_OPS = ("preconfigure", "postconfigure", "establish", "unlink")


def _interfaces(indent: str, func: str) -> str:
    lines = [f"{indent}cloudify.interfaces.lifecycle:"]
    lines += [f"{indent}  {op}: benchops.benchops.ops.{func}" for op in LIFECYCLE_OPS]
    return "\n".join(lines)


def _relationship(rel_type: str, target: str, with_ops: bool) -> str:
    text = f"      - type: {rel_type}\n        target: {target}\n"
    if with_ops:
        for side, func in (("source_interfaces", "rel_source"), ("target_interfaces", "rel_target")):
            text += f"        {side}:\n          cloudify.interfaces.relationship_lifecycle:\n"
            text += "".join(f"            {op}: benchops.benchops.ops.{func}\n" for op in RELATIONSHIP_OPS)
    return text


def _templates(workload: str, n: int) -> str:
    func = "noop" if workload == "noop" else "props"
    if workload in ("noop", "props"):
        targets = [("host", "cloudify.relationships.contained_in", False),
                   ("peer", "cloudify.relationships.connected_to", False)]
    elif workload == "shared-target":
        targets = [("host", "cloudify.relationships.contained_in", True)]
    else:
        targets = [("db", "cloudify.relationships.connected_to", True)]
    text = "\nnode_templates:\n"
    for name, _, _ in targets:
        text += f"  {name}:\n    type: cloudify.nodes.Root\n    interfaces:\n{_interfaces('      ', func)}\n"
    text += (f"  app:\n    type: cloudify.nodes.Root\n    capabilities:\n      scalable:\n        properties:\n"
             f"          default_instances: {n}\n    interfaces:\n{_interfaces('      ', func)}\n"
             f"    relationships:\n")
    text += "".join(_relationship(rel_type, name, ops) for name, rel_type, ops in targets)
    return text

OURS_HEADER = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
plugins:
  benchops:
    executor: central_deployment_agent
    source: plugin
"""

# Cloudify's engine reads the same bundled types.yaml through the conformance oracle's
# resolver (tests/conformance/oracle_engine.py; there is no network to fetch Cloudify's).
CLOUDIFY_HEADER = """\
tosca_definitions_version: cloudify_dsl_1_5
imports:
  - cloudify/types/types.yaml
plugins:
  benchops:
    executor: central_deployment_agent
    install: false
"""
CONFORMANCE_DIR = os.path.join(REPO, "tests", "conformance")
BUNDLED_TYPES = os.path.join(REPO, "cfy_local", "dsl", "resources", "types.yaml")


def _write_blueprint(folder: str, header: str, n: int, workload: str = "noop") -> str:
    pkg = os.path.join(folder, "plugin", "benchops")
    os.makedirs(pkg, exist_ok=True)
    open(os.path.join(pkg, "__init__.py"), "w").close()
    with open(os.path.join(pkg, "ops.py"), "w") as fh:
        fh.write(PLUGIN_MODULE)
    path = os.path.join(folder, "blueprint.yaml")
    with open(path, "w") as fh:
        fh.write(header + _templates(workload, n))
    return path


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fingerprint(instances) -> dict:
    """Final runtime properties per node, as a sorted list (instance ids are random)."""
    by_node: dict[str, list] = {}
    for node_id, props in instances:
        by_node.setdefault(node_id, []).append(json.dumps(props, sort_keys=True))
    return {node: sorted(values) for node, values in sorted(by_node.items())}


def _watch_worker(home, proc) -> float:
    """The peak RSS (MB) of the worker of the newest execution, polled from /proc until the
    waiting CLI ``proc`` exits."""
    from cfy_local.executions import records

    peak, pid, seen = 0.0, None, set(os.listdir(home.executions_dir)) if os.path.isdir(home.executions_dir) else set()
    while proc.poll() is None:
        if pid is None and os.path.isdir(home.executions_dir):
            for name in set(os.listdir(home.executions_dir)) - seen:
                if name.endswith(".json") and not name.startswith("."):
                    try:
                        pid = records.load(home, name[:-5]).get("worker_pid")
                    except Exception:  # noqa: BLE001 - being written
                        pass
        if pid:
            try:
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]) / 1024.0)
            except OSError:
                pass
        time.sleep(0.02)
    return peak


# -- children ---------------------------------------------------------------------------
def child_ours(workload: str, n: int, workdir: str, mode: str) -> dict:
    sys.path.insert(0, REPO)
    import threading
    import uuid

    from cfy_local.deployments import api
    from cfy_local.engine.collector import collect_less_often
    from cfy_local.engine.workflow_run import run_workflow
    from cfy_local.store.event_log import EventWriter
    from cfy_local.store.paths import Home

    # The engine's modules load before the clock starts, as Cloudify's do in init_env
    # (a worker imports them once; ~15 ms, which would otherwise dominate N=10).
    import cfy_local.engine.builtin  # noqa: F401
    import cfy_local.engine.compat  # noqa: F401
    import cfy_local.engine.context  # noqa: F401
    import cfy_local.engine.lifecycle  # noqa: F401
    import cfy_local.engine.workflow_run  # noqa: F401
    import cfy_local.engine.workflow_ctx  # noqa: F401

    blueprint = _write_blueprint(os.path.join(workdir, "bp"), OURS_HEADER, n, workload)
    home = Home.open(os.path.join(workdir, "home"))
    started = time.perf_counter()
    api.upload_blueprint(home, blueprint, "bench")
    api.create_deployment(home, "bench", "bench", {})
    setup = time.perf_counter() - started
    timings = {}
    worker_peaks: list[float] = []
    cpu_before = _cpu_seconds()
    for workflow in ("install", "uninstall"):
        began = time.perf_counter()
        if mode == "cli":
            # The whole command a user runs: CLI start-up, admission, the detached
            # worker, and the CLI following the run's events until it ends.
            cfy = os.path.join(os.path.dirname(sys.executable), "cfy")
            proc = subprocess.Popen([cfy, "--home", home.root, "executions", "start", workflow, "-d", "bench",
                                     "--task-retries", "0", "--task-retry-interval", "0",
                                     "--task-thread-pool-size", "8"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=_child_env())
            # The worker is detached from the CLI: its peak RSS is read from /proc while
            # it runs (the CLI's output is drained by a thread meanwhile).
            outputs: list = []
            drain = threading.Thread(target=lambda: outputs.append(proc.communicate()))
            drain.start()
            worker_peaks.append(_watch_worker(home, proc))
            drain.join()
            if proc.returncode != 0:
                out, err = outputs[0]
                raise RuntimeError(f"cfy executions start {workflow} failed:\n{out[-2000:]}{err[-2000:]}")
        else:
            execution = {"id": str(uuid.uuid4()), "workflow_id": workflow, "deployment_id": "bench",
                         "blueprint_id": "bench", "parameters": {}}
            writer = EventWriter(home.events_file(execution["id"]), batch=True)  # as the worker
            collect_less_often()  # as the worker
            run_workflow(home, execution, events=writer, cancel=threading.Event(), task_retries=0,
                         task_retry_interval=0, thread_pool_size=8)
            writer.close()
        timings[workflow] = time.perf_counter() - began
        if workflow == "install":
            timings["after_install"] = fingerprint(
                (i["node_id"], i["runtime_properties"]) for i in api.list_node_instances(home, "bench"))
    timings["cpu"] = _cpu_seconds() - cpu_before
    instances = api.list_node_instances(home, "bench")
    states = {i["state"] for i in instances}
    assert states == {"deleted"}, states
    rss = max(worker_peaks) if mode == "cli" else _peak_rss_mb()
    return {"setup": setup, **timings, "rss_mb": rss, "instances": len(instances),
            "final": fingerprint((i["node_id"], i["runtime_properties"]) for i in instances)}


CLOUDIFY_CHILD = textwrap.dedent("""
    import json, logging, os, resource, sys, time
    logging.disable(logging.CRITICAL)
    blueprint, plugin_dir, n, conformance, types = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    sys.path.insert(0, plugin_dir)
    sys.path.insert(0, conformance)
    from oracle_engine import IGNORED, BundledTypes, local

    def fingerprint(env):
        by_node = {}
        for inst in env.storage.get_node_instances():
            by_node.setdefault(inst.node_id, []).append(json.dumps(inst.runtime_properties, sort_keys=True))
        return {node: sorted(values) for node, values in sorted(by_node.items())}

    started = time.perf_counter()
    env = local.init_env(blueprint, name='bench', resolver=BundledTypes(types), ignored_modules=IGNORED)
    setup = time.perf_counter() - started
    timings = {}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    for workflow in ('install', 'uninstall'):
        began = time.perf_counter()
        env.execute(workflow, task_retries=0, task_retry_interval=0, task_thread_pool_size=8)
        timings[workflow] = time.perf_counter() - began
        if workflow == 'install':
            timings['after_install'] = fingerprint(env)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    timings['cpu'] = usage.ru_utime + usage.ru_stime - cpu_before
    instances = env.storage.get_node_instances()
    print(json.dumps(dict(setup=setup, rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                          instances=len(instances), final=fingerprint(env), **timings)))
""")


def ensure_cloudify_venv() -> str | None:
    """The python of a venv with Cloudify's local engine (also used by bench_scripts.py):
    the tests' cached oracle venv (tests/cloudify_oracle.py, cloudify-common 7.0.5 with the
    dispatcher), else one created here on first use; None when it cannot be installed."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    try:
        import cloudify_oracle

        python = cloudify_oracle.oracle_python()
        if subprocess.run([python, "-c", "import cloudify.workflows.local"], capture_output=True).returncode == 0:
            return python
    except Exception as exc:  # noqa: BLE001 - fall back to a venv of our own
        print(f"the oracle venv is not usable ({exc}); creating {CFY_VENV}")
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


def run_cloudify(python: str, workload: str, n: int, workdir: str) -> dict:
    folder = os.path.join(workdir, "cfy-bp")
    blueprint = _write_blueprint(folder, CLOUDIFY_HEADER, n, workload)
    script = os.path.join(workdir, "cfy_child.py")
    with open(script, "w") as fh:
        fh.write(CLOUDIFY_CHILD)
    # Local mode imports `benchops.ops` after stripping the plugin name.
    proc = subprocess.run([python, script, blueprint, os.path.join(folder, "plugin"), str(n), CONFORMANCE_DIR,
                           BUNDLED_TYPES],
                          capture_output=True, text=True, timeout=3600, env=_child_env())
    if proc.returncode != 0:
        raise RuntimeError(f"Cloudify run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_ours(workload: str, n: int, top: int = 25) -> None:
    """Run cfy-local's side in this process with cProfile in every engine thread.

    Each thread gets its own profiler timed by ``time.thread_time`` (CPU of that thread
    only), so time a thread spends waiting for the GIL, a queue or the disk does not show
    as cost. Prints the workflow thread (building the graph, then supervising it), the
    graph's runner threads (which run its tasks), the pool threads (tasks started outside
    a graph) and the instance-state writer separately, then the wall time spent in the
    final state flush of each workflow (the states written after the graph ends).
    """
    import cProfile
    import pstats

    sys.path.insert(0, REPO)
    from cfy_local.engine import storage, tasks, workflow_run

    profiles: dict[str, list] = {"workflow thread": [], "runner threads": [], "pool threads": [],
                                 "state writer thread": []}

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
    original_flush = workflow_run.WorkflowRun.flush_graph_state

    def timed_flush(self):
        began = time.perf_counter()
        try:
            original_flush(self)
        finally:
            flush_seconds.append(time.perf_counter() - began)

    workflow_run.run_workflow = profiled("workflow thread", workflow_run.run_workflow)
    tasks._GraphRun._runner = profiled("runner threads", tasks._GraphRun._runner)
    workflow_run._WorkerPool._work = profiled("pool threads", workflow_run._WorkerPool._work)
    storage._StateFlusher._loop = profiled("state writer thread", storage._StateFlusher._loop)
    workflow_run.WorkflowRun.flush_graph_state = timed_flush
    workdir = tempfile.mkdtemp(prefix=f"bench-engine-profile-{n}-")
    try:
        result = child_ours(workload, n, workdir, "engine")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{workload} N={n}: install {result['install']:.3f}s, uninstall {result['uninstall']:.3f}s (under the profiler)")
    print("final state flush per graph (wall): " + ", ".join(f"{s:.3f}s" for s in flush_seconds))
    for group, profilers in profiles.items():
        if not profilers:
            continue
        stats = pstats.Stats(profilers[0])
        for profiler in profilers[1:]:
            stats.add(profiler)
        print(f"\n=== {group} ({len(profilers)} profiled calls), CPU seconds of those threads")
        stats.sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(top)


def _child_env() -> dict:
    # Both engines run as users run them: with bytecode caches (this sandbox sets
    # PYTHONDONTWRITEBYTECODE, which would recompile every module a run imports).
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_ours(workload: str, n: int, mode: str, workdir: str) -> dict:
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", workload, str(n), workdir, mode],
                          capture_output=True, text=True, timeout=3600, env=_child_env())
    if proc.returncode != 0:
        raise RuntimeError(f"cfy-local run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _once(runner, *args):
    workdir = tempfile.mkdtemp(prefix="bench-engine-")
    try:
        return runner(*args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _median(values: list[float]) -> float:
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, of {', '.join(WORKLOADS)}")
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--no-cloudify", action="store_true")
    parser.add_argument("--cloudify-max", type=int, default=1000,
                        help="largest N Cloudify's engine runs (beyond it cfy-local runs alone)")
    parser.add_argument("--turns", type=int, default=5, help="turns per size (ours, then Cloudify's, in turns)")
    parser.add_argument("--mode", choices=("cli", "engine"), default="cli",
                        help="cli: the whole `cfy executions start` command; engine: run_workflow in-process")
    parser.add_argument("--child", nargs=4, metavar=("WORKLOAD", "N", "WORKDIR", "MODE"))
    parser.add_argument("--profile", type=int, metavar="N",
                        help="profile cfy-local's run of N instances per engine thread (CPU time) and exit")
    args = parser.parse_args()
    if args.child:
        workload, n, workdir, mode = args.child
        print(json.dumps(child_ours(workload, int(n), workdir, mode)))
        return
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)}")
    if args.profile:
        for workload in workloads:
            profile_ours(workload, args.profile)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    python = None if args.no_cloudify else ensure_cloudify_venv()
    print(f"cfy-local: {'the whole `cfy executions start` command' if args.mode == 'cli' else 'run_workflow in-process'}"
          f"; Cloudify: env.execute (init_env excluded); both 8 threads, no task retries.")
    print("Times are medians over the turns; the two engines run in turns (ours, Cloudify's, ours, ...) and")
    print("'pair x' is the median of the per-turn ratios, so a machine whose speed drifts skews neither side.")
    print("RSS is the largest peak of the turns. 'same' = final runtime properties equal Cloudify's.")
    failures = 0
    for workload in workloads:
        print(f"\n== {workload}")
        print(f"{'N':>6} {'ours inst':>9} {'ours unin':>9} {'ours RSS':>8} {'cfy inst':>9} {'cfy unin':>9} "
              f"{'cfy RSS':>8} {'inst x':>7} {'unin x':>7} {'same':>5}")
        previous = None
        for n in sizes:
            ours_runs, their_runs = [], []
            with_cloudify = python is not None and n <= args.cloudify_max
            for _ in range(max(1, args.turns)):
                ours_runs.append(_once(run_ours, workload, n, args.mode))
                if with_cloudify:
                    their_runs.append(_once(run_cloudify, python, workload, n))
            inst = _median([r["install"] for r in ours_runs])
            unin = _median([r["uninstall"] for r in ours_runs])
            rss = max(r["rss_mb"] for r in ours_runs)
            row = f"{n:>6} {inst:>8.3f}s {unin:>8.3f}s {rss:>6.0f}MB"
            if their_runs:
                their_inst = _median([r["install"] for r in their_runs])
                their_unin = _median([r["uninstall"] for r in their_runs])
                their_rss = max(r["rss_mb"] for r in their_runs)
                inst_x = _median([t["install"] / o["install"] for o, t in zip(ours_runs, their_runs)])
                unin_x = _median([t["uninstall"] / o["uninstall"] for o, t in zip(ours_runs, their_runs)])
                reference = their_runs[0]
                same = all(r["final"] == reference["final"] and r["after_install"] == reference["after_install"]
                           for r in ours_runs + their_runs)
                failures += not same
                row += (f" {their_inst:>8.3f}s {their_unin:>8.3f}s {their_rss:>6.0f}MB {inst_x:>6.1f}x {unin_x:>6.1f}x"
                        f" {'yes' if same else 'NO':>5}")
            print(row, flush=True)
            if previous:
                prev_n, prev_total = previous
                print(f"{'':>6} growth vs N={prev_n}: x{(inst + unin) / prev_total:.1f} time for x{n / prev_n:.0f} "
                      f"instances", flush=True)
            previous = (n, inst + unin)
    if failures:
        print(f"\n{failures} row(s) ended with runtime properties other than Cloudify's")
        sys.exit(1)


if __name__ == "__main__":
    main()
