"""Reading an OpenAPI description: JSON or YAML text, a bundle of files, or a URL fetched once.

What comes in is untrusted: text is size-capped before parsing, YAML is read with the safe loader and
refused when its aliases would expand into more nodes than any real description has (a "billion laughs"
document is a few hundred bytes), and a URL is fetched through the egress policy with a size cap and a
timeout. References (`$ref`) are resolved within the document and between the files of a bundle;
a reference to anything else (another URL, a file not in the bundle) is refused with its location.
"""

from __future__ import annotations

import datetime
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from janus.services.errors import ValidationError

MAX_SPEC_BYTES = 32 * 1024 * 1024  # GitHub's REST description is ~12 MB of JSON
MAX_BUNDLE_FILES = 200
MAX_YAML_NODES = 5_000_000  # after alias expansion; GitHub's description as YAML is ~1.5 million
FETCH_TIMEOUT_SECONDS = 20.0


class SpecError(ValidationError):
    """The description cannot be read: the message names the file and what is wrong."""


def _text(raw: str | bytes, name: str) -> str:
    size = len(raw)
    if size > MAX_SPEC_BYTES:
        raise SpecError(f"{name} is {size // (1024 * 1024)} MiB; at most {MAX_SPEC_BYTES // (1024 * 1024)} MiB is read")
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SpecError(f"{name} is not UTF-8 text") from None
    return raw


def parse_text(raw: str | bytes, name: str = "the description") -> Any:
    """JSON or YAML (JSON is tried first: it is YAML too, and far faster to read)."""
    text = _text(raw, name)
    stripped = text.lstrip()
    if not stripped:
        raise SpecError(f"{name} is empty")
    if stripped[0] in "{[":
        try:
            return json.loads(text)
        except RecursionError:
            raise SpecError(f"{name} is nested too deeply") from None
        except ValueError as exc:
            try:  # YAML's flow style starts like JSON too
                return _yaml(text, name)
            except SpecError:
                raise SpecError(f"{name} is not valid JSON: {exc}") from None
    return _yaml(text, name)


def _yaml(text: str, name: str) -> Any:
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(f"{name} is empty")
        expanded = _expanded_size(node, {})
        if expanded > MAX_YAML_NODES:
            raise SpecError(
                f"{name} is refused: its YAML aliases expand to more than {MAX_YAML_NODES:,} nodes "
                "(an alias bomb, or far larger than any API description)"
            )
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise SpecError(f"{name} is neither valid JSON nor valid YAML: {str(exc)[:500]}") from None
    except RecursionError:
        raise SpecError(f"{name} is nested too deeply") from None
    finally:
        loader.dispose()
    return _plain(data, name)


def _expanded_size(node: Any, seen: dict[int, int]) -> int:
    """Nodes in the document with every alias expanded, computed once per distinct node (so it is cheap)."""
    import yaml

    known = seen.get(id(node))
    if known is not None:
        return known
    seen[id(node)] = 1  # a recursive alias counts once; construction refuses it below anyway
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, seen) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    seen[id(node)] = size
    return min(size, MAX_YAML_NODES + 1)


def _plain(value: Any, name: str) -> Any:
    """YAML's extras made JSON: response codes written as numbers become keys "200", dates become text."""
    if isinstance(value, dict):
        return {_key(k): _plain(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, name) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        raise SpecError(f"{name} holds binary data (!!binary), which no API description needs")
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


@dataclass
class Bundle:
    """The parsed files of a description; `main` is the one whose paths are imported."""

    files: dict[str, Any]
    main: str
    source_url: str | None = None
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def root(self) -> Any:
        return self.files[self.main]

    def resolve(self, ref: str, base: str) -> tuple[Any, str]:
        """The value a `$ref` written in file `base` points at, and the file it is in."""
        if not isinstance(ref, str):
            raise SpecError(f"a $ref in {base} is not a string")
        target, _, pointer = ref.partition("#")
        if target:
            if urlsplit(target).scheme:
                raise SpecError(
                    f"$ref {ref[:200]!r} in {base} points at another URL; Janus reads only the description "
                    "it was given (upload the referenced files together as a bundle)"
                )
            file = posixpath.normpath(posixpath.join(posixpath.dirname(base), unquote(target)))
            if file not in self.files:
                raise SpecError(f"$ref {ref[:200]!r} in {base} points at {file!r}, which is not in the bundle")
        else:
            file = base
        key = (file, pointer)
        if key in self._cache:
            return self._cache[key], file
        value = self.files[file]
        for token in _pointer_tokens(pointer):
            if isinstance(value, Mapping) and token in value:
                value = value[token]
            elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                value = value[int(token)]
            else:
                raise SpecError(f"$ref {ref[:200]!r} in {base} points at nothing")
        self._cache[key] = value
        return value, file


def _pointer_tokens(pointer: str) -> list[str]:
    if not pointer or pointer == "/":
        return [] if not pointer else [""]
    if not pointer.startswith("/"):
        raise SpecError(f"JSON pointer {pointer[:200]!r} must start with '/'")
    return [unquote(t).replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def bundle_from_texts(files: Mapping[str, str | bytes], main: str | None = None) -> Bundle:
    """Files uploaded together; `main` (default: the only one, or the one with `openapi`/`swagger` at its root)."""
    if not files:
        raise SpecError("no description was given")
    if len(files) > MAX_BUNDLE_FILES:
        raise SpecError(f"a bundle has at most {MAX_BUNDLE_FILES} files")
    total = sum(len(v) for v in files.values())
    if total > MAX_SPEC_BYTES:
        raise SpecError(f"the bundle is {total // (1024 * 1024)} MiB; at most {MAX_SPEC_BYTES // (1024 * 1024)} MiB")
    parsed = {posixpath.normpath(name): parse_text(text, name) for name, text in files.items()}
    if main is None:
        roots = [n for n, d in parsed.items() if isinstance(d, dict) and ("openapi" in d or "swagger" in d)]
        if len(roots) != 1:
            raise SpecError("name the main file of the bundle (the one with 'openapi' or 'swagger' at its root)")
        main = roots[0]
    main = posixpath.normpath(main)
    if main not in parsed:
        raise SpecError(f"the main file {main!r} is not in the bundle")
    return Bundle(parsed, main)


def fetch(url: str, egress_allowlist: Any = ()) -> tuple[bytes, str]:
    """GET a description once, through the egress policy, capped in size and time; (body, final URL)."""
    import urllib3

    from janus.gateway.egress import EgressPolicy, EgressRefused

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SpecError(f"url must be an absolute http:// or https:// URL, got {url[:200]!r}")
    if parts.username or parts.password:
        raise SpecError("url must not contain credentials")
    policy = EgressPolicy(egress_allowlist or ())
    manager = urllib3.PoolManager(num_pools=2, retries=urllib3.Retry(total=2, redirect=3, raise_on_redirect=True))
    manager.pool_classes_by_scheme = policy.pool_classes  # the guarded pools
    try:
        response = manager.request(
            "GET",
            url,
            preload_content=False,
            timeout=urllib3.Timeout(connect=5.0, read=FETCH_TIMEOUT_SECONDS),
            headers={"Accept": "application/json, application/yaml;q=0.9, */*;q=0.5"},
        )
    except EgressRefused as exc:  # raised where the socket would open, before any connection
        raise SpecError(f"url is refused by the egress policy: {exc}", field="url") from None
    except urllib3.exceptions.HTTPError as exc:
        refused = _cause(exc, EgressRefused)
        if refused is not None:
            raise SpecError(f"url is refused by the egress policy: {refused}", field="url") from None
        raise SpecError(f"url could not be fetched: {type(_root(exc)).__name__}", field="url") from None
    try:
        if response.status >= 400:
            raise SpecError(f"url answered HTTP {response.status}", field="url")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.stream(65536):
            size += len(chunk)
            if size > MAX_SPEC_BYTES:
                raise SpecError(f"url sent more than {MAX_SPEC_BYTES // (1024 * 1024)} MiB", field="url")
            chunks.append(chunk)
        final = response.geturl() or url
        if not urlsplit(final).scheme:
            final = url
        return b"".join(chunks), final
    except urllib3.exceptions.HTTPError as exc:
        raise SpecError(f"url could not be read: {type(_root(exc)).__name__}", field="url") from None
    finally:
        response.release_conn()
        response.close()
        manager.clear()


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        for attr in ("reason", "__cause__", "__context__"):
            nxt = getattr(current, attr, None)
            if isinstance(nxt, BaseException):
                stack.append(nxt)
    return None


def _root(exc: BaseException) -> BaseException:
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, BaseException) else exc


def bundle_from_body(body: bytes | str, final_url: str) -> Bundle:
    """The description `fetch` returned, read (the CPU-heavy half of importing from a URL)."""
    return Bundle({"description": parse_text(body, "the description at url")}, "description", source_url=final_url)
