"""The portal's vendored front-end assets (scripts/vendor-assets) are complete, intact and offline."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "janus" / "static" / "vendor"
PACKAGE_DIRS = ["htmx", "swagger-ui", "uplot", "fonts/inter", "fonts/jetbrains-mono"]

# | package | version | `file` | license | bytes | `sha256` |
ROW = re.compile(
    r"^\|\s*(?P<package>[^|]+?)\s*\|\s*(?P<version>[^|]+?)\s*\|\s*`(?P<file>[^`]+)`\s*\|"
    r"\s*(?P<license>[^|]+?)\s*\|\s*(?P<bytes>\d+)\s*\|\s*`(?P<sha256>[0-9a-f]{64})`\s*\|\s*$"
)


def _listed() -> list[dict[str, str]]:
    rows = [
        m.groupdict()
        for line in (VENDOR / "VENDORED.md").read_text(encoding="utf-8").splitlines()
        if (m := ROW.match(line))
    ]
    assert rows, "VENDORED.md lists no files"
    return rows


def _vendored(*suffixes: str) -> list[Path]:
    return sorted(p for d in PACKAGE_DIRS for p in (VENDOR / d).rglob("*") if p.is_file() and p.suffix in suffixes)


def test_every_file_listed_in_vendored_md_exists_with_its_sha256():
    for row in _listed():
        path = VENDOR / row["file"]
        assert path.is_file(), f"{row['file']} is listed in VENDORED.md but missing"
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"], f"{row['file']} differs from VENDORED.md"
        assert len(data) == int(row["bytes"]), f"{row['file']} has the wrong size"


def test_every_vendored_file_is_listed_in_vendored_md():
    listed = {row["file"] for row in _listed()}
    on_disk = {str(p.relative_to(VENDOR)) for d in PACKAGE_DIRS for p in (VENDOR / d).rglob("*") if p.is_file()}
    assert on_disk == listed


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS)
def test_every_vendored_package_has_its_license(package_dir):
    license_file = VENDOR / package_dir / "LICENSE"
    assert license_file.is_file() and license_file.stat().st_size > 0
    assert f"`{package_dir}/LICENSE`" in (VENDOR / "VENDORED.md").read_text(encoding="utf-8")


def test_no_vendored_script_or_stylesheet_points_at_a_source_map():
    files = _vendored(".js", ".css")
    assert files
    for path in files:
        assert b"sourceMappingURL" not in path.read_bytes(), f"{path.relative_to(VENDOR)} still has a sourceMappingURL"


def test_no_vendored_stylesheet_loads_anything_from_the_network():
    for path in _vendored(".css") + [VENDOR / "fonts.css"]:
        text = path.read_text(encoding="utf-8")
        assert "@import" not in text, path.name
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", text):
            assert url.startswith("data:") or not re.match(r"^([a-z][a-z0-9+.-]*:|//)", url, re.I), (
                f"{path.relative_to(VENDOR)} loads {url}"
            )


def test_fonts_css_uses_only_relative_urls_that_exist():
    text = (VENDOR / "fonts.css").read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # comments
    urls = re.findall(r"url\(\s*['\"]?([^'\")]+?)['\"]?\s*\)", text)
    assert len(urls) == 6, urls  # Inter 400/500/600/700, JetBrains Mono 400/500
    for url in urls:
        assert not re.match(r"^([a-z][a-z0-9+.-]*:|/)", url, re.I), f"fonts.css: {url} is not relative"
        target = (VENDOR / url).resolve()
        assert target.is_relative_to(VENDOR.resolve()), f"fonts.css: {url} leaves the vendor directory"
        assert target.is_file(), f"fonts.css: {url} does not exist"
    assert text.count("@font-face") == 6 and text.count("font-display: swap") == 6
