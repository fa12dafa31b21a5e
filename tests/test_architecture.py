"""The package's shape: imports flow one way through the layers of docs/architecture.md,
no module imports itself back in a circle, and the architecture page names every module.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = SRC / "agentsched"

# Bottom to top: a module may import its own layer and the layers below it, never above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "agentsched.errors",
            "agentsched.ids",
            "agentsched.clock",
            "agentsched._instants",
            "agentsched._checks",
            "agentsched._log",
        ),
    ),
    ("timing", ("agentsched.timing",)),
    ("records", ("agentsched.model",)),
    ("rules", ("agentsched.rules",)),
    ("stores", ("agentsched.stores",)),
    ("testing", ("agentsched.testing",)),
    ("firing", ("agentsched.firing",)),
    ("shells", ("agentsched.schedulers",)),
    ("public names", ("agentsched",)),  # the package itself: what faces import
    (
        "faces",
        (
            "agentsched.cli",
            "agentsched.web",
            "agentsched.asgi",
            "agentsched.otel",
            "agentsched.__main__",
        ),
    ),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific prefix naming `module`."""
    best, depth = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module.startswith(prefix + ".") and prefix != "agentsched"
            if (module == prefix or inside) and len(prefix) > depth:
                best, depth = index, len(prefix)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best


def _type_checking_only(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(module: str, *, top_level_only: bool) -> Iterator[tuple[str, int]]:
    """(imported agentsched module, line) for each import of `module`; with
    `top_level_only`, only those run when the module is imported (not inside
    functions, not under TYPE_CHECKING)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())

    def targets(node: ast.stmt) -> Iterator[tuple[str, int]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "agentsched":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            if origin.split(".")[0] != "agentsched":
                return
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                yield (submodule if submodule in MODULES else origin), node.lineno

    def walk(body: list[ast.stmt]) -> Iterator[tuple[str, int]]:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                yield from targets(node)
            elif isinstance(node, ast.If) and _type_checking_only(node):
                if not top_level_only:
                    yield from walk(node.body)
            elif not top_level_only:
                for child in ast.walk(node):
                    if isinstance(child, (ast.Import, ast.ImportFrom)):
                        yield from targets(child)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for inner in getattr(node, field, []):
                        if isinstance(inner, ast.ExceptHandler):
                            yield from walk(inner.body)
                        else:
                            yield from walk([inner])

    yield from walk(tree.body)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    own = layer_of(module)
    upward = [
        f"{module}:{line} imports {target} ({LAYERS[layer_of(target)][0]} is above "
        f"{LAYERS[own][0]})"
        for target, line in imports(module, top_level_only=False)
        if layer_of(target) > own
    ]
    assert not upward


def test_no_circle_of_imports() -> None:
    graph = {
        module: {target for target, _ in imports(module, top_level_only=True)} - {module}
        for module in MODULES
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in MODULES:
                continue
            if state.get(target) == 1:
                circle = [*path[path.index(target) :], target]
                pytest.fail("a circle of imports: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_architecture_page_names_every_module() -> None:
    """Each module by its path, or by a tail of it that is unique (`sqlite/store.py`)."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"[\w/]+\.py", page))
    paths = [p.relative_to(PACKAGE).as_posix() for p in MODULES.values() if p.name != "__init__.py"]

    def tails(path: str) -> list[str]:
        parts = path.split("/")
        return ["/".join(parts[i:]) for i in range(len(parts))]

    def unique(tail: str) -> bool:
        return sum(1 for other in paths if other == tail or other.endswith("/" + tail)) == 1

    missing = [
        p for p in paths if p not in named and not any(t in named and unique(t) for t in tails(p))
    ]
    assert not missing, f"docs/architecture.md does not name {missing}"
