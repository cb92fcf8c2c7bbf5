"""No import cycle among cfy_local's modules, imports made inside functions included.

import-linter (run by `make test`, configured in pyproject.toml) checks the layers; this
checks the cycles with tools/import_graph.py, which reads every import statement itself.
"""
import importlib.util
import os
import sys
import tomllib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Imports excused from both checks (none: every layer is kept, function-level imports too).
ALLOWED: set[tuple[str, str]] = set()


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", os.path.join(REPO, "tools", "import_graph.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_graph", module)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycle_counting_function_level_imports():
    graph = _import_graph()
    found = graph.cycles(graph.edges(), ALLOWED)
    assert found == [], f"import cycles among cfy_local modules (run tools/import_graph.py): {found}"


def test_allowed_edges_are_the_import_linter_ignores():
    """The two checks excuse exactly the same imports."""
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        config = tomllib.load(f)["tool"]["importlinter"]
    ignored = set()
    for contract in config["contracts"]:
        for line in contract.get("ignore_imports", []):
            source, _, target = line.partition(" -> ")
            ignored.add((source.strip(), target.strip()))
    assert ignored == ALLOWED


def _package(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / "cfy_local" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_check_sees_a_cycle_made_by_an_import_inside_a_function(tmp_path):
    graph = _import_graph()
    root = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "def later():\n    from cfy_local import high\n    return high\n",
        "high.py": "from cfy_local.low import later\n",
        "pkg/__init__.py": "",
        "pkg/leaf.py": "from . import sibling\n",
        "pkg/sibling.py": "",
    })
    edges = graph.edges(root)
    deferred = {(e.source, e.target) for e in edges if e.deferred}
    assert deferred == {("cfy_local.low", "cfy_local.high")}
    assert ("cfy_local.pkg.leaf", "cfy_local.pkg.sibling") in {(e.source, e.target) for e in edges}
    assert graph.cycles(edges) == [["cfy_local.high", "cfy_local.low"]]
    assert graph.cycles(edges, {("cfy_local.low", "cfy_local.high")}) == []
