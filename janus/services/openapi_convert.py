"""OpenAPI 3.0/3.1 and Swagger 2.0 operations → endpoint proposals (what the executor can send faithfully).

The executor (janus.gateway.executor) sends: path parameters into `{{name}}` (one percent-encoded segment
each); the endpoint's header parameters as request headers (janus.gateway.header_params: a string, number or
boolean each, never a credential or framing header); for GET, DELETE and HEAD every other argument as a query
parameter (arrays as repeated pairs, which is OpenAPI's default `form`/`explode` style); for POST, PUT and
PATCH every other argument in a JSON body (or a body template's shape). It sends no per-call cookie. So an
operation becomes a tool only when that is what it needs; otherwise it is listed as skipped with the reason (a
required cookie, a multipart upload, a comma-separated array, a header Janus sets itself…), and a parameter
that is optional and cannot be sent is left out with a note on the proposal. Nothing is dropped silently.

A header parameter becomes a tool argument named after the header in snake_case (`X-Request-Id` →
`x_request_id`); when a path, query or body argument already has that name, the header's is `<name>_header`
(then `<name>_header_2`, `_3`…), so the names do not depend on the order of anything but the description. A
required header with a single allowed value is sent as a fixed header instead of asked for.

Pure: plain data in, plain data out; no database, no app.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urljoin

from janus.gateway import header_params as header_rules
from janus.services import openapi_tool_metadata
from janus.services.openapi_documents import Bundle, SpecError

MAX_EXPOSED_NAME = 64  # the MCP tool-name rule Janus applies to imports: [A-Za-z0-9_.-], 1-64 characters
MAX_DESCRIPTION = 1000
MAX_SCHEMA_DEPTH = 24
MAX_INPUT_SCHEMA_BYTES = 64 * 1024  # as janus.schemas.endpoint.MAX_SCHEMA_BYTES
METHODS = ("get", "put", "post", "delete", "patch", "head")
UNSUPPORTED_METHODS = ("options", "trace")
BODY_METHODS = {"POST", "PUT", "PATCH"}
_NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")  # what a path placeholder may be named (templating)
# Keywords that describe a payload, not what a caller must send: kept out of input schemas.
_DROPPED_KEYWORDS = frozenset({"example", "examples", "xml", "externalDocs", "discriminator", "readOnly", "writeOnly"})
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})  # OpenAPI says these are ignored


@dataclass
class Proposal:
    """One operation as an endpoint: the fields janus.services.endpoints takes, and where it came from."""

    key: str  # "GET /pets/{petId}": what re-imports match on
    operation_id: str | None
    tags: list[str]
    tool_name: str
    description: str
    method: str
    path_template: str
    input_schema: dict[str, Any]
    body_template: str | None
    notes: list[str] = field(default_factory=list)
    # Tool metadata (issue 15, item 2): the summary as title, the 2xx JSON answer's schema as output schema
    title: str | None = None
    output_schema: dict[str, Any] | None = None
    # Header parameters (janus/gateway/header_params.py); None: none
    header_params: list[dict[str, str]] | None = None

    def definition(self) -> dict[str, Any]:
        return {
            "tool_name": self.tool_name,
            "description": self.description,
            "method": self.method,
            "path_template": self.path_template,
            "input_schema": self.input_schema,
            "body_template": self.body_template,
            "title": self.title,
            "output_schema": self.output_schema,
            "header_params": self.header_params,
        }

    @property
    def fingerprint(self) -> str:
        definition = self.definition()
        if definition["header_params"] is None:
            del definition["header_params"]  # an operation without headers keeps the fingerprint it had before them
        text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Skipped:
    key: str
    operation_id: str | None
    tags: list[str]
    reason: str


@dataclass
class Conversion:
    title: str
    version: str
    spec_version: str
    base_url: str | None
    suggested_auth: dict[str, Any] | None
    proposals: list[Proposal]
    skipped: list[Skipped]


class _Skip(Exception):
    pass


# -- names ------------------------------------------------------------------------------


def snake_case(text: str) -> str:
    """`findPetsByStatus` → find_pets_by_status, `repos/get-content` → repos_get_content, `HTTPServer` → http_server."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return re.sub(r"_+", "_", text)


def tool_name_for(operation_id: str | None, method: str, path: str) -> str:
    name = snake_case(operation_id or "")
    if not name:
        name = snake_case(method.lower() + "_" + path.replace("{", "").replace("}", ""))
    if not name[:1].isalpha():
        name = "op_" + name
    return name


def _fit(name: str, room: int) -> str:
    """At most `room` characters; a cut name keeps a short hash of the whole so cut names stay distinct."""
    if len(name) <= room:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return name[: room - 9].rstrip("_") + "_" + digest


def unique_names(wanted: list[str], prefix: str, taken: set[str] | None = None) -> list[str]:
    """Each name fitted to MAX_EXPOSED_NAME with the prefix, and made unique (`_2`, `_3` …) in order."""
    room = MAX_EXPOSED_NAME - len(prefix)
    if room < 12:
        raise SpecError(f"prefix {prefix!r} leaves too little room for tool names within {MAX_EXPOSED_NAME} characters")
    used = set(taken or ())
    out: list[str] = []
    for name in wanted:
        candidate = _fit(name, room)
        n = 2
        while candidate in used:
            suffix = f"_{n}"
            candidate = _fit(name, room - len(suffix)) + suffix
            n += 1
        used.add(candidate)
        out.append(candidate)
    return out


# -- schemas ----------------------------------------------------------------------------


class _Inliner:
    """$ref resolved into self-contained schemas; a recursive reference becomes an open object (bounded)."""

    def __init__(self, bundle: Bundle, openapi30: bool) -> None:
        self.bundle = bundle
        self.openapi30 = openapi30
        self._done: dict[tuple[str, str, bool], Any] = {}
        self.cuts = 0  # recursions cut so far: a schema computed without one is the same everywhere

    def schema(self, node: Any, file: str, *, for_input: bool = True) -> Any:
        return self._walk(node, file, (), 0, for_input)

    def _walk(self, node: Any, file: str, stack: tuple[tuple[str, str], ...], depth: int, for_input: bool) -> Any:
        if isinstance(node, list):
            return [self._walk(item, file, stack, depth, for_input) for item in node]
        if not isinstance(node, dict):
            return node
        if depth > MAX_SCHEMA_DEPTH:
            return {"description": "(nested deeper than Janus inlines)"}
        ref = node.get("$ref")
        if isinstance(ref, str):
            target, target_file = self.bundle.resolve(ref, file)
            key = (target_file, ref.partition("#")[2])
            if key in stack:
                self.cuts += 1
                name = key[1].rsplit("/", 1)[-1] or "schema"
                return {"type": "object", "description": f"(a nested {name}; recursive, so not expanded further)"}
            cached = self._done.get((*key, for_input))  # an input drops readOnly properties, an output keeps them
            if cached is None:
                cut = self.cuts
                resolved = self._walk(target, target_file, (*stack, key), depth + 1, for_input)
                if self.cuts == cut:  # no recursion was cut below: the same everywhere, reuse it
                    self._done[(*key, for_input)] = resolved
            else:
                resolved = cached
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if not siblings:
                return copy.deepcopy(resolved)
            merged = dict(resolved) if isinstance(resolved, dict) else {}
            merged.update(self._walk(siblings, file, stack, depth, for_input))
            return merged
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED_KEYWORDS or key.startswith("x-"):
                continue
            if key == "properties" and isinstance(value, dict):
                props = {}
                for name, sub in value.items():
                    if for_input and _read_only(sub, self.bundle, file):
                        continue
                    props[name] = self._walk(sub, file, stack, depth + 1, for_input)
                out[key] = props
            elif key in ("nullable",) and self.openapi30:
                continue
            else:
                out[key] = self._walk(value, file, stack, depth + 1, for_input)
        if "properties" in out and isinstance(out.get("required"), list):
            kept = [r for r in out["required"] if r in out["properties"]]
            if kept:
                out["required"] = kept
            else:
                del out["required"]
        if self.openapi30:
            if node.get("nullable") is True and isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
            for bound, exclusive in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
                if out.get(exclusive) is True and bound in out:
                    out[exclusive] = out.pop(bound)
                elif isinstance(out.get(exclusive), bool):
                    del out[exclusive]
        if out.get("type") == "file":
            raise _Skip("it takes a file (type: file), which Janus cannot send")
        return out


def _read_only(schema: Any, bundle: Bundle, file: str) -> bool:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 16:
        if schema.get("readOnly") is True:
            return True
        schema, file = bundle.resolve(schema["$ref"], file)
        seen += 1
    return isinstance(schema, dict) and schema.get("readOnly") is True


# -- the document -----------------------------------------------------------------------


def convert(bundle: Bundle, prefix: str, base_url: str | None = None) -> Conversion:
    root = bundle.root
    if not isinstance(root, dict):
        raise SpecError("the description is not an object (an OpenAPI description is a JSON or YAML object)")
    if isinstance(root.get("swagger"), str) and root["swagger"].startswith("2."):
        spec_version = root["swagger"]
    elif isinstance(root.get("openapi"), str) and root["openapi"].startswith(("3.0", "3.1")):
        spec_version = root["openapi"]
    else:
        raise SpecError(
            "the description is neither OpenAPI 3.0/3.1 nor Swagger 2.0 (no 'openapi: 3.x' or 'swagger: 2.0')"
        )
    swagger2 = spec_version.startswith("2.")
    paths = root.get("paths")
    if not isinstance(paths, dict):
        raise SpecError("the description has no 'paths' object")
    info: dict[str, Any] = root["info"] if isinstance(root.get("info"), dict) else {}
    inliner = _Inliner(bundle, openapi30=not spec_version.startswith("3.1"))
    server = _swagger2_server(root) if swagger2 else _server_url(root.get("servers"))
    if server and bundle.source_url:
        server = urljoin(bundle.source_url, server)
    chosen_base = base_url or (server if server and server.startswith(("http://", "https://")) else None)

    drafts: list[Proposal] = []
    skipped: list[Skipped] = []
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        item_file = bundle.main
        if isinstance(item.get("$ref"), str):
            item, item_file = bundle.resolve(item["$ref"], bundle.main)
            if not isinstance(item, dict):
                continue
        common = item.get("parameters") or []
        for method, op in item.items():
            if method not in METHODS + UNSUPPORTED_METHODS or not isinstance(op, dict):
                continue
            key = f"{method.upper()} {path}"
            op_id = op.get("operationId") if isinstance(op.get("operationId"), str) else None
            tags = [t for t in op.get("tags") or [] if isinstance(t, str)]
            try:
                if method in UNSUPPORTED_METHODS:
                    raise _Skip(f"Janus does not call {method.upper()} operations")
                if not base_url and _own_server(op, item, server, swagger2):
                    raise _Skip("it has its own server URL; import it with --base-url for that server")
                drafts.append(
                    _proposal(bundle, inliner, item_file, path, method.upper(), op, common, root, swagger2, key, tags)
                )
            except _Skip as skip:
                skipped.append(Skipped(key, op_id, tags, str(skip)))
            except SpecError as exc:
                skipped.append(Skipped(key, op_id, tags, f"its description is broken: {exc.message}"))
    names = unique_names([p.tool_name for p in drafts], prefix)
    for proposal, name in zip(drafts, names, strict=True):
        proposal.tool_name = name
    return Conversion(
        title=str(info.get("title") or "API"),
        version=str(info.get("version") or ""),
        spec_version=spec_version,
        base_url=chosen_base,
        suggested_auth=_suggested_auth(bundle, root, swagger2),
        proposals=drafts,
        skipped=skipped,
    )


def _server_url(servers: Any) -> str | None:
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return None
    url = str(servers[0].get("url") or "")
    for name, var in (servers[0].get("variables") or {}).items():
        if isinstance(var, dict) and "default" in var:
            url = url.replace("{" + name + "}", str(var["default"]))
    return url.rstrip("/") or None


def _swagger2_server(root: dict[str, Any]) -> str | None:
    host = root.get("host")
    base_path = str(root.get("basePath") or "")
    if not host:
        return base_path.rstrip("/") or None
    schemes = root.get("schemes") or ["https"]
    scheme = "https" if "https" in schemes else str(schemes[0])
    return f"{scheme}://{host}{base_path}".rstrip("/")


def _own_server(op: dict[str, Any], item: dict[str, Any], server: str | None, swagger2: bool) -> bool:
    if swagger2:
        return False
    own = _server_url(op.get("servers")) or _server_url(item.get("servers"))
    return own is not None and own != server


def _description(op: dict[str, Any]) -> str:
    parts = [str(op.get(k) or "").strip() for k in ("summary", "description")]
    text = "\n\n".join(dict.fromkeys(p for p in parts if p))
    if op.get("deprecated") is True:
        text = "Deprecated. " + text
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1].rstrip() + "…"
    return text


def _parameters(bundle: Bundle, file: str, common: Any, own: Any) -> list[dict[str, Any]]:
    """Path-item and operation parameters, references resolved; the operation's win (by name and location)."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for group in (common, own):
        for raw in group if isinstance(group, list) else []:
            param, at = raw, file
            if isinstance(param, dict) and isinstance(param.get("$ref"), str):
                param, at = bundle.resolve(param["$ref"], file)
            if not isinstance(param, dict) or not isinstance(param.get("name"), str):
                raise SpecError("a parameter has no name")
            merged[(param["name"], str(param.get("in")))] = {**param, "_file": at}
    return list(merged.values())


def _param_schema(inliner: _Inliner, param: dict[str, Any], swagger2: bool) -> dict[str, Any]:
    file = param["_file"]
    if swagger2:
        keep = {
            k: v
            for k, v in param.items()
            if k
            in (
                "type",
                "format",
                "items",
                "enum",
                "default",
                "minimum",
                "maximum",
                "exclusiveMinimum",
                "exclusiveMaximum",
                "minLength",
                "maxLength",
                "pattern",
                "minItems",
                "maxItems",
                "uniqueItems",
                "multipleOf",
            )
        }
        schema = inliner.schema(keep, file)
    elif isinstance(param.get("schema"), dict):
        schema = inliner.schema(param["schema"], file)
    elif isinstance(param.get("content"), dict) and param["content"]:
        raise _Skip(f"parameter {param['name']!r} is serialised as {next(iter(param['content']))}")
    else:
        schema = {}
    if not isinstance(schema, dict):
        schema = {}
    if param.get("description") and "description" not in schema:
        schema["description"] = str(param["description"])[:MAX_DESCRIPTION]
    return schema


def _constant(schema: dict[str, Any]) -> tuple[bool, Any]:
    if "const" in schema:
        return True, schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and len(enum) == 1:
        return True, enum[0]
    return False, None


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _proposal(
    bundle: Bundle,
    inliner: _Inliner,
    file: str,
    path: str,
    method: str,
    op: dict[str, Any],
    common: Any,
    root: dict[str, Any],
    swagger2: bool,
    key: str,
    tags: list[str],
) -> Proposal:
    notes: list[str] = []
    properties: dict[str, Any] = {}
    required: list[str] = []
    fixed_query: list[tuple[str, str]] = []
    headers: list[tuple[str, dict[str, Any], bool, str | None]] = []  # (name, schema, required, fixed value)
    template = path
    body_param: dict[str, Any] | None = None
    form_params: list[dict[str, Any]] = []
    for param in _parameters(bundle, file, common, op.get("parameters")):
        name, where, needed = param["name"], param.get("in"), bool(param.get("required"))
        if where == "body":
            body_param = param
            continue
        if where == "formData":
            form_params.append(param)
            continue
        if where == "cookie":
            _param_schema(inliner, param, swagger2)
            if needed:
                raise _Skip(f"it needs the cookie parameter {name!r}, and Janus sends no per-call cookies")
            notes.append(f"optional cookie parameter {name!r} is left out: Janus sends no per-call cookies")
            continue
        if where == "header":
            if name.lower() in _IGNORED_HEADERS:
                continue
            schema = _param_schema(inliner, param, swagger2)
            is_constant, value = _constant(schema)
            fixed = _scalar(value) if is_constant and needed else None
            problem = _header_problem(name, schema, fixed, {h.lower() for h, _, _, _ in headers})
            if problem is not None:
                if needed:
                    raise _Skip(f"header parameter {name!r}: {problem}")
                notes.append(f"optional header parameter {name!r} is left out: {problem}")
                continue
            headers.append((name, schema, needed, fixed))
            continue
        if where not in ("path", "query"):
            raise _Skip(f"parameter {name!r} is in {where!r}, which OpenAPI does not define")
        schema = _param_schema(inliner, param, swagger2)
        is_constant, value = _constant(schema)
        if where == "path":
            if "{" + name + "}" not in path:
                raise _Skip(f"path parameter {name!r} is not in the path")
            if is_constant:
                template = template.replace("{" + name + "}", quote(_scalar(value), safe=""))
                continue
            if not _NAME_OK.fullmatch(name):
                raise _Skip(f"path parameter {name!r} has a name Janus's path templates cannot hold")
            style = param.get("style", "simple")
            if style != "simple" or schema.get("type") in ("array", "object"):
                raise _Skip(f"path parameter {name!r} is an array, an object or not in the 'simple' style")
            template = template.replace("{" + name + "}", "{{" + name + "}}")
            properties[name] = schema
            required.append(name)
            continue
        # query
        if is_constant and needed:
            fixed_query.append((name, _scalar(value)))
            continue
        problem = _query_problem(param, schema, swagger2)
        if problem is None and method in BODY_METHODS:
            problem = f"Janus sends the arguments of a {method} in its JSON body, not in the query"
        if problem is not None:
            if needed:
                raise _Skip(f"query parameter {name!r}: {problem}")
            notes.append(f"optional query parameter {name!r} is left out: {problem}")
            continue
        if name in properties:
            raise _Skip(f"parameter {name!r} is both a path and a query parameter")
        properties[name] = schema
        if needed:
            required.append(name)
    leftover = re.findall(r"\{([^{}]+)\}", re.sub(r"\{\{[^{}]+\}\}", "", template))
    if leftover:
        raise _Skip(f"path parameter {leftover[0]!r} is used in the path but not declared")

    body_template: str | None = None
    content, body_required, body_file = _request_body(bundle, op, body_param, form_params, root, swagger2, file)
    if content is not None:
        media, schema_node = content
        if method not in BODY_METHODS:
            if body_required:
                raise _Skip(f"it needs a request body with {method}, which Janus does not send")
            notes.append(f"the optional request body is left out: Janus sends no body with {method}")
        elif media is None:
            # Even an optional form or upload body is the point of its operation: a tool without it misleads.
            raise _Skip(f"its request body is {', '.join(schema_node)}; Janus sends JSON bodies only")
        else:
            schema = inliner.schema(schema_node, body_file) if schema_node is not None else {}
            props = schema.get("properties") if isinstance(schema, dict) else None
            flat = (
                isinstance(props, dict)
                and props
                and schema.get("type", "object") == "object"
                and not (set(props) & set(properties))
                and not any(k in schema for k in ("allOf", "oneOf", "anyOf", "additionalProperties"))
            )
            if flat:
                assert isinstance(props, dict)
                properties.update(props)
                if body_required:
                    required.extend(r for r in schema.get("required") or [] if r in props)
            else:
                arg = "body" if "body" not in properties else "request_body"
                properties[arg] = schema if isinstance(schema, dict) else {}
                if body_required:
                    required.append(arg)
                body_template = "{{" + arg + "}}"
    header_params = _header_params(headers, properties, required)
    if fixed_query:
        template += ("&" if "?" in template else "?") + urlencode(fixed_query)
    input_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        input_schema["required"] = list(dict.fromkeys(required))
    size = len(json.dumps(input_schema, separators=(",", ":")))
    if size > MAX_INPUT_SCHEMA_BYTES:
        raise _Skip(f"its input schema would be {size // 1024} KiB; a tool's schema is at most 64 KiB")
    op_id = op.get("operationId") if isinstance(op.get("operationId"), str) else None
    return Proposal(
        key=key,
        operation_id=op_id,
        tags=tags,
        tool_name=tool_name_for(op_id, method, path),
        description=_description(op),
        method=method,
        path_template=template,
        input_schema=input_schema,
        body_template=body_template,
        notes=notes,
        title=_title(op),
        output_schema=_output_schema(bundle, inliner, file, op, root, swagger2, notes),
        header_params=header_params,
    )


def _header_problem(name: str, schema: dict[str, Any], fixed: str | None, seen: set[str]) -> str | None:
    """Why Janus cannot send this header parameter as OpenAPI describes it, or None."""
    if not header_rules.HEADER_NAME_RE.fullmatch(name) or len(name) > header_rules.MAX_HEADER_NAME:
        return "its name is not a valid HTTP header name"
    if header_rules.is_forbidden_header(name):
        return "Janus sets that header itself (credentials, framing, content negotiation or tracing)"
    if name.lower() in seen:
        return "the operation declares that header twice"
    if len(seen) >= header_rules.MAX_HEADER_PARAMS:
        return f"a tool sends at most {header_rules.MAX_HEADER_PARAMS} header parameters"
    if fixed is not None:
        problem = header_rules.value_problem(fixed)
        return None if problem is None else f"its only allowed value {problem}"
    if schema.get("type") in ("array", "object"):
        return "an array or object header; Janus sends a string, number or boolean as a header"
    return None


def _header_params(
    headers: list[tuple[str, dict[str, Any], bool, str | None]], properties: dict[str, Any], required: list[str]
) -> list[dict[str, str]] | None:
    """The header entries, in the description's order; each header asked for becomes an argument (added to
    `properties` and `required`), named after the header and never taking a path, query or body name."""
    entries: list[dict[str, str]] = []
    for name, schema, needed, fixed in headers:
        if fixed is not None:
            entries.append({"header": name, "value": fixed})
            continue
        argument = _header_argument(name, properties)
        properties[argument] = schema if "description" in schema else {**schema, "description": f"The {name} header."}
        if needed:
            required.append(argument)
        entries.append({"argument": argument, "header": name})
    return entries or None


def _header_argument(header: str, taken: dict[str, Any]) -> str:
    base = snake_case(header)[:48] or "header"
    if not base[0].isalpha():
        base = "header_" + base
    if base not in taken:
        return base
    candidate, n = base + "_header", 2
    while candidate in taken:
        candidate = f"{base}_header_{n}"
        n += 1
    return candidate


def _query_problem(param: dict[str, Any], schema: dict[str, Any], swagger2: bool) -> str | None:
    kind = schema.get("type")
    if swagger2:
        if kind == "array" and param.get("collectionFormat", "csv") != "multi":
            fmt = param.get("collectionFormat", "csv")
            return f"an array sent as {fmt!r}; Janus sends arrays as repeated parameters"
        return None
    style = param.get("style", "form")
    explode = param.get("explode", style == "form")
    if kind == "object" or style == "deepObject":
        return "an object parameter; Janus sends only scalars and arrays in the query"
    if kind == "array" and (style != "form" or not explode):
        return "an array not in the exploded form style; Janus sends arrays as repeated parameters"
    if style != "form":
        return f"the {style!r} style, which Janus does not send"
    return None


def _request_body(
    bundle: Bundle,
    op: dict[str, Any],
    body_param: dict[str, Any] | None,
    form_params: list[dict[str, Any]],
    root: dict[str, Any],
    swagger2: bool,
    file: str,
) -> tuple[tuple[str | None, Any] | None, bool, str]:
    """((JSON media type or None, its schema or the media types found), required, file) or (None, False, file)."""
    if swagger2:
        consumes = op.get("consumes") or root.get("consumes") or ["application/json"]
        if form_params:
            needed = any(p.get("required") for p in form_params)
            return (None, consumes if consumes else ["form data"]), needed, file
        if body_param is None:
            return None, False, file
        json_type = next((c for c in consumes if _is_json(c)), None)
        if json_type is None:
            return (None, consumes), bool(body_param.get("required")), file
        return (json_type, body_param.get("schema")), bool(body_param.get("required")), body_param["_file"]
    body = op.get("requestBody")
    at = file
    if isinstance(body, dict) and isinstance(body.get("$ref"), str):
        body, at = bundle.resolve(body["$ref"], file)
    if not isinstance(body, dict):
        return None, False, file
    content: dict[str, Any] = body["content"] if isinstance(body.get("content"), dict) else {}
    needed = bool(body.get("required"))
    json_type = next((c for c in content if _is_json(c)), None)
    if json_type is None:
        return (None, list(content) or ["no media type"]), needed, at
    media = content[json_type] if isinstance(content[json_type], dict) else {}
    return (json_type, media.get("schema")), needed, at


def _title(op: dict[str, Any]) -> str | None:
    return openapi_tool_metadata.title_of(op)


def _output_schema(
    bundle: Bundle,
    inliner: _Inliner,
    file: str,
    op: dict[str, Any],
    root: dict[str, Any],
    swagger2: bool,
    notes: list[str],
) -> dict[str, Any] | None:
    """The first 2xx JSON answer's schema, inlined (janus/services/openapi_tool_metadata.py)."""
    found = openapi_tool_metadata.success_answer(op.get("responses"))
    if found is None:
        return None
    code, answer = found
    at = file
    try:
        if isinstance(answer, dict) and isinstance(answer.get("$ref"), str):
            answer, at = bundle.resolve(answer["$ref"], file)
    except SpecError:
        return None  # a broken answer description costs the tool its output schema, not the tool
    if not isinstance(answer, dict):
        return None
    if swagger2:
        produces = op.get("produces") or root.get("produces") or ["application/json"]
        schema = answer.get("schema") if any(_is_json(p) for p in produces) else None
    else:
        content: dict[str, Any] = answer["content"] if isinstance(answer.get("content"), dict) else {}
        json_type = next((c for c in content if _is_json(c)), None)
        media = content.get(json_type) if json_type is not None else None
        schema = media.get("schema") if isinstance(media, dict) else None
    if schema is None:
        return None
    try:
        inlined = inliner.schema(schema, at, for_input=False)
    except (_Skip, SpecError):
        return None
    return openapi_tool_metadata.checked(inlined, code, notes)


def _is_json(media_type: str) -> bool:
    base = media_type.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json") or base == "*/*"


def _suggested_auth(bundle: Bundle, root: dict[str, Any], swagger2: bool) -> dict[str, Any] | None:
    """How Janus would authenticate, from the security schemes (never a secret: those are not in a spec)."""
    schemes = root.get("securityDefinitions") if swagger2 else (root.get("components") or {}).get("securitySchemes")
    if not isinstance(schemes, dict) or not schemes:
        return None
    order = [name for req in root.get("security") or [] if isinstance(req, dict) for name in req]
    order += [n for n in schemes if n not in order]
    found: list[dict[str, Any]] = []
    for name in order:
        scheme = schemes.get(name)
        if isinstance(scheme, dict) and isinstance(scheme.get("$ref"), str):
            scheme, _ = bundle.resolve(scheme["$ref"], bundle.main)
        if not isinstance(scheme, dict):
            continue
        found.append(_auth_of(name, scheme))
    supported = [f for f in found if f["auth_type"] != "none"]
    best = supported[0] if supported else found[0]
    return {**best, "alternatives": [f for f in found if f is not best]}


def _auth_of(name: str, scheme: dict[str, Any]) -> dict[str, Any]:
    kind = str(scheme.get("type") or "")
    detail: dict[str, Any] = {"scheme": name, "type": kind}
    if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
        return {**detail, "auth_type": "bearer", "note": "a bearer token in the vault"}
    if (kind == "http" and str(scheme.get("scheme", "")).lower() == "basic") or kind == "basic":
        return {**detail, "auth_type": "basic", "note": "a user name and password in the vault"}
    if kind == "apiKey":
        where, header = scheme.get("in"), scheme.get("name")
        if where == "header":
            return {
                **detail,
                "auth_type": "custom_headers",
                "header": header,
                "note": f"the key in the vault as the header {header!r}",
            }
        return {**detail, "auth_type": "none", "note": f"an API key in the {where} ({header!r}) Janus cannot send"}
    if kind == "oauth2":
        flows = scheme.get("flows") if isinstance(scheme.get("flows"), dict) else {}
        token_url = (flows.get("clientCredentials") or {}).get("tokenUrl") if flows else None
        if token_url is None and scheme.get("flow") == "application":
            token_url = scheme.get("tokenUrl")
        if token_url:
            return {
                **detail,
                "auth_type": "oauth2_client_credentials",
                "token_url": token_url,
                "note": "client id and secret in the vault",
            }
        return {
            **detail,
            "auth_type": "bearer",
            "note": "an OAuth access token in the vault (user flows are not run by Janus)",
        }
    if kind == "openIdConnect":
        return {**detail, "auth_type": "bearer", "note": "an access token in the vault"}
    return {**detail, "auth_type": "none", "note": f"scheme type {kind!r} is not one Janus sends"}
