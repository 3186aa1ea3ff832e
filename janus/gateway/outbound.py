"""How an outbound request leaves Janus: through which proxy, trusting which certificates.

One answer for the executor's per-connection pools and the OAuth token client, so a tool call and
the token it needs never disagree about the route or the trust store (issue 12: one outbound factory).
Both read the environment the way requests and curl do, so operators set it once.
"""

from __future__ import annotations

import os
import urllib.request
from typing import Any


def tls_options() -> dict[str, Any]:
    """urllib3 keyword arguments for HTTPS: verify always, against the system trust store (corporate CAs
    included) unless REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE names a bundle."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return {"cert_reqs": "CERT_REQUIRED", **({"ca_certs": bundle} if bundle else {})}


def proxy_for(scheme: str, host: str | None) -> str | None:
    """The proxy URL for a request to `host` over `scheme` (HTTP(S)_PROXY, NO_PROXY), or None to go direct."""
    if urllib.request.proxy_bypass(host or ""):
        return None
    return urllib.request.getproxies().get(scheme)
