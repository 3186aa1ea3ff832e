"""An upstream on 127.0.0.1 that holds every request open and records, by path, when its caller hangs up.

For cancellation tests ("the upstream sees the connection closed") that call many paths, some more than
once on one kept-alive connection: each request is recorded as it arrives, then held until the test
releases it (answered 200 with JSON) or the gateway closes the connection (recorded in `hung_up`).
"""

from __future__ import annotations

import threading

from werkzeug.wrappers import Request, Response

from tests.support.upstream import Upstream, hold_until_disconnect, json_response
from tests.support.waiting import wait_for


class HangingUpstream:
    def __init__(self) -> None:
        self.arrived: list[str] = []  # request paths, in arrival order
        self.hung_up: list[str] = []  # paths whose connection the gateway closed before the answer
        self.answered: list[str] = []
        self.release = threading.Event()
        self._server = Upstream()
        self._server.route("/", self._hold)  # every path
        self._server.start()

    @property
    def url(self) -> str:
        return self._server.url

    def stop(self) -> None:
        self.release.set()
        self._server.stop()

    def wait_arrived(self, path: str, timeout: float = 15.0) -> None:
        wait_for(lambda: path in self.arrived, timeout=timeout, what=f"the upstream to receive {path}")

    def wait_hung_up(self, path: str, timeout: float = 15.0) -> None:
        wait_for(lambda: path in self.hung_up, timeout=timeout, what=f"the gateway to close the connection of {path}")

    def _hold(self, request: Request) -> Response:
        self.arrived.append(request.path)
        if not hold_until_disconnect(request, self.release):
            self.hung_up.append(request.path)
            return json_response({"path": request.path, "late": False})  # to a closed socket: never read
        self.answered.append(request.path)
        return json_response({"path": request.path, "late": True})
