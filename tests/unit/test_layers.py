"""The package's real import graph: layers import only downward, no cycle, no private name.

Every import counts, function-level ones included (they are parsed from the source, not
observed at run time), so a lazy import cannot hide an upward edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
# package → folder, as pyproject.toml maps them
FOLDERS = {"agentrun": ROOT / "agentrun", "agentrun.agents": ROOT / "agents",
           "agentrun.graphs": ROOT / "graphs", "agentrun.prompts": ROOT / "prompts",
           "agentrun.memory": ROOT / "memory", "agentrun.training": ROOT / "training"}
# shell → graphs → agents → training / memory / models / prompts → kernel
LAYERS = [("agentrun.shell", 4), ("agentrun.graphs", 3), ("agentrun.agents", 2),
          ("agentrun.training", 1), ("agentrun.memory", 1), ("agentrun.models", 1),
          ("agentrun.prompts", 1), ("agentrun", 0)]


def layer(module: str) -> int:
    return next(rank for prefix, rank in LAYERS
                if module == prefix or module.startswith(prefix + "."))


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("").parts
            if package == "agentrun" and rel and rel[0] in ("agents", "graphs"):
                continue
            parts = [p for p in rel if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def imports(path: Path, module: str, known: set[str]) -> list[tuple[str, list[str], int]]:
    """Return (imported module, names taken from it, line) for every import in a file."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:  # `from pkg import module` imports the module
                sub = f"{base}.{alias.name}"
                out.append((sub, [], node.lineno) if sub in known
                           else (base, [alias.name], node.lineno))
    return [(m, names, line) for m, names, line in out if m.split(".")[0] == "agentrun"]


def graph() -> tuple[nx.DiGraph, list[str], list[str]]:
    found = modules()
    known = set(found)
    edges = nx.DiGraph()
    upward, private = [], []
    for module, path in found.items():
        edges.add_node(module)
        for target, names, line in imports(path, module, known):
            if target not in known:
                continue
            if target != module:
                edges.add_edge(module, target)
            where = f"{path.relative_to(ROOT)}:{line}"
            if layer(target) > layer(module):
                upward.append(f"{where}: {module} imports {target} (a layer above)")
            private += [f"{where}: {module} imports {target}.{n}" for n in names
                        if n.startswith("_") and target != module]
    return edges, upward, private


def test_layers_import_only_downward_with_no_cycle_and_no_private_name():
    edges, upward, private = graph()
    assert len(edges) > 40  # the walk found the package
    cycles = [c for c in nx.strongly_connected_components(edges) if len(c) > 1]
    assert upward == []
    assert private == []
    assert cycles == []


def test_the_walk_sees_function_level_imports(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from agentrun.shell.cli import app\n    return app\n")
    assert imports(source, "agentrun.schemas", {"agentrun.shell.cli"}) == [
        ("agentrun.shell.cli", ["app"], 2)]


def test_no_node_or_role_reads_the_environment():
    """Only the context reads the environment; nodes and roles get what they need passed in."""
    readers = []
    for path in [*(ROOT / "agents").glob("*.py"), *(ROOT / "graphs").glob("*.py")]:
        if path.name == "context.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") \
                    and isinstance(node.value, ast.Name) and node.value.id == "os":
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []


def test_no_role_module_is_larger_than_a_newcomer_reads_at_once():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in (ROOT / "agents").glob("*.py")}
    assert max(sizes.values()) <= 400, sizes
