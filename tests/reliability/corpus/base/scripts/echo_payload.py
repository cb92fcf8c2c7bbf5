"""Python flavour: the input arrives through ctx / the environment, never through a shell."""
import os

from cloudify import ctx

payload = os.environ.get("payload")
with open(os.path.join(os.environ["marker_dir"], "payload.py"), "w") as fh:
    fh.write(payload or "")
ctx.instance.runtime_properties["payload_seen_py"] = payload
