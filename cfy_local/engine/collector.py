"""The cyclic garbage collector and what a workflow run keeps for its whole length.

A run builds tens of thousands of small objects that live until it ends — the ctx's
snapshot of nodes and instances, then the task graph — and makes almost no cyclic garbage
while it runs (a 1,000-instance install and uninstall that share one target: 480 objects
collected in all). Walking the long-lived objects again at every collection only costs:
at the default threshold a tenth of a 1,000-instance install, and the collections made
while a 10,000-instance ctx loaded walked what it had loaded so far again and again (the
load took 0.42 s, 16 times the load of 1,000). So what a run keeps is built with the
collector paused and then set aside from it (``gc.freeze``); ``release`` hands it all back
when the graph or the run ends.
"""
from __future__ import annotations

import gc


def collect_less_often() -> None:
    """The collector's setting for a process that runs a workflow (the executions worker,
    for the rest of its life): collections of the youngest objects every 20,000
    allocations instead of 700. Not set back after the run: lowering the threshold made the
    next allocation collect the whole heap (70 ms at 1,000 instances), between the run's
    last event and its recorded end."""
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], 20000), *threshold[1:])


class building_long_lived:  # noqa: N801 - used as ``with building_long_lived():``
    """Pause the collector while the block builds objects that live until the run (or its
    graph) ends; when the block ends well, set everything built so far aside before turning
    it back on — else the first allocation after the block walks all of it at once (50 ms
    after the build of 1,000 instances). A block that raised only turns it back on."""

    def __enter__(self) -> None:
        self.collecting = gc.isenabled()
        gc.disable()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.collecting:
            if exc_type is None:
                gc.freeze()
            gc.enable()


def set_aside() -> None:
    """Everything alive now is kept until ``release`` (a graph about to run)."""
    gc.freeze()


def release() -> None:
    """Hand every object set aside back to the collector (a graph or a run ended); what is
    garbage by then is found at a later collection."""
    gc.unfreeze()
