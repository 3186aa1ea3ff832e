"""The peer for bench/http_benchmark.py: FastMCP.from_openapi over the same upstream.

What a Python user would write to turn the upstream's OpenAPI document into MCP
tools: fetch the document, hand it and an HTTP client to FastMCP.from_openapi,
serve Streamable HTTP. Runs in bench/.venv-peer (bench/requirements-bench.txt).

  python bench/http_fastmcp_peer.py --openapi-url URL --upstream URL --port N [--stateful] [--sse-responses]

Defaults: stateless HTTP with JSON responses (no session, no SSE framing: the
cheapest mode FastMCP offers for request/response tool calls), uvicorn with
its defaults (whatever loop and HTTP parser are installed; the banner and
access log off, as Janus has none). The tool is named by the document's
operationId (bench_trade_volume), so the load sends the same body to both.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--openapi-url", required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the REST API")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stateful", action="store_true", help="sessions (Mcp-Session-Id) instead of stateless")
    parser.add_argument("--sse-responses", action="store_true", help="answer POSTs with SSE instead of JSON")
    parser.add_argument("--timeout", type=float, default=10.0, help="upstream timeout (Janus's connection uses 10 s)")
    args = parser.parse_args()

    import httpx2
    from fastmcp import FastMCP

    with urllib.request.urlopen(args.openapi_url, timeout=10) as response:  # noqa: S310 - 127.0.0.1 only: the bench's nginx
        spec = json.load(response)
    client = httpx2.AsyncClient(base_url=args.upstream, timeout=args.timeout)
    server = FastMCP.from_openapi(openapi_spec=spec, client=client, name="bench-peer")
    print(f"peer: fastmcp serving {args.upstream} on 127.0.0.1:{args.port}/mcp", file=sys.stderr, flush=True)
    server.run(
        transport="http",
        host="127.0.0.1",
        port=args.port,
        path="/mcp",
        show_banner=False,
        log_level="warning",
        json_response=not args.sse_responses,
        stateless_http=not args.stateful,
        uvicorn_config={"access_log": False},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
