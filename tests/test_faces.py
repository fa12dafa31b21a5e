"""The faces (cli/, web/, asgi.py, otel.py) use the public API only: no attribute of
another object whose name starts with `_`, and nothing `_`-named from a lower layer but
the base helpers every layer shares (`_instants`, `_checks`, `_log`).

So mypy checks every call a face makes, and the schedulers' insides can change without
a face noticing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "agentsched"
FACES = sorted(
    [
        *(PACKAGE / "cli").rglob("*.py"),
        *(PACKAGE / "web").rglob("*.py"),
        PACKAGE / "asgi.py",
        PACKAGE / "otel.py",
        PACKAGE / "__main__.py",
    ]
)
SHARED_HELPERS = {"agentsched._instants", "agentsched._checks", "agentsched._log"}
# Named with a `_` and yet public, as the standard library documents them.
PUBLIC_DESPITE_THE_NAME = {("os", "_exit")}
FACE_PACKAGES = ("agentsched.cli", "agentsched.web", "agentsched.asgi", "agentsched.otel")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _origin(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = _module(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _is_face(module: str) -> bool:
    return any(module == face or module.startswith(face + ".") for face in FACE_PACKAGES)


def problems(path: Path, source: str) -> list[str]:
    """Each place where `source`, the module at `path`, reaches into something private,
    as `file:line what`, in the order of the lines."""
    where = path.relative_to(PACKAGE).as_posix()
    found = sorted(_reaches(path, source), key=lambda item: item[0])
    return [f"{where}:{line} {what}" for line, what in found]


def _reaches(path: Path, source: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Name) and (owner.id, node.attr) in PUBLIC_DESPITE_THE_NAME:
                continue
            yield node.lineno, f"reads .{node.attr} of another object"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            yield node.lineno, f"{node.func.id}s {node.args[1].value!r} by name"
        elif isinstance(node, ast.ImportFrom):
            origin = _origin(path, node)
            if origin.split(".")[0] != "agentsched" or _is_face(origin):
                continue
            if origin not in SHARED_HELPERS and any(map(_private, origin.split("."))):
                yield node.lineno, f"imports from the private module {origin}"
            for alias in node.names:
                if _private(alias.name):
                    yield node.lineno, f"imports {alias.name} from {origin}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                inside = parts[0] == "agentsched" and alias.name not in SHARED_HELPERS
                if inside and any(map(_private, parts)):
                    yield node.lineno, f"imports the private module {alias.name}"


@pytest.mark.parametrize("path", FACES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_a_face_uses_the_public_api_only(path: Path) -> None:
    assert problems(path, path.read_text()) == []


def test_the_check_sees_what_it_must_refuse() -> None:
    source = (
        "import os\n"
        "import agentsched._hidden\n"
        "from ..firing.core import _InFlight\n"
        "from .._instants import format_instant\n"
        "from ..schedulers._hidden import thing\n"
        "from .access import _in_threadpool\n"
        "def f(sched, self):\n"
        "    sched._engine.in_flight()\n"
        "    getattr(sched, '_core')\n"
        "    self._calls.get\n"
        "    os._exit(1)\n"
        "    return sched.__class__\n"
    )
    assert problems(PACKAGE / "web" / "sample.py", source) == [
        "web/sample.py:2 imports the private module agentsched._hidden",
        "web/sample.py:3 imports _InFlight from agentsched.firing.core",
        "web/sample.py:5 imports from the private module agentsched.schedulers._hidden",
        "web/sample.py:8 reads ._engine of another object",
        "web/sample.py:9 getattrs '_core' by name",
    ]
