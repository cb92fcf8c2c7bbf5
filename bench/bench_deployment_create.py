"""Deployment create for a 1,000-instance blueprint (target <= 1 s).

Builds a blueprint of 1,000 node instances: 10 hosts, each containing 49 web servers and 49
workers, the workers connected_to 10 databases (a fan-out of 4,900 relationship instances).
Uploads it once, then times `create_deployment` (the core call `cfy deployments create` makes) for
several fresh deployments and prints the median, the target and the ratio, plus the
instance count actually written.
Usage: .venv/bin/python bench/bench_deployment_create.py [runs]
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

TARGET_S = 1.0
BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
inputs:
  port: {type: integer, default: 8080}
node_templates:
  host:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
    capabilities: {scalable: {properties: {default_instances: 10}}}
  app:
    type: cloudify.nodes.WebServer
    properties: {port: {get_input: port}}
    capabilities: {scalable: {properties: {default_instances: 49}}}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/create.sh
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
  worker:
    type: cloudify.nodes.ApplicationModule
    capabilities: {scalable: {properties: {default_instances: 49}}}
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
      - {type: cloudify.relationships.connected_to, target: db}
  db:
    type: cloudify.nodes.DBMS
    capabilities: {scalable: {properties: {default_instances: 10}}}
"""


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    from cfy_local.deployments import api
    from cfy_local.store.paths import Home

    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "big")
        os.makedirs(os.path.join(folder, "scripts"))
        with open(os.path.join(folder, "blueprint.yaml"), "w") as fh:
            fh.write(BLUEPRINT)
        with open(os.path.join(folder, "scripts", "create.sh"), "w") as fh:
            fh.write("#!/bin/sh\nctx logger info hi\n")
        home = Home.open(os.path.join(tmp, "home"))
        start = time.perf_counter()
        api.upload_blueprint(home, os.path.join(folder, "blueprint.yaml"))
        upload_s = time.perf_counter() - start
        times = []
        count = 0
        for i in range(runs):
            start = time.perf_counter()
            api.create_deployment(home, f"big{i}", "big", {})
            times.append(time.perf_counter() - start)
            count = len(os.listdir(home.node_instances_dir(f"big{i}")))
        median = statistics.median(times)
        print(f"blueprint upload (parse + copy): {upload_s * 1000:.0f} ms")
        print(f"deployment create, {count} node instances: median {median * 1000:.0f} ms over {runs} runs "
              f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); target {TARGET_S * 1000:.0f} ms; "
              f"ratio {median / TARGET_S:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
