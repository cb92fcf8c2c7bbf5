"""Helpers for the script-operation tests: writing blueprint files, and bounded polling."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

from polling import wait_for  # noqa: F401  (re-exported for the tests in this folder)


def write(folder: Path, relative: str, text: str, mode: int = 0o644) -> Path:
    """Write a (dedented) file under ``folder``."""
    path = Path(folder) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    os.chmod(path, mode)
    return path
