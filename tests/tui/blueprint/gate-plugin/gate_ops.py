"""The TUI end-to-end tests' operation: wait until a file exists (bounded)."""
import os
import time

from cloudify import ctx
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError

LIMIT = 60  # seconds to wait for the test's signal before giving up


@operation
def wait(release, **kwargs):
    ctx.logger.info("gate waiting for %s", release)
    deadline = time.monotonic() + LIMIT
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise NonRecoverableError("never released")
        time.sleep(0.05)


@operation
def note(**kwargs):
    ctx.logger.info("after ran")


@operation
def flaky(release, **kwargs):
    """Fails with a retryable error until the release file exists (a retrying run)."""
    from cloudify.exceptions import RecoverableError

    if not os.path.exists(release):
        raise RecoverableError(f"backend not reachable until {os.path.basename(release)} exists", retry_after=2)
    ctx.logger.info("flaky reached the backend")
