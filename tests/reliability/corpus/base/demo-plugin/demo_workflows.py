"""Workflows of the reliability suite's base blueprint."""
import time

from cloudify.decorators import workflow
from cloudify.workflows import ctx as workflow_ctx


@workflow
def tuned(ctx=None, level=1, mode="fast", flag=False, target=None, **kwargs):
    (ctx or workflow_ctx).logger.info("tuned level=%s mode=%s flag=%s target=%s", level, mode, flag, target)
    return {"level": level, "mode": mode}


@workflow(resumable=True)
def pause(ctx=None, seconds=0.2, **kwargs):
    """Sleep in short steps so a cancel request is seen quickly. Resumable: it holds no
    state, so running it again from the start is a correct resume."""
    ctx = ctx or workflow_ctx
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
    ctx.logger.info("paused %s s", seconds)
