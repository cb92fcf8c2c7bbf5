"""The state directory: paths, atomic writes, locks, versioned records, event logs.

Core module: no click, no textual. See docs/state.md for the layout and the lock order.
"""
from cfy_local.store.paths import Home, resolve_home
from cfy_local.store.atomic import atomic_write_bytes, atomic_write_json, read_json
from cfy_local.store.locks import lock

__all__ = ["Home", "resolve_home", "atomic_write_bytes", "atomic_write_json", "read_json", "lock"]
