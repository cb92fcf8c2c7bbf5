"""Operations of the reliability suite's crash blueprint.

``mark`` counts its runs in ``<marker_dir>/<name>.count`` (resume must not re-run a
succeeded operation). ``hold`` marks, then waits until ``<marker_dir>/release`` exists, so
a test can kill the worker while this operation is provably running.
"""
import os
import time

from cloudify import ctx
from cloudify.decorators import operation


@operation
def mark(marker_dir, name, **kwargs):
    with open(os.path.join(marker_dir, name + ".count"), "a") as fh:
        fh.write("run\n")
    ctx.instance.runtime_properties["marked"] = name


@operation
def hold(marker_dir, name, limit=120, **kwargs):
    mark(marker_dir, name)
    release = os.path.join(marker_dir, "release")
    deadline = time.monotonic() + float(limit)
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise RuntimeError("never released")
        time.sleep(0.02)
    ctx.instance.runtime_properties["held"] = True
