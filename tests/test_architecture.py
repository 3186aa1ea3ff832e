"""The import rules of ARCHITECTURE.md, checked on the AST of every module in janus/."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "janus"

ADAPTERS = {"transports", "portal", "admin_api", "cli", "mock"}
USE_CASES = {"services", "auth"}
LEAVES = {"mcp", "vault", "config", "extensions", "version"}

# What each part may import from janus, besides itself. Imports point down the layers only.
ALLOWED = {
    **{name: {"services", "auth", "config", "extensions", "version", "vault"} for name in ADAPTERS},
    "transports": {"services", "auth", "gateway", "mcp", "config", "extensions", "version"},
    # The `-stdio` flag and `flask janus stdio` start the stdio transport; the CLI also builds the app.
    "cli": {"services", "auth", "config", "extensions", "version", "transports", "<root>"},
    **{name: {"models", "gateway", "vault", "extensions", "config", "version", "services", "auth"} for name in USE_CASES},
    "models": {"extensions", "version"},
    "gateway": {"mcp", "vault", "version"},
    **{name: set() for name in LEAVES},
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, path


def _janus_imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "janus" or alias.name.startswith("janus."):
                    yield alias.name, node.lineno
        elif (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
              and (node.module == "janus" or node.module.startswith("janus."))):
            yield node.module, node.lineno


LAYERED = [(name, path) for name, path in _modules() if _part(name) in ALLOWED]


@pytest.mark.parametrize("module, path", LAYERED, ids=[m for m, _ in LAYERED])
def test_module_imports_only_what_its_layer_allows(module, path):
    own = _part(module)
    bad = []
    for target, line in _janus_imports(path):
        part = _part(target)
        if part != own and part not in ALLOWED[own]:
            bad.append(f"{path.name}:{line} imports {target}")
    assert bad == [], f"{own} may import only {sorted(ALLOWED[own])}"


def test_the_protocol_core_imports_only_the_standard_library():
    import sys

    for path in (PACKAGE / "mcp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or (top == "janus" and name.startswith("janus.mcp")), f"{path.name} imports {name}"


def test_cloud_sdks_are_not_imported_at_module_level_anywhere():
    heavy = ("boto3", "botocore", "google", "azure")
    for name, path in _modules():
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: lazy imports inside functions are the point
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in heavy for n in names), f"{name} imports a cloud SDK at module level"
