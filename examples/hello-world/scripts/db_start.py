from cloudify import ctx
from cloudify.state import ctx_parameters as inputs

ctx.logger.info("starting database {0}".format(inputs["name"]))
ctx.instance.runtime_properties["started"] = True
