"""Operations the executions tests steer with files in ``marker_dir``."""
import os
import subprocess
import time

from cloudify import ctx
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError

LIMIT = 120  # seconds an operation waits for a test's signal before giving up


def _count(marker_dir, name):
    with open(os.path.join(marker_dir, name + ".count"), "a") as fh:
        fh.write("run\n")


@operation
def mark(marker_dir, name, **kwargs):
    _count(marker_dir, name)
    ctx.logger.info("marked %s", name)


@operation
def hold(marker_dir, name, **kwargs):
    _count(marker_dir, name)
    if os.path.exists(os.path.join(marker_dir, "sleeper")):
        child = subprocess.Popen(["sleep", str(LIMIT)])
        with open(os.path.join(marker_dir, "sleeper.pid"), "w") as fh:
            fh.write(str(child.pid))
        child.wait()
        return
    if not os.path.exists(os.path.join(marker_dir, "hold")):
        return
    with open(os.path.join(marker_dir, "holding-" + str(os.getpid())), "w"):
        pass
    deadline = time.monotonic() + LIMIT
    while not os.path.exists(os.path.join(marker_dir, "release")):
        if time.monotonic() > deadline:
            raise NonRecoverableError("never released")
        time.sleep(0.02)


@operation
def maybe_fail(marker_dir, name, **kwargs):
    _count(marker_dir, name)
    if os.path.exists(os.path.join(marker_dir, "fail")):
        raise NonRecoverableError("configure failed on purpose")
