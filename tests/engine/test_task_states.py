"""The engine's task-state table: every pair of states, Cloudify's names, and real runs
going through it."""
import itertools
import json

import pytest

from cloudify_oracle import run_oracle
from cfy_local.engine import task_states
from cfy_local.engine.task_states import (TASK_FAILED, TASK_PENDING, TASK_RESCHEDULED, TASK_SENDING, TASK_SENT,
                                          TASK_STARTED, TASK_SUCCEEDED, InvalidTaskTransition, move)

# Written out on their own (not read from the table): the moves the engine makes.
ALLOWED = {
    (TASK_PENDING, TASK_STARTED),        # an attempt begins (a subgraph opens)
    (TASK_PENDING, TASK_SUCCEEDED),      # skipped on resume, an empty subgraph, an inline bookkeeping task
    (TASK_PENDING, TASK_FAILED),         # cancelled while waiting for its retry
    (TASK_PENDING, TASK_SENDING),        # Cloudify's remote-task path
    (TASK_SENDING, TASK_SENT),
    (TASK_SENDING, TASK_STARTED),
    (TASK_SENDING, TASK_FAILED),
    (TASK_SENT, TASK_STARTED),
    (TASK_SENT, TASK_FAILED),
    (TASK_STARTED, TASK_SUCCEEDED),
    (TASK_STARTED, TASK_RESCHEDULED),    # OperationRetry
    (TASK_STARTED, TASK_FAILED),
    (TASK_STARTED, TASK_PENDING),        # on_success asked for another attempt
    (TASK_RESCHEDULED, TASK_PENDING),
    (TASK_RESCHEDULED, TASK_FAILED),     # retries used up
    (TASK_FAILED, TASK_PENDING),         # the failure handler asked for a retry
}


class _Task:
    name = "probe"

    def __init__(self, state):
        self.state = state


@pytest.mark.parametrize("current,new", list(itertools.product(task_states.STATES, repeat=2)))
def test_every_pair_of_states(current, new):
    task = _Task(current)
    if current == new or (current, new) in ALLOWED:
        move(task, new)
        assert task.state == new
        assert task_states.can_move(current, new)
    else:
        with pytest.raises(InvalidTaskTransition, match=f"from '{current}' to '{new}'"):
            move(task, new)
        assert task.state == current
        assert not task_states.can_move(current, new)


def test_succeeded_is_final_and_failed_only_retries():
    assert task_states.TRANSITIONS[TASK_SUCCEEDED] == frozenset()
    assert task_states.TRANSITIONS[TASK_FAILED] == frozenset({TASK_PENDING})


def test_names_values_and_terminated_states_are_cloudifys():
    done = run_oracle(
        "import json\n"
        "from cloudify.workflows import tasks\n"
        "names = sorted(n for n in dir(tasks) if n.startswith('TASK_') and isinstance(getattr(tasks, n), str)"
        " and n != 'TASK_RESPONSE_SENT')\n"
        "print(json.dumps({'states': {n: getattr(tasks, n) for n in names},"
        " 'terminated': sorted(tasks.TERMINATED_STATES)}))\n", timeout=120)
    assert done.returncode == 0, done.stderr
    theirs = json.loads(done.stdout)
    ours = {name: getattr(task_states, name) for name in dir(task_states) if name.startswith("TASK_")}
    assert ours == theirs["states"]
    assert sorted(task_states.STATES) == sorted(theirs["states"].values())
    assert sorted(task_states.TERMINATED_STATES) == theirs["terminated"]


def test_a_run_with_retries_and_a_failure_moves_through_the_table(env):
    """Retried and failing operations, run for real: the graph records the states the
    table leads to (an illegal move would have failed the run with InvalidTaskTransition)."""
    env.deploy(RETRY_BLUEPRINT, RETRY_OPS)
    outcome = env.run("install", retries=2, interval=0)
    assert outcome.error is not None and "InvalidTaskTransition" not in outcome.error
    graph = json.loads(open(env.home.graph_file(outcome.execution_id)).read())
    states = {op["name"].split(".")[-1]: (op["state"], op["retries"]) for op in graph["operations"].values()
              if op["node_instance_id"].startswith("a_")}
    assert states["create"] == (TASK_SUCCEEDED, 1)   # rescheduled once, then succeeded
    assert states["configure"] == (TASK_FAILED, 0)   # NonRecoverableError: failed at once
    texts = outcome.texts()
    assert any(t.startswith("Task rescheduled") for t in texts)
    assert any(t.startswith("Task failed") for t in texts)


RETRY_OPS = '''
from cloudify import ctx
from cloudify.exceptions import NonRecoverableError, OperationRetry


def create(**_):
    if ctx.operation.retry_number == 0:
        raise OperationRetry("not yet")


def configure(**_):
    raise NonRecoverableError("broken")
'''

RETRY_BLUEPRINT = '''node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.create
        configure: p.PKG.ops.configure
'''
