"""Operation-host benchmark: the cost of running an operation in a plugin's own virtualenv.

The same plugin code runs twice on a deployment of N instances whose create/configure/start
and stop/delete each read and write a runtime property: once as a ``source:`` folder (the
in-process path: the worker imports it), once uploaded with ``cfy plugins upload`` (each
operation is a message to the warm operation host in the plugin's virtualenv, whose ctx
reads and writes come back to the worker). The difference divided by the number of
operations is the host's overhead per operation; the host starts during ``install``, so
``uninstall`` shows the warm figure. Measured for a plugin without cloudify-common (cfy-local's
shim) and, with --real (default), one with the real cloudify-common 7.0.5 from the package
registry (tests/plugins/resources/cfy-local-test-plugin, installed through pip once per run).
Goal: <= 20 ms per operation on a warm host.

    .venv/bin/python bench/bench_plugins.py [--instances 50] [--no-real]

Not a test.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import textwrap
import threading
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
GOAL_MS = 20.0

from cfy_local.deployments import api  # noqa: E402
from cfy_local.engine.workflow_run import run_workflow  # noqa: E402
from cfy_local.plugins import catalog  # noqa: E402
from cfy_local.store.event_log import EventWriter  # noqa: E402
from cfy_local.store.paths import Home  # noqa: E402

SHIM_CODE = """
from cloudify import ctx


def touch(**kwargs):
    ctx.instance.runtime_properties[ctx.operation.name.rsplit('.', 1)[-1]] = \\
        ctx.instance.runtime_properties.get('seen', 0) + 1
"""

OPS = ("create", "configure", "start", "stop", "delete")


def _blueprint(plugin_block: str, mapping: str, instances: int) -> str:
    ops = "\n".join(f"        {op}: {mapping}" for op in OPS)
    return (f"tosca_definitions_version: cloudify_dsl_1_4\nimports:\n  - cloudify/types/types.yaml\n"
            f"{plugin_block}\nnode_templates:\n  app:\n    type: cloudify.nodes.Root\n"
            f"    instances: {{deploy: {instances}}}\n    interfaces:\n      cloudify.interfaces.lifecycle:\n{ops}\n")


def _run(home: Home, deployment: str, workflow: str) -> float:
    execution = {"id": str(uuid.uuid4()), "workflow_id": workflow, "deployment_id": deployment,
                 "blueprint_id": deployment, "parameters": {}}
    writer = EventWriter(home.events_file(execution["id"]))
    start = time.perf_counter()
    try:
        run_workflow(home, execution, events=writer, cancel=threading.Event(), task_retries=0,
                     task_retry_interval=0, thread_pool_size=1)
    finally:
        writer.close()
    return time.perf_counter() - start


def _measure(home: Home, root: str, name: str, text: str) -> tuple[float, float]:
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "blueprint.yaml"), "w") as fh:
        fh.write(text)
    api.upload_blueprint(home, os.path.join(folder, "blueprint.yaml"), name)
    api.create_deployment(home, name, name, {})
    return _run(home, name, "install"), _run(home, name, "uninstall")


def _write_plugin(root: str, module: str, code: str) -> str:
    folder = os.path.join(root, f"src-{module}")
    os.makedirs(os.path.join(folder, module), exist_ok=True)
    with open(os.path.join(folder, module, "__init__.py"), "w") as fh:
        fh.write("")
    with open(os.path.join(folder, module, "tasks.py"), "w") as fh:
        fh.write(textwrap.dedent(code))
    with open(os.path.join(folder, "setup.py"), "w") as fh:
        fh.write(f"from setuptools import setup\nsetup(name='{module.replace('_', '-')}', version='1.0',"
                 f" packages=['{module}'])\n")
    return folder


def _report(label: str, base: tuple[float, float], host: tuple[float, float], instances: int) -> bool:
    install_ops, uninstall_ops = 3 * instances, 2 * instances
    warm = (host[1] - base[1]) / uninstall_ops * 1000
    cold = (host[0] - base[0]) / install_ops * 1000
    print(f"{label}: in-process install {base[0]:.2f} s / uninstall {base[1]:.2f} s; "
          f"operation host install {host[0]:.2f} s / uninstall {host[1]:.2f} s")
    print(f"{label}: overhead per operation, warm host: {warm:.2f} ms (goal <= {GOAL_MS:g} ms); "
          f"including the host's start during install: {cold:.2f} ms")
    return warm <= GOAL_MS


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--no-real", action="store_true")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as root:
        home = Home.open(os.path.join(root, "home"))
        plugin = _write_plugin(root, "bench_plug", SHIM_CODE)
        with open(os.path.join(root, "plugin.yaml"), "w") as fh:
            fh.write("plugins:\n  bench_plug:\n    executor: central_deployment_agent\n"
                     "    package_name: bench-plug\n    package_version: '1.0'\n")
        catalog.upload_plugin(home, plugin, [os.path.join(root, "plugin.yaml")])
        source_block = "plugins:\n  bench_src:\n    executor: central_deployment_agent\n    source: ../src-bench_plug\n"
        mapping_src = "bench_src.bench_plug.tasks.touch"
        # the in-process blueprint's folder holds a copy of the plugin as its source folder
        base_root = os.path.join(root, "inproc-root")
        shutil.copytree(plugin, os.path.join(base_root, "inproc", "src-bench_plug"))
        base = _measure(home, base_root, "inproc", _blueprint(source_block.replace("../", ""), mapping_src,
                                                               args.instances))
        uploaded_block = "plugins:\n  bench_plug:\n    executor: central_deployment_agent\n    package_name: bench-plug\n"
        host = _measure(home, root, "hosted", _blueprint(uploaded_block, "bench_plug.bench_plug.tasks.touch",
                                                         args.instances))
        ok &= _report("shim (no cloudify-common)", base, host, args.instances)
        if not args.no_real:
            # a copy: pip builds a source folder in place (build/, *.egg-info)
            real_src = os.path.join(root, "cfy-local-test-plugin")
            shutil.copytree(os.path.join(REPO, "tests", "plugins", "resources", "cfy-local-test-plugin"), real_src)
            print("installing the test plugin with cloudify-common 7.0.5 (pip)...", flush=True)
            catalog.upload_plugin(home, real_src, [os.path.join(real_src, "plugin.yaml")])
            block = ("plugins:\n  tp:\n    executor: central_deployment_agent\n"
                     "    package_name: cfy-local-test-plugin\n")
            real = _measure(home, root, "real", _blueprint(block, "tp.cfy_local_test_plugin.tasks.touch",
                                                           args.instances))
            ok &= _report("real cloudify-common 7.0.5", base, real, args.instances)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
