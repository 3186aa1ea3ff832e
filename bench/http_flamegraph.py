"""Flamegraph SVG and top-functions text from py-spy's raw (collapsed) stacks.

`py-spy record --format raw` writes one line per distinct stack,
`root;…;leaf count`, each frame `function (file:line)`. One recording gives
both outputs, so the picture and the table agree sample for sample.

  python bench/http_flamegraph.py RAW SVG TXT [--title TEXT]
"""

from __future__ import annotations

import argparse
import hashlib
import html
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        match = _LINE.match(line.strip())
        if match:
            stacks.append((match.group(1).split(";"), int(match.group(2))))
    return stacks


def by_process(stacks: list[tuple[list[str], int]]) -> dict[int, list[tuple[list[str], int]]]:
    """Split a `py-spy record --subprocesses` recording by the deepest `process PID:"cmd"` frame."""
    split: dict[int, list[tuple[list[str], int]]] = {}
    for frames, count in stacks:
        pid, rest = 0, frames
        while rest and rest[0].startswith("process "):
            head = rest[0][len("process ") :].split(":", 1)[0]
            pid = int(head) if head.isdigit() else pid
            rest = rest[1:]
        if rest:
            split.setdefault(pid, []).append((rest, count))
    return split


def function_of(frame: str) -> str:
    """`handle (janus/mcp/server.py:120)` -> `handle (janus/mcp/server.py)`: lines of one function merge."""
    match = _FRAME.match(frame)
    return f"{match.group('func')} ({match.group('file')})" if match else frame


def package_of(frame: str) -> str:
    match = _FRAME.match(frame)
    path = match.group("file") if match else frame
    head = path.split("/")[0]
    return head[:-3] if head.endswith(".py") else head


def summary(stacks: list[tuple[list[str], int]], top: int = 30, title: str = "") -> str:
    total = sum(count for _, count in stacks) or 1
    own, inclusive, packages = Counter(), Counter(), Counter()
    for frames, count in stacks:
        own[function_of(frames[-1])] += count
        packages[package_of(frames[-1])] += count
        for name in {function_of(f) for f in frames}:
            inclusive[name] += count

    def table(counter: Counter, heading: str, n: int) -> list[str]:
        rows = [heading, f"{'samples':>8} {'share':>7}  name"]
        rows += [f"{c:8d} {100 * c / total:6.1f}%  {name}" for name, c in counter.most_common(n)]
        return rows + [""]

    lines = [title, f"{total} samples", ""] if title else [f"{total} samples", ""]
    lines += table(packages, "Self time by package (leaf frame's top-level module):", 15)
    lines += table(own, f"Top {top} functions by self time (the frame on CPU):", top)
    lines += table(inclusive, f"Top {top} functions by total time (on the stack):", top)
    return "\n".join(lines)


def _colour(name: str) -> str:
    digest = hashlib.md5(package_of(name).encode(), usedforsecurity=False).digest()
    return f"rgb({205 + digest[0] % 50},{80 + digest[1] % 120},{digest[2] % 60})"


def flamegraph_svg(stacks: list[tuple[list[str], int]], title: str = "", width: int = 1200) -> str:
    root: dict = {"n": 0, "c": {}}
    for frames, count in stacks:
        node = root
        node["n"] += count
        for frame in frames:
            node = node["c"].setdefault(function_of(frame), {"n": 0, "c": {}})
            node["n"] += count
    total = root["n"] or 1
    row, pad, min_px = 16, 10, 0.3
    scale = (width - 2 * pad) / total
    rects: list[str] = []
    depth_seen = 0

    def walk(node: dict, x: float, depth: int) -> None:
        nonlocal depth_seen
        for name, child in sorted(node["c"].items()):
            w = child["n"] * scale
            if w >= min_px:
                depth_seen = max(depth_seen, depth)
                label = html.escape(name)
                pct = 100 * child["n"] / total
                text = name[: int((w - 6) / 7)] if w > 30 else ""
                rects.append(
                    f"<g><title>{label} ({child['n']} samples, {pct:.2f}%)</title>"
                    f'<rect x="{pad + x:.1f}" y="{{Y{depth}}}" width="{w:.1f}" height="{row - 1}" '
                    f'fill="{_colour(name)}" rx="2"/>'
                    + (f'<text x="{pad + x + 3:.1f}" y="{{T{depth}}}">{html.escape(text)}</text>' if text else "")
                    + "</g>"
                )
                walk(child, x, depth + 1)
            x += w

    walk(root, 0.0, 0)
    top = 40
    height = top + (depth_seen + 1) * row + pad
    body = "\n".join(rects)
    for depth in range(depth_seen + 1):  # flames grow upwards: root at the bottom
        y = height - pad - (depth + 1) * row
        body = body.replace(f"{{Y{depth}}}", str(y)).replace(f"{{T{depth}}}", str(y + row - 4))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">\n'
        f'<rect width="100%" height="100%" fill="#fafafa"/>\n'
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">{html.escape(title)}</text>\n'
        f'<text x="{pad}" y="34" fill="#666">{total} samples; frames merged per function; '
        f"hover for counts</text>\n{body}\n</svg>\n"
    )


def render(raw: Path, svg: Path, txt: Path, title: str = "", stacks: list | None = None) -> int:
    stacks = read_stacks(raw) if stacks is None else stacks
    svg.write_text(flamegraph_svg(stacks, title))
    txt.write_text(summary(stacks, title=title) + "\n")
    return sum(c for _, c in stacks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path)
    parser.add_argument("svg", type=Path)
    parser.add_argument("txt", type=Path)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    print(f"{render(args.raw, args.svg, args.txt, args.title)} samples")


if __name__ == "__main__":
    main()
