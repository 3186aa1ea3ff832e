"""An OpenAPI description read and converted in one step: what an import runs in its child process
(janus.services.off_process), so the importing worker's loop does none of the parsing or converting.

Nothing here needs the Flask app or the database; the result (the source URL and the Conversion) is what the
plan is built from in the worker.
"""

from __future__ import annotations

from typing import Any, Literal

from janus.services.openapi_convert import Conversion, convert
from janus.services.openapi_documents import Bundle, bundle_from_body, bundle_from_texts, parse_text

SourceKind = Literal["text", "object", "files", "fetched"]


def read_and_convert(
    kind: SourceKind, source: Any, main: str | None, prefix: str, base_url: str | None
) -> tuple[str | None, Conversion]:
    """(the URL it came from, the conversion) of a description given as text, an object, a bundle of files,
    or the body fetched from a URL (`main` is then its final URL)."""
    bundle = _bundle(kind, source, main)
    return bundle.source_url, convert(bundle, prefix, base_url)


def _bundle(kind: SourceKind, source: Any, main: str | None) -> Bundle:
    if kind == "fetched":
        return bundle_from_body(source, main or "")
    if kind == "files":
        return bundle_from_texts(source, main)
    if kind == "object":
        return Bundle({"description": source}, "description")
    return Bundle({"description": parse_text(source, "the description")}, "description")
