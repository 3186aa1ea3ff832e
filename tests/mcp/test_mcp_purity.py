"""The protocol core stays a leaf: standard library only, no network, small modules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import janus.mcp

PACKAGE_DIR = Path(janus.mcp.__file__).parent
MODULES = sorted(PACKAGE_DIR.glob("*.py"))
# Standard library, but the core has no business with a wire or an event loop.
FORBIDDEN_STDLIB = {"socket", "ssl", "http", "urllib", "asyncio", "subprocess", "selectors"}


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, relative level) for every import statement in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def test_the_package_has_the_expected_modules():
    expected = {"__init__.py", "errors.py", "jsonrpc.py", "versions.py", "server.py", "pagination.py"}
    assert {p.name for p in MODULES} >= expected


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_module_imports_only_the_standard_library(path):
    for module, level in imported_modules(path):
        if level > 0 or module == "janus.mcp" or module.startswith("janus.mcp."):
            continue  # inside the package itself
        top = module.split(".")[0]
        assert top in sys.stdlib_module_names, f"{path.name} imports {module}"
        assert top not in FORBIDDEN_STDLIB, f"{path.name} imports {module}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_module_stays_under_four_hundred_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) < 400
