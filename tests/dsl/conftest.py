"""Fixture for DSL tests: write a blueprint folder."""
from __future__ import annotations

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
