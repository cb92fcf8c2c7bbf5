"""The import graph of cfy_local, function-level imports included.

    python tools/import_graph.py            # cycles (strongly connected components) and their edges
    python tools/import_graph.py --deferred # also every import of a cfy_local module made inside a function

Exit status 1 when there is a cycle. An edge goes from the importing module to the most specific
cfy_local module named (``from cfy_local.x import y`` is an edge to ``cfy_local.x.y`` when that
is a module, else to ``cfy_local.x``): the same reading as import-linter's.
"""
from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "cfy_local"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    deferred: bool  # made inside a function body


def module_names(root: Path = ROOT) -> dict[str, Path]:
    names = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(tree: ast.AST):
    """(node, inside a function) for every import statement in the tree."""
    stack = [(tree, False)]
    while stack:
        node, deferred = stack.pop()
        for child in ast.iter_child_nodes(node):
            inner = deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, deferred
            stack.append((child, inner))


def edges(root: Path = ROOT) -> list[Edge]:
    names = module_names(root)
    found = []

    def most_specific(name: str) -> str | None:
        while name and name not in names:
            name = name.rpartition(".")[0]
        return name or None

    for module, path in names.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node, deferred in _imports(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve(module, is_package, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in names else base)
            for target in targets:
                if not (target == PACKAGE or target.startswith(PACKAGE + ".")):
                    continue
                resolved = most_specific(target)
                if resolved and resolved != module:
                    found.append(Edge(module, resolved, node.lineno, deferred))
    return found


def cycles(all_edges: list[Edge], allowed=frozenset()) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), ``allowed``
    (source, target) pairs left out of the graph."""
    graph: dict[str, set[str]] = {}
    for e in all_edges:
        if (e.source, e.target) in allowed:
            continue
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        # Iterative Tarjan: the graph is small but recursion depth is not worth the risk.
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on_stack.add(v)
        while work:
            node, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1
                    stack.append(w); on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        w = stack.pop(); on_stack.discard(w)
                        component.append(w)
                        if w == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out, key=lambda c: (-len(c), c))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deferred", action="store_true",
                        help="list every import of a cfy_local module made inside a function")
    args = parser.parse_args(argv)
    all_edges = edges()
    found = cycles(all_edges)
    for component in found:
        members = set(component)
        print(f"cycle of {len(component)} modules:")
        for name in component:
            print(f"  {name}")
        for e in sorted(all_edges, key=lambda e: (e.source, e.line)):
            if e.source in members and e.target in members:
                kind = "function-level" if e.deferred else "module-level"
                print(f"    {e.source}:{e.line} -> {e.target} ({kind})")
    deferred = [e for e in all_edges if e.deferred]
    if args.deferred:
        for e in sorted(deferred, key=lambda e: (e.source, e.line)):
            print(f"deferred: {e.source}:{e.line} -> {e.target}")
    print(f"{len(found)} cycle(s); {len(all_edges)} edges, {len(deferred)} function-level")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
