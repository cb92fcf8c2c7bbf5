"""cfy-local's stand-in for the ``cloudify`` package, seen ONLY by script-operation processes.

cfy-local puts this folder on the script's PYTHONPATH (never on the worker's), so Python
scripts written for Cloudify's script plugin keep working: ``from cloudify import ctx``, then
``ctx.logger.info(...)``, ``ctx.node.properties['port']``,
``ctx.instance.runtime_properties['url'] = ...``, ``ctx.download_resource(...)``,
``ctx.returns(...)``, ``ctx.abort_operation(...)``, ``ctx.retry_operation(...)``.
Every access goes to the operation's ctx proxy, so it reads and writes the operation's real
context.
"""
from cloudify._remote_ctx import ctx  # noqa: F401
