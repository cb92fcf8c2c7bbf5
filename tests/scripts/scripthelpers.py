"""Helpers for the script-operation tests: writing blueprint files, and the root conftest's
bounded polling (loaded by path: several test folders have a ``conftest`` module)."""
from __future__ import annotations

import importlib.util
import os
import textwrap
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_scripts_root_conftest",
                                               Path(__file__).resolve().parent.parent / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
wait_for = _root.wait_for


def write(folder: Path, relative: str, text: str, mode: int = 0o644) -> Path:
    """Write a (dedented) file under ``folder``."""
    path = Path(folder) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    os.chmod(path, mode)
    return path
