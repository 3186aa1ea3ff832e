"""The wheel carries everything an installed gateway needs (migrations, templates, every package)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_contains_every_package_the_migrations_and_the_templates(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("janus_mcp_gateway-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
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
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "mcp-gateway = janus.cli.gateway:main" in text and "mcp-cli = janus.cli.mcp_cli:main" in text


def test_flasgger_is_no_dependency_of_janus():
    """It bundled an old Swagger UI and jQuery with known CVEs (issue 10, item 17); Janus serves /apidocs itself."""
    for name in ("requirements.in", "requirements.txt", "pyproject.toml"):
        text = ROOT.joinpath(name).read_text().lower()
        assert "flasgger" not in text, name


def test_the_runtime_pins_carry_what_gunicorns_gevent_worker_imports():
    """`./scripts/run` installs requirements.txt only: gunicorn's gevent worker imports `packaging` without
    declaring it, and once flasgger (which brought it) was dropped the README's run command failed to start."""
    from pathlib import Path

    pins = Path(__file__).resolve().parents[1].joinpath("requirements.txt").read_text()
    names = {line.split("==")[0].strip().lower() for line in pins.splitlines() if "==" in line}
    assert {"gunicorn", "gevent", "packaging"} <= names
