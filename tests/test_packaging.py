"""The package installs and runs on its own: the wheel carries everything an installed gateway needs, builds
without a setuptools warning, and, installed into a fresh virtualenv with only the dependencies it declares
(pinned by requirements.txt), starts `mcp-gateway`, answers /readyz and serves MCP over stdio."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from packaging.utils import canonicalize_name

from tests.support.server import GatewayServer
from tests.support.stdio import gateway_env
from tests.test_dependencies import declared, pins

ROOT = Path(__file__).resolve().parent.parent
DEMO_TOKEN = "lch_member_test_token_889"  # SEED_DEMO_DATA's client token (README, "Quickstart")
# A fresh install downloads what pip's cache lacks; a minute or two when warm, more when cold.
INSTALL_TIMEOUT = 900
# The first test that needs the virtualenv pays for building and installing within its own timeout.
pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT + 300)


def _pip_warnings(output: str) -> list[str]:
    """pip's and the build backend's warning lines, less this machine's note about unused index locations
    (scripts/bootstrap-env drops the same lines): those concern the machine, not the package."""
    return [
        line
        for line in output.splitlines()
        if "warning" in line.lower() and not line.lstrip().startswith("WARNING: Location")
    ]


@dataclass
class Built:
    wheel: Path
    output: str


@dataclass
class Installed:
    venv: Path
    output: str

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (this process's environment by default) for a process of this installation: without
        PYTHONPATH (which names the checkout when the suite runs from it), the virtualenv first on PATH."""
        env = dict(os.environ if base is None else base)
        for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(name, None)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return env


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    """`pip wheel .` once for the module, with the output a developer sees (no -q)."""
    out_dir = tmp_path_factory.mktemp("wheel")
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out_dir), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (wheel,) = out_dir.glob("janus_mcp_gateway-*.whl")
    return Built(wheel, out.stdout + out.stderr)


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Iterator[Installed]:
    """The wheel in a fresh virtualenv with its declared dependencies and nothing else.

    No pip, no setuptools in it (--without-pip; this process's pip installs into it through --python):
    Python 3.11's ensurepip would bring setuptools, whose pkg_resources would hide a dependency Janus
    forgot to declare. The pins of requirements.txt are constraints, so they choose versions but bring in
    nothing the wheel does not ask for. No --system-site-packages, and the suite's PYTHONPATH is dropped.
    """
    venv = tmp_path_factory.mktemp("clean") / "venv"
    install = Installed(venv, "")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(install.bin / "python"), "install"]
        + ["-c", str(ROOT / "requirements.txt"), str(built.wheel)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        env=install.env(),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    install.output = out.stdout + out.stderr
    yield install
    shutil.rmtree(venv)  # some 200 MB; pytest keeps its last three temporary directories


def test_the_wheel_contains_every_package_the_migrations_and_the_templates(built):
    names = set(zipfile.ZipFile(built.wheel).namelist())
    for init in ROOT.joinpath("janus").rglob("__init__.py"):
        assert str(init.relative_to(ROOT)) in names, f"{init.relative_to(ROOT)} is missing from the wheel"
    for module in ROOT.joinpath("janus").rglob("*.py"):
        assert str(module.relative_to(ROOT)) in names, f"{module.relative_to(ROOT)} is missing from the wheel"
    for migration in ROOT.joinpath("migrations").rglob("*.py"):
        assert "janus/" + str(migration.relative_to(ROOT)) in names
    assert {"janus/migrations/alembic.ini", "janus/migrations/script.py.mako"} <= names
    for template in ROOT.joinpath("janus/admin_api/templates").rglob("*.html"):
        assert str(template.relative_to(ROOT)) in names
    # The portal's pages and every vendored asset (an air-gapped install has no CDN to fall back on).
    for asset in [*ROOT.joinpath("janus/templates").rglob("*.html"), *ROOT.joinpath("janus/static").rglob("*.*")]:
        assert str(asset.relative_to(ROOT)) in names, f"{asset.relative_to(ROOT)} is missing from the wheel"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(built.wheel).read(entry_points).decode()
    assert "mcp-gateway = janus.cli.gateway:main" in text and "mcp-cli = janus.cli.mcp_cli:main" in text


def test_building_the_package_prints_no_setuptools_warning(built):
    """`pip install .` and `pip wheel .` run the same build: setuptools once warned, for each template and
    static directory, that it was an importable package "absent from the packages configuration"."""
    assert "Successfully built janus-mcp-gateway" in built.output
    warnings = _pip_warnings(built.output)
    assert not warnings, "\n".join(warnings)


def test_the_installed_wheel_brings_exactly_the_pinned_closure(installed):
    """Its declared dependencies pull in every distribution requirements.txt pins, at the pinned versions,
    and nothing else: requirements.txt is the wheel's closure, not a superset that hides an undeclared one."""
    listing = subprocess.run(
        [str(installed.bin / "python"), "-c", _LIST_DISTRIBUTIONS],
        capture_output=True,
        text=True,
        timeout=60,
        env=installed.env(),
        cwd=installed.venv,
    )
    assert listing.returncode == 0, listing.stderr
    found = {canonicalize_name(name): version for name, version in json.loads(listing.stdout)}
    assert "Successfully installed" in installed.output, installed.output
    assert found.pop("janus-mcp-gateway", None) is not None, found
    expected = {name: str(version) for name, version in pins().items()}
    assert found.keys() - expected.keys() == set(), "installed but not pinned in requirements.txt"
    assert expected.keys() - found.keys() == set(), "pinned in requirements.txt but required by nothing"
    assert found == expected
    check = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(installed.bin / "python"), "check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=installed.env(),
    )
    assert check.returncode == 0, check.stdout + check.stderr


_LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted((d.metadata['Name'], d.version) for d in m.distributions())))"
)


def test_the_installed_package_is_imported_from_the_virtualenv_not_the_checkout(installed, tmp_path):
    """What the tests below run is the wheel's code: the checkout is on no path of these processes."""
    where = subprocess.run(
        [str(installed.bin / "python"), "-c", "import janus, sys; print(janus.__file__); print(sys.path)"],
        capture_output=True,
        text=True,
        timeout=60,
        env=installed.env(),
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    module, path = where.stdout.splitlines()
    assert Path(module).is_relative_to(installed.venv), module
    assert str(ROOT) not in path


def test_mcp_cli_runs_from_the_installed_package(installed, tmp_path):
    out = subprocess.run(
        [str(installed.bin / "mcp-cli"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=installed.env(),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Usage: mcp-cli") and "login" in out.stdout


def test_the_installed_gateway_serves_readyz_and_mcp_over_stdio(installed, tmp_path):
    """`mcp-gateway` from the fresh virtualenv: migrates a new SQLite database, seeds the demo, becomes
    gunicorn with gevent workers and answers /readyz; `mcp-gateway -stdio` on the same database initializes
    and calls the demo tool, whose upstream is the server's mock API."""
    database = str(tmp_path / "mcp-gateway.db")
    server = GatewayServer(
        database,
        executable=str(installed.bin / "mcp-gateway"),
        cwd=str(tmp_path),  # `python -m gunicorn` puts its working directory first on sys.path
        SEED_DEMO_DATA="true",
        WEB_CONCURRENCY="1",
    )
    server.env = installed.env(server.env)
    try:
        server.start(timeout=120)  # a fresh virtualenv's first start: imports not yet in the page cache
        ready = requests.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ok", "database": "reachable"}
        assert requests.get(server.url + "/apidocs", timeout=10).status_code == 200  # templates shipped
        messages = [
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "lch_get_dpg_trade_volume", "arguments": {"member_id": "MEM-LCH-001"}},
            },
        ]
        stdio = subprocess.run(
            [str(installed.bin / "mcp-gateway"), "-stdio"],
            input="".join(json.dumps(m) + "\n" for m in messages),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=installed.env(gateway_env(database, DEMO_TOKEN, PORT=str(server.port), **_metrics_dir(server))),
        )
    finally:
        stopped = server.stop()
    assert stdio.returncode == 0, stdio.stderr
    init, call = (json.loads(line) for line in stdio.stdout.splitlines())
    assert init["id"] == 1 and init["result"]["protocolVersion"] == "2025-11-25", init
    assert init["result"]["serverInfo"]["name"], init
    assert call["id"] == 2 and call["result"]["isError"] is False, call
    assert call["result"]["structuredContent"]["member_id"] == "MEM-LCH-001"
    assert "Traceback" not in server.log and "Traceback" not in stdio.stderr
    assert stopped == 0, server.log  # gunicorn's clean shutdown on SIGTERM


def _metrics_dir(server: GatewayServer) -> dict[str, str]:
    return {"PROMETHEUS_MULTIPROC_DIR": server.env["PROMETHEUS_MULTIPROC_DIR"]}


def test_flasgger_is_no_dependency_of_janus():
    """It bundled an old Swagger UI and jQuery with known CVEs (issue 10, item 17); Janus serves /apidocs itself."""
    for name in ("requirements.in", "requirements.txt", "pyproject.toml"):
        text = ROOT.joinpath(name).read_text().lower()
        assert "flasgger" not in text, name


def test_the_runtime_pins_carry_what_gunicorns_gevent_worker_imports():
    """gunicorn's gevent worker imports `packaging`, which gunicorn declares only under its `gevent` extra:
    once flasgger (which brought it) was dropped, the README's run command failed to start."""
    assert "gevent" in declared()["gunicorn"].extras
    assert {"gunicorn", "gevent", "packaging"} <= pins().keys()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Iterator[Path]:
    """A copy of what `./scripts/run` needs from a fresh clone (the package, the Alembic scripts, the pins
    and the scripts), so that its .venv and its SQLite database land there, not in this checkout."""
    copy = tmp_path_factory.mktemp("checkout")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for part in ("janus", "migrations"):
        shutil.copytree(ROOT / part, copy / part, ignore=skip)
    (copy / "scripts").mkdir()
    for name in ("scripts/bootstrap-env", "scripts/run", "pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy2(ROOT / name, copy / name)  # copy2: the scripts stay executable
    yield copy
    shutil.rmtree(copy)  # its .venv is some 200 MB


def _script_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PYTHON"] = sys.executable  # a Python 3.11, as scripts/bootstrap-env requires
    return env


def test_bootstrap_env_installs_a_fresh_checkout_without_a_word(checkout):
    """scripts/bootstrap-env (which `./scripts/run` and `./scripts/test` start with) prints nothing when all
    is well: no setuptools wall about template directories, no "Editable installation" note."""
    out = subprocess.run(
        [str(checkout / "scripts/bootstrap-env")],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        env=_script_env(),
        cwd=checkout,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout + out.stderr == ""
    installed = subprocess.run(
        [str(checkout / ".venv/bin/python"), "-c", "import janus; print(janus.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_script_env(),
        cwd=checkout / "scripts",  # away from the checkout's root: the editable install itself finds janus
    )
    assert installed.returncode == 0, installed.stderr
    assert Path(installed.stdout.strip()) == checkout / "janus/__init__.py"


def test_scripts_run_serves_the_demo_from_a_fresh_checkout(checkout):
    """`./scripts/run`, the README's first command: bootstraps (again: a no-op), seeds the demo and serves."""
    server = GatewayServer(
        str(checkout / "mcp-gateway.db"),  # the default DATABASE_PATH, in the checkout's directory
        executable=str(checkout / "scripts/run"),
        cwd=str(checkout),
        WEB_CONCURRENCY="1",
    )
    server.env.update({k: v for k, v in _script_env().items() if k == "PYTHON"})
    server.env.pop("PYTHONPATH", None)
    try:
        server.start(timeout=INSTALL_TIMEOUT)  # bootstrap-env runs first, within the start
        ready = requests.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json() == {"status": "ok", "database": "reachable"}
        volume = requests.get(server.url + "/api/mock/dpg/trade-volume", params={"member_id": "M-1"}, timeout=10)
        assert volume.status_code == 200 and volume.json()["member_id"] == "M-1"
    finally:
        server.stop()
    assert "demo token" in server.log  # SEED_DEMO_DATA defaults to true here
    assert "Warning" not in server.log, server.log
