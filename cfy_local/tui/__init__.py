"""``cfy tui``: a Textual terminal UI over the state directory.

``model`` holds the data layer (no textual: benches and tests drive it headless); ``app``,
``screens``, ``table`` and ``widgets`` are the Textual parts, imported only by ``cfy tui``.
"""
