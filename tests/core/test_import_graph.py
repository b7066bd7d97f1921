"""No import cycle anywhere in the package (issue 14 §1): the graph of every import statement of `xgem_bench`,
`adapters` and `reference_model` (module level and inside functions: a lazy import is still a dependency) is acyclic."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: import name -> source folder (adapters/ and reference_model/ install as sub-packages of xgem_bench)
PACKAGES = {"xgem_bench": REPO / "xgem_bench", "xgem_bench.adapters": REPO / "adapters",
            "xgem_bench.reference_model": REPO / "reference_model"}


def _modules(packages: dict[str, Path]) -> dict[str, Path]:
    modules = {}
    for package, root in packages.items():
        for file in root.rglob("*.py"):
            if "drivers" in file.relative_to(root).parts:  # run by the models' own interpreters, never imported
                continue
            parts = list(file.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = file
    return modules


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported name lives in (`pkg.mod.attr` -> `pkg.mod`), or None outside the packages."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(packages: dict[str, Path]) -> dict[str, set[str]]:
    modules = _modules(packages)
    graph = {}
    for name, file in modules.items():
        is_package = file.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {_known(alias.name, modules) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                # `from pkg import mod` depends on the submodule, `from mod import attr` on the module
                targets |= {_known(f"{base}.{alias.name}", modules) if f"{base}.{alias.name}" in modules
                            else _known(base, modules) for alias in node.names}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_packages_have_no_import_cycle():
    graph = import_graph(PACKAGES)
    assert {"xgem_bench.adapters.base", "xgem_bench.reference_model.training"} <= set(graph)
    assert "xgem_bench.measurements" in graph["xgem_bench.tables"]  # the walk sees real edges
    assert cycles(graph) == []


def test_the_cycle_finder_sees_direct_lazy_and_relative_cycles(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from pkg import a\n")  # lazy, inside a function
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "c.py").write_text("from . import d\n")
    (package / "sub" / "d.py").write_text("from ..sub.c import x\nimport pkg.a\n")
    graph = import_graph({"pkg": package})
    assert sorted(cycles(graph)) == [["pkg.a", "pkg.b"], ["pkg.sub.c", "pkg.sub.d"]]
    (package / "b.py").write_text("import os\n")
    assert cycles(import_graph({"pkg": package})) == [["pkg.sub.c", "pkg.sub.d"]]
