"""The state directory: paths, atomic writes, locks, versioned records, event logs.

Core package: no click, no textual. See docs/state.md for the layout and the lock order.
Import the submodules directly (``store.paths``, ``store.atomic``, ``store.locks``,
``store.records``, ``store.events``, ``store.instance_states``): this package imports
nothing itself, so a command pays only for the parts it uses.
"""
