from cloudify import ctx
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError


@operation
def create(**kwargs):
    names = ctx.node.properties["names"]
    if not names:
        raise NonRecoverableError("nobody to greet")
    ctx.instance.runtime_properties["names"] = names


@operation
def greet(salutation="Hi", **kwargs):
    names = ctx.instance.runtime_properties.get("names") or ctx.node.properties["names"]
    text = ", ".join("{0} {1}".format(salutation, name) for name in names)
    ctx.logger.info(text)
    ctx.instance.runtime_properties["last_greeting"] = text
    return text


@operation
def delete(**kwargs):
    ctx.instance.runtime_properties.pop("names", None)
