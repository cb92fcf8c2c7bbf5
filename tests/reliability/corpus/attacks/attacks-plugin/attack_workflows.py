"""Workflows of the reliability suite's attack blueprint."""
import os
import time

from cloudify.decorators import workflow
from cloudify.workflows import ctx as workflow_ctx


@workflow
def chatty(ctx=None, lines=100, size=200, **kwargs):
    """Log heavily (fills a small disk)."""
    ctx = ctx or workflow_ctx
    payload = "x" * int(size)
    for number in range(int(lines)):
        ctx.logger.info("line %d %s", number, payload)


@workflow(resumable=True)
def pause(ctx=None, seconds=0.2, marker_dir="", **kwargs):
    ctx = ctx or workflow_ctx
    if marker_dir:
        with open(os.path.join(marker_dir, "paused.pid"), "w") as fh:
            fh.write(str(os.getpid()))
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
    ctx.logger.info("paused %s s", seconds)


@workflow
def kwargs(ctx=None, operation_kwargs=None, **other):
    ctx = ctx or workflow_ctx
    pairs = sorted(operation_kwargs.items())
    ctx.logger.info("kwargs %s", pairs)
    return dict(pairs)


def _one_operation(ctx, node_id, operation):
    graph = ctx.graph_mode()
    for instance in ctx.get_node(node_id).instances:
        graph.add_task(instance.execute_operation(operation))
    return graph.execute()


@workflow(resumable=True)
def stubborn_only(ctx=None, **kwargs):
    _one_operation(ctx or workflow_ctx, "stubborn", "cloudify.interfaces.lifecycle.create")


@workflow
def noise_only(ctx=None, **kwargs):
    _one_operation(ctx or workflow_ctx, "noisy", "cloudify.interfaces.lifecycle.configure")
