"""The layering rule of ARCHITECTURE.md, checked on the source: ``sdactors -> projections ->
events``, never the other way; inside ``sdactors``, each room imports only the rooms below it;
and no import circle between modules, counting imports inside functions and under
``TYPE_CHECKING`` (a circle a lazy import hides is still a circle a reader has to untangle)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("events", "projections", "sdactors")
# What each package may import of ours, besides itself.
ALLOWED = {"events": set(), "projections": {"events"}, "sdactors": {"events", "projections"}}
# The rooms of ``sdactors``, lowest first (DESIGN.md, "Rooms"): a room imports only rooms of a
# lower rank; rooms of one rank do not import each other.
ROOMS: tuple[tuple[str, ...], ...] = (
    ("runtime",),
    ("indexer",),
    ("volumes", "watch", "fileops", "media", "semantic"),
    ("jobs",),
    ("library",),
    ("net", "replay", "agent"),
    ("ops",),
    ("node",),
    ("cli",),
)
RANK = {room: rank for rank, rooms in enumerate(ROOMS) for room in rooms}
# What may sit at the root of ``sdactors`` besides the rooms.
ROOT_MODULES = {"sdactors", "sdactors.__main__"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module (or package) imported
    line: int
    top_level: bool  # runs when the module is imported (not inside a function)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import of one of our modules in ``path``, resolved to a module name."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
                continue
            if isinstance(child, ast.If) and _type_checking_only(child):
                visit(child, False)  # never runs: not part of import order
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(module, alias.name, child.lineno, top_level))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    prefix = ".".join(base + ([child.module] if child.module else []))
                else:
                    prefix = child.module or ""
                for alias in child.names:
                    # ``from pkg import mod`` imports the module pkg.mod when there is one.
                    candidate = f"{prefix}.{alias.name}"
                    target = candidate if candidate in modules else prefix
                    found.append(Import(module, target, child.lineno, top_level))
            visit(child, top_level)

    visit(tree, True)
    return [imp for imp in found if imp.target.split(".")[0] in PACKAGES]


def test_the_source_tree_is_found() -> None:
    modules = all_modules()
    for must in ("events.store", "projections.runner", "sdactors.node.node", "sdactors.cli.main"):
        assert must in modules


def test_layers_only_depend_downwards() -> None:
    modules = all_modules()
    wrong = []
    for module, path in modules.items():
        layer = module.split(".")[0]
        for imp in imports_of(module, path, modules):
            target_layer = imp.target.split(".")[0]
            if target_layer != layer and target_layer not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(ROOT)}:{imp.line}: {layer} imports {imp.target}")
    assert not wrong, "imports across layers the wrong way:\n" + "\n".join(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
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


def test_cycle_finder_finds_cycles() -> None:
    """The checker itself must be able to fail."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules() -> None:
    """Every import counts, lazy and ``TYPE_CHECKING`` ones included: deferring an import
    hides a circle from the interpreter, not from the reader."""
    modules = all_modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for imp in imports_of(module, path, modules):
            if imp.target in modules and imp.target != module:
                graph[module].add(imp.target)
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_import_finder_resolves_every_form(tmp_path: Path) -> None:
    """The checker itself must see each way of importing, or a violation could slip by."""
    modules = all_modules()
    source = tmp_path / "fake.py"
    source.write_text(
        "import sdactors.node.node\n"
        "from projections import runner\n"
        "from . import codec\n"
        "from .domain import tags\n"
        "import os\n"
        "def later():\n"
        "    from sdactors.cli import main\n"
        "if TYPE_CHECKING:\n"
        "    import sdactors.library.handle\n"
    )
    found = {(i.target, i.top_level) for i in imports_of("events.fake", source, modules)}
    assert found == {
        ("sdactors.node.node", True),
        ("projections.runner", True),
        ("events.codec", True),
        ("events.domain.tags", True),
        ("sdactors.cli.main", False),
        ("sdactors.library.handle", False),
    }


def room_of(module: str) -> str | None:
    """The room of a module of ``sdactors`` (its first sub-package), None for the root."""
    parts = module.split(".")
    return parts[1] if parts[0] == "sdactors" and len(parts) > 1 else None


def test_every_module_of_sdactors_sits_in_a_room() -> None:
    loose = [
        m
        for m in all_modules()
        if m.startswith("sdactors") and m not in ROOT_MODULES and room_of(m) not in RANK
    ]
    assert not loose, "modules outside the rooms of ROOMS: " + ", ".join(sorted(loose))


def test_rooms_only_depend_downwards() -> None:
    """Counting every import: a lazy import of a higher room is still a dependency on it."""
    modules = all_modules()
    wrong = []
    for module, path in modules.items():
        room = room_of(module)
        if room not in RANK:
            continue
        for imp in imports_of(module, path, modules):
            target = room_of(imp.target)
            if target is None or target == room:
                continue
            if target not in RANK or RANK[target] >= RANK[room]:
                where = "" if imp.top_level else " (lazy or TYPE_CHECKING)"
                wrong.append(
                    f"{path.relative_to(ROOT)}:{imp.line}: {room} imports {imp.target}{where}"
                )
    assert not wrong, "imports between rooms the wrong way:\n" + "\n".join(wrong)
