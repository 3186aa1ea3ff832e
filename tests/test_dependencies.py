"""One dependency list: pyproject.toml declares exactly what janus/ imports; requirements.in repeats it and
requirements.txt pins it.

The wheel is installed with the dependencies pyproject.toml declares and nothing else (tests/test_packaging.py
does that in a fresh virtualenv); an import of an undeclared distribution works in the development
environment, where something else happened to bring it, and fails in production. Lazy imports (the cloud
vault SDKs, imported only when VAULT_PROVIDER names them) are imports too: every import statement in the
shipped code (janus/ and migrations/) counts, wherever it sits.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

# Declared though the code never imports them, each with who imports it instead (none today: the gevent
# worker's `packaging` comes with gunicorn's `gevent` extra, Redis for limits with its `redis` extra).
RUNTIME_ONLY: dict[str, str] = {}


def declared() -> dict[str, Requirement]:
    """[project] dependencies of pyproject.toml, by canonical name."""
    project = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())["project"]
    return _by_name(project["dependencies"], "pyproject.toml")


def requirements_in() -> dict[str, Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in ROOT.joinpath("requirements.in").read_text().splitlines())
    return _by_name([line for line in lines if line], "requirements.in")


def pins() -> dict[str, Version]:
    """requirements.txt's `name==version` lines, by canonical name."""
    pinned: dict[str, Version] = {}
    for line in ROOT.joinpath("requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements.txt: {line!r} is no exact pin"
        pinned[canonicalize_name(name)] = Version(version.strip())
    return pinned


def _by_name(specs: list[str], where: str) -> dict[str, Requirement]:
    found: dict[str, Requirement] = {}
    for spec in specs:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name not in found, f"{where} names {name} twice"
        found[name] = requirement
    return found


@cache
def _module_owners() -> dict[str, frozenset[str]]:
    """Every module and package installed in this environment -> the distributions whose files provide it.

    From each distribution's RECORD rather than packages_distributions(), which maps top-level names only:
    `google` and `azure` are namespace packages that a dozen distributions share, and only the full name
    (google.cloud.secretmanager, azure.core) says which one an import needs.
    """
    owners: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions():
        if not dist.metadata["Name"]:  # a half-removed install leaves a dist-info without metadata
            continue
        name = canonicalize_name(dist.metadata["Name"])
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".data")):
                continue
            stem, dot, suffix = parts[-1].partition(".")
            if not dot or suffix.rsplit(".", 1)[-1] not in {"py", "so", "pyd"}:
                continue
            module = parts[:-1] if stem == "__init__" else (*parts[:-1], stem)
            for depth in range(1, len(module) + 1):  # a file provides its packages too (namespace ones included)
                owners.setdefault(".".join(module[:depth]), set()).add(name)
    return {module: frozenset(names) for module, names in owners.items()}


def distributions_of(module: str) -> frozenset[str]:
    """The distributions that provide `module`: those of its longest installed prefix (a `from X import Y`
    names X; `import a.b.c` needs a.b.c)."""
    owners = _module_owners()
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        found = owners.get(".".join(parts[:depth]))
        if found:
            # A namespace package's own name belongs to every distribution under it: only a deeper,
            # more specific name tells which one; at the top level all of them are candidates.
            return found
    return frozenset()


def third_party_imports() -> dict[str, set[str]]:
    """Module name -> the files that import it, for every import that is neither stdlib nor Janus, in all the
    Python the wheel ships: janus/ and the Alembic scripts (migrations/, shipped as janus/migrations)."""
    imports: dict[str, set[str]] = {}
    for path in sorted([*ROOT.joinpath("janus").rglob("*.py"), *ROOT.joinpath("migrations").rglob("*.py")]):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), where)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".", 1)[0]
                if top != "janus" and top not in sys.stdlib_module_names and top != "__future__":
                    imports.setdefault(name, set()).add(where)
    return imports


def test_the_import_walk_finds_the_lazy_and_the_namespaced_imports():
    """The walk itself: imports inside functions (the cloud SDKs) count, and a namespace package maps to the
    one distribution that provides the imported name."""
    imports = third_party_imports()
    assert "janus/vault/gcp.py" in imports["google.cloud.secretmanager"]
    assert "migrations/env.py" in imports["alembic"]
    assert distributions_of("google.cloud.secretmanager") == {"google-cloud-secret-manager"}
    assert distributions_of("azure.core.exceptions") == {"azure-core"}
    assert distributions_of("flask_wtf.csrf") == {"flask-wtf"}
    assert distributions_of("no_such_module_anywhere") == frozenset()


def test_every_distribution_janus_imports_is_declared_in_pyproject():
    wanted = declared()
    missing: dict[str, list[str]] = {}
    for module, files in sorted(third_party_imports().items()):
        owners = distributions_of(module)
        assert owners, f"{module} (imported by {sorted(files)}) is installed by no distribution here"
        if not owners & wanted.keys():
            missing.setdefault(" or ".join(sorted(owners)), []).append(f"{module} ({sorted(files)[0]})")
    assert not missing, f"imported by janus/ but not declared in pyproject.toml [project] dependencies: {missing}"


def test_every_declared_dependency_is_imported_by_janus_or_says_why_not():
    used = set().union(*(distributions_of(module) for module in third_party_imports()))
    unused = declared().keys() - used - RUNTIME_ONLY.keys()
    assert not unused, f"declared in pyproject.toml but imported nowhere in janus/ or migrations/: {sorted(unused)}"
    assert RUNTIME_ONLY.keys() <= declared().keys(), "RUNTIME_ONLY names a distribution that is not declared"
    assert not RUNTIME_ONLY.keys() & used, "RUNTIME_ONLY names a distribution janus/ imports after all"


def test_requirements_in_repeats_pyprojects_list_with_the_same_floors_and_extras():
    ours, theirs = declared(), requirements_in()
    assert ours.keys() == theirs.keys(), (
        f"only in pyproject.toml: {sorted(ours.keys() - theirs.keys())}; "
        f"only in requirements.in: {sorted(theirs.keys() - ours.keys())}"
    )
    for name, requirement in ours.items():
        other = theirs[name]
        assert (requirement.specifier, requirement.extras, requirement.marker) == (
            other.specifier,
            other.extras,
            other.marker,
        ), f"{name}: pyproject.toml says {requirement}, requirements.in says {other}"


def test_requirements_txt_pins_every_declared_dependency_within_its_floor():
    pinned = pins()
    for name, requirement in declared().items():
        assert name in pinned, f"{name} is declared but not pinned in requirements.txt: recompile it"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements.txt pins {name}=={pinned[name]}, outside pyproject.toml's {requirement.specifier}"
        )


def test_requirements_txt_pins_the_whole_closure_of_the_declared_dependencies():
    """Every distribution that a declared one requires (on this platform, extras included) is pinned too, as
    pip-compile writes it; tests/test_packaging.py checks the same on a real install."""
    pinned = pins()
    unpinned: dict[str, str] = {}
    todo = [(name, requirement.extras) for name, requirement in declared().items()]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        for spec in importlib.metadata.requires(name) or ():
            requirement = Requirement(spec)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
                continue
            child = canonicalize_name(requirement.name)
            if child not in pinned:
                unpinned[child] = name
            todo.append((child, requirement.extras))
    assert not unpinned, f"required but not pinned in requirements.txt (required by): {unpinned}"
