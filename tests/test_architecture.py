"""The import rules of ARCHITECTURE.md, checked on the AST of every module in janus/, on grimp's import
graph (no cycles) and by import-linter (the contracts in pyproject.toml)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "janus"

ADAPTERS = {"transports", "portal", "admin_api", "cli", "mock"}
USE_CASES = {"services", "auth"}
LEAVES = {"mcp", "vault", "config", "extensions", "version", "logs"}
# The app factory's helpers (engine hooks, error pages, the session cookie): only janus/__init__.py uses them.
FACTORY_HELPERS = {"database", "errors", "sessions_cookie"}

# What each part may import from janus, besides itself. Imports point down the layers only.
# A part is a package of janus or a root module (janus/*.py); "<root>" is janus/__init__.py (create_app).
ALLOWED = {
    **{
        name: {"services", "auth", "schemas", "config", "extensions", "version", "vault", "runtime"}
        for name in ADAPTERS
    },
    "transports": {"services", "auth", "gateway", "mcp", "config", "extensions", "version", "runtime"},
    # The `-stdio` flag and `flask janus stdio` start the stdio transport; the CLI also builds the app.
    "cli": {"services", "auth", "config", "extensions", "version", "transports", "<root>"},
    # The per-process runtime (catalog cache, executor, audit writer, admin tools), which the adapters share.
    "runtime": {"services", "auth", "gateway", "vault", "extensions", "config", "version"},
    **{
        name: {"models", "gateway", "schemas", "vault", "extensions", "config", "version", "services", "auth"}
        for name in USE_CASES
    },
    # Each admin resource's shape (janus/schemas): plain pydantic models over the gateway's rules.
    "schemas": {"gateway"},
    "models": {"extensions", "version"},
    "gateway": {"mcp", "vault", "version"},
    **{name: set() for name in LEAVES | FACTORY_HELPERS},
    # The process entry points: the app factory, the WSGI app, gunicorn's config and worker class.
    "<root>": ADAPTERS | USE_CASES | LEAVES | FACTORY_HELPERS | {"runtime", "schemas", "models", "gateway"},
    "wsgi": {"<root>", "transports", "logs"},
    "gunicorn_conf": {"config", "runtime", "transports", "version", "logs"},
    "gunicorn_worker": {"config", "version"},
    # `python -m janus.child_process`: builds the app for work a gevent worker hands off (services.off_process).
    "child_process": {"<root>", "services"},
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, path


def _janus_imports(module: str, path: Path):
    """Every import of janus in the module, at module level or inside a function; relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "janus" or alias.name.startswith("janus."):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "janus" or target.startswith("janus."):
                yield target, node.lineno


MODULES = list(_modules())


def test_every_part_of_janus_has_import_rules():
    """A new package or root module must be given its layer here and in pyproject.toml's contracts."""
    unknown = sorted({_part(name) for name, _ in MODULES} - ALLOWED.keys())
    assert unknown == [], f"parts of janus without a rule in ALLOWED: {unknown}"


@pytest.mark.parametrize("module, path", MODULES, ids=[m for m, _ in MODULES])
def test_module_imports_only_what_its_layer_allows(module, path):
    own = _part(module)
    allowed = ALLOWED.get(own, set())  # a part without rules: test_every_part_of_janus_has_import_rules
    bad = []
    for target, line in _janus_imports(module, path):
        part = _part(target)
        if part != own and part not in allowed:
            bad.append(f"{path.name}:{line} imports {target}")
    assert bad == [], f"{own} may import only {sorted(allowed)}"


def test_the_protocol_core_imports_only_the_standard_library():
    import sys

    for path in (PACKAGE / "mcp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            )
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or (top == "janus" and name.startswith("janus.mcp")), (
                    f"{path.name} imports {name}"
                )


def test_cloud_and_telemetry_sdks_are_not_imported_at_module_level_anywhere():
    # OpenTelemetry too: without OTEL_EXPORTER_OTLP_ENDPOINT a process must not load it (janus/gateway/tracing.py);
    # redis-py loads it when imported, so redis is imported only where Redis is used.
    heavy = ("boto3", "botocore", "google", "azure", "opentelemetry", "redis")
    for name, path in _modules():
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: lazy imports inside functions are the point
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n.split(".")[0] in heavy for n in names), f"{name} imports a heavy SDK at module level"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.find_modules_directly_imported_by(target)))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
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
                        components.append(sorted(component))
    return components


def _describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    members = set(component)
    lines = [f"cycle among {len(component)} modules:"]
    for importer in component:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(f"  {importer} -> {imported} (line {detail['line_number']}: {detail['line_contents']})")
    return "\n".join(lines)


def test_no_module_of_janus_takes_part_in_an_import_cycle():
    """Imports inside functions count: a cycle hidden in one still ties the modules together.

    import-linter's acyclic_siblings contract sees cycles between the parts of a package; this sees
    every cycle, those through a package's own __init__.py too.
    """
    graph = grimp.build_graph("janus", cache_dir=None)
    assert "janus.mcp" in graph.modules  # the graph is janus/ of this checkout, not an empty one
    cycles = _cycles(graph)
    assert cycles == [], "\n".join(_describe(graph, component) for component in cycles)


def test_the_import_linter_contracts_are_kept():
    """`lint-imports` from the repository root, with the contracts in pyproject.toml."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
            "--no-cache",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout
