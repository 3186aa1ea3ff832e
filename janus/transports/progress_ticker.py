"""`notifications/progress` for one tools/call, for transports that write messages themselves.

/mcp streams its progress from a generator (janus/transports/progress.py);
stdio (and any transport with a "send one message" function) uses this
instead: one notification when the call starts, one every interval while it
waits, and a final one (with `total`, so the bar completes) just before the
answer. Same shape and texts as /mcp, so clients see one behaviour.

After `finish` or `stop` returns no tick of this call can be sent any more,
so the caller's response always comes after the call's last progress.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from janus.mcp import jsonrpc

PROGRESS = "notifications/progress"

Send = Callable[[dict], None]


def progress_notification(token: Any, progress: int, text: str, total: int | None = None) -> dict:
    params: dict[str, Any] = {"progressToken": token, "progress": progress, "message": text}
    if total is not None:
        params["total"] = total
    return jsonrpc.notification(PROGRESS, params)


def progress_token(message: object) -> Any:
    """The progress token of a tools/call request, or None when it asks for no progress (or names an invalid one)."""
    if (
        not isinstance(message, dict)
        or message.get("method") != "tools/call"
        or not jsonrpc.is_valid_id(message.get("id"))
    ):
        return None
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    token = meta.get("progressToken") if isinstance(meta, dict) else None
    # An invalid token is the core's to refuse (-32602); no progress for a request that gets an error.
    return token if jsonrpc.is_valid_id(token) else None


class ProgressTicker:
    def __init__(self, send: Send, token: Any, tool: object, interval: float) -> None:
        self._send = send
        self._token = token
        self._tool = tool
        self._interval = interval
        self._step = 0
        self._over = False
        self._wake = threading.Event()
        self._lock = threading.Lock()  # a tick and the end never race: nothing follows the end
        self._thread = threading.Thread(target=self._run, name="janus-progress-ticker", daemon=True)

    def start(self) -> ProgressTicker:
        self._send(progress_notification(self._token, 0, f"Calling {self._tool}"))
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._wake.wait(self._interval):
            with self._lock:
                if self._over:
                    return
                self._step += 1
                self._send(
                    progress_notification(
                        self._token, self._step, f"Waiting for the upstream API ({self._step * self._interval:g} s)"
                    )
                )

    def finish(self, response: object) -> None:
        """The call is answered: send the last progress (total = progress), then the caller sends `response`."""
        with self._lock:
            if self._over:
                return
            self._over = True
            self._wake.set()
            self._step += 1
            ended = "Upstream answered" if isinstance(response, dict) and "result" in response else "The call failed"
            self._send(progress_notification(self._token, self._step, ended, total=self._step))

    def stop(self) -> None:
        """The call was cancelled (it may run on upstream): no more progress, and no final one."""
        with self._lock:
            self._over = True
            self._wake.set()
