"""Custom workflows of the conformance test plugin, written as Cloudify users write them."""
from cloudify.decorators import workflow
from cloudify.exceptions import NonRecoverableError
from cloudify.workflows import ctx as workflow_ctx  # noqa: F401 - the proxy real plugins import


@workflow
def graph_sequence(ctx, operation="custom.op", **kwargs):
    """Every instance runs ``operation`` one after the other, in node-id order."""
    graph = ctx.graph_mode()
    sequence = graph.sequence()
    for node in sorted(ctx.nodes, key=lambda n: n.id):
        for instance in node.instances:
            sequence.add(instance.execute_operation(operation))
    graph.execute()


@workflow
def graph_dependencies(ctx, **kwargs):
    """custom.second on every instance waits for custom.first on every instance."""
    graph = ctx.graph_mode()
    firsts, seconds = [], []
    for node in ctx.nodes:
        for instance in node.instances:
            # Cloudify's add_task returns nothing: keep the task objects themselves.
            first = instance.execute_operation("custom.first")
            second = instance.execute_operation("custom.second")
            graph.add_task(first)
            graph.add_task(second)
            firsts.append(first)
            seconds.append(second)
    for second in seconds:
        for first in firsts:
            graph.add_dependency(second, first)
    graph.execute()


@workflow
def non_graph_then_graph(ctx, **kwargs):
    """Runs an operation without a graph, then asks for graph mode (Cloudify refuses)."""
    for node in ctx.nodes:
        for instance in node.instances:
            instance.execute_operation("custom.op").get()
    ctx.graph_mode()


@workflow
def non_graph_sequence(ctx, **kwargs):
    """Operations started without a graph, each awaited before the next."""
    for node in sorted(ctx.nodes, key=lambda n: n.id):
        for instance in node.instances:
            instance.execute_operation("custom.first").get()
            instance.execute_operation("custom.second").get()


@workflow
def set_states(ctx, state="configured", **kwargs):
    """set_state on every instance, then store what get_state read back via an operation."""
    graph = ctx.graph_mode()
    for node in ctx.nodes:
        for instance in node.instances:
            sequence = graph.sequence()
            sequence.add(instance.set_state(state),
                         instance.execute_operation("custom.op", kwargs={"set_props": {"seen": state}}))
    graph.execute()


def _local_marker(label):
    return "local:{0}".format(label)


@workflow
def local_tasks(ctx, fail_local=False, **kwargs):
    """A local task between two operations; it may fail with a marker."""
    graph = ctx.graph_mode()

    def check():
        if fail_local:
            raise NonRecoverableError("ERR:local_task refused")
        return _local_marker("ok")

    for node in ctx.nodes:
        for instance in node.instances:
            sequence = graph.sequence()
            sequence.add(instance.execute_operation("custom.first"),
                         ctx.local_task(check, node=instance, info="check"),
                         instance.execute_operation("custom.second"))
    graph.execute()


@workflow
def with_parameters(ctx, count, label="default-label", flags=None, **kwargs):
    """Hands its parameters to an operation, which stores them."""
    graph = ctx.graph_mode()
    for node in ctx.nodes:
        for instance in node.instances:
            graph.add_task(instance.execute_operation(
                "custom.op", kwargs={"set_props": {"count": count, "label": label, "flags": flags}},
                allow_kwargs_override=True))
    graph.execute()


@workflow
def scaling_groups_facts(ctx, **kwargs):
    """Stores the deployment's scaling groups (names, members, planned instances)."""
    groups = ctx.deployment.scaling_groups
    graph = ctx.graph_mode()
    facts = {name: {"members": sorted(group.get("members") or []),
                    "planned_instances": (group.get("properties") or {}).get("planned_instances")}
             for name, group in (groups or {}).items()}
    for node in ctx.nodes:
        for instance in node.instances:
            graph.add_task(instance.execute_operation("custom.op", kwargs={"set_props": {"groups": facts}}))
    graph.execute()


@workflow
def failing_subgraph(ctx, **kwargs):
    """A task that fails for good inside a sequence: the rest of the sequence never runs."""
    graph = ctx.graph_mode()
    for node in ctx.nodes:
        for instance in node.instances:
            sequence = graph.sequence()
            sequence.add(instance.execute_operation("custom.fail"),
                         instance.execute_operation("custom.second"))
    graph.execute()

