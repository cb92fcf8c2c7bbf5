from cloudify import ctx

port = ctx.node.properties["port"]
ctx.logger.info("web app listening on port {0}".format(port))
ctx.instance.runtime_properties["listening"] = port
