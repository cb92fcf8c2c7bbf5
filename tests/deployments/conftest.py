"""Helpers for DSL tests: write a blueprint folder; fingerprint a state directory."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

HEADER = "tosca_definitions_version: cloudify_dsl_1_4\nimports:\n  - cloudify/types/types.yaml\n"


@pytest.fixture
def write_blueprint(tmp_path):
    """``write_blueprint(body, files={...}, folder="bp")`` → path of ``blueprint.yaml``."""

    def write(body: str, *, files: dict[str, str] | None = None, folder: str = "bp", header: bool = True,
              name: str = "blueprint.yaml") -> Path:
        root = tmp_path / folder
        root.mkdir(parents=True, exist_ok=True)
        text = (HEADER if header else "") + textwrap.dedent(body)
        (root / name).write_text(text)
        for rel, content in (files or {}).items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(content))
        return root / name

    return write


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
