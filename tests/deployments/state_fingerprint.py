"""A snapshot of a state directory, to assert that a refused request wrote nothing."""
from __future__ import annotations

import os
from pathlib import Path


def fingerprint(home: Path) -> dict[str, bytes]:
    """Every state file and its content (lock files and cache/ are not state)."""
    out = {}
    if not home.exists():
        return out
    for folder, _dirs, names in os.walk(home):
        rel_folder = os.path.relpath(folder, home)
        if rel_folder.split(os.sep)[0] in ("locks", "cache"):
            continue
        for name in names:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, home)] = Path(path).read_bytes()
    return out
