"""Both themes keep text readable: WCAG 2 contrast of every text colour on the surfaces it is used on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "janus" / "static" / "css" / "portal.css"
# (foreground, background) pairs the stylesheet puts together for text.
PAIRS = [
    ("text", "bg"),
    ("text", "surface"),
    ("text", "surface-2"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("muted", "surface-2"),
    ("accent", "surface"),
    ("accent", "bg"),
    ("on-accent", "accent"),
    ("on-bad", "bad"),
    ("ok", "surface"),
    ("bad", "surface"),
    ("info", "surface"),
    ("code", "surface"),
    ("code", "bg"),
    ("code", "surface-2"),
]


def _themes() -> dict[str, dict[str, str]]:
    css = CSS.read_text()
    themes = {}
    for name in ("dark", "light"):
        block = re.search(r'\[data-theme="%s"\]\s*\{([^}]*)\}' % name, css).group(1)
        themes[name] = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", block))
    return themes


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_matches_wcag_reference_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_every_text_colour_meets_4_5_to_1_on_its_surfaces(theme):
    colours = _themes()[theme]
    low = {
        f"{fg} on {bg}": round(contrast(colours[fg], colours[bg]), 2)
        for fg, bg in PAIRS
        if contrast(colours[fg], colours[bg]) < 4.5
    }
    assert low == {}
