"""The plugin catalog: uploaded plugins, their environments, and the ``plugin:`` import resolver."""
