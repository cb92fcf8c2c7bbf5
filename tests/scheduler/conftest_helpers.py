"""Re-export of the root conftest's bounded polling helper for the tests in this folder."""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_root_conftest", Path(__file__).resolve().parent.parent / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
wait_for = _root.wait_for
