"""``cloudify.state`` for script processes: ``ctx`` and ``ctx_parameters`` (the operation inputs)."""
from cloudify._remote_ctx import ctx, load_parameters  # noqa: F401

ctx_parameters = load_parameters()
