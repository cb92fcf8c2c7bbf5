"""Cloudify's REST API (v3.1 subset) over the cfy-local core: an adapter like cli/ and tui/.

``server`` holds the HTTP server (standard library ThreadingHTTPServer), ``routes`` maps
each endpoint onto the core operations the CLI calls, ``views`` gives records the shapes
Cloudify's clients read, ``auth`` checks credentials, ``archive`` unpacks uploaded
blueprints safely. Nothing in the CLI imports this package except ``cfy serve``.
"""
