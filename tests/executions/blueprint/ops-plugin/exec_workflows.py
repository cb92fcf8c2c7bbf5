"""A custom workflow that returns a value built from its parameters."""
from cloudify.decorators import workflow
from cloudify.workflows import ctx


@workflow
def hello(greeting="hi", times=1, **kwargs):
    ctx.logger.info("%s x%s", greeting, times)
    return {"greeting": greeting, "times": times}
