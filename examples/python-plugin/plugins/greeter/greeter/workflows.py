from cloudify.decorators import workflow
from cloudify.workflows import ctx


@workflow
def greet_all(salutation="Hello", repeat=1, shout=False, **kwargs):
    word = salutation.upper() if shout else salutation
    for _ in range(repeat):
        for node in ctx.nodes:
            for instance in node.instances:
                instance.execute_operation("cloudify.interfaces.lifecycle.start",
                                           kwargs={"salutation": word},
                                           allow_kwargs_override=True).get()
    ctx.logger.info("greeted everyone {0} time(s)".format(repeat))
