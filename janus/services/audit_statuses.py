"""The outcomes a tool-call audit row records: one definition for the API, the CLI, the portal and the admin tools.

`mcp-cli` loads nothing of the server side, so it spells them out (janus/cli/mcp_cli.py LOG_STATUSES);
a test keeps the two equal.
"""

from __future__ import annotations

# success: the upstream answered 2xx; failure: anything else that reached the backend; denied: refused
# for the token's scopes, role or limits; cancelled: the client withdrew the call before its answer;
# throttled: refused by a rate limit or the gateway's concurrency cap (janus/transports/rate_limits.py).
STATUSES = ("success", "failure", "denied", "cancelled", "throttled")
