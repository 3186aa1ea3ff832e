"""`python -m janus.child_process`: work a gevent worker hands to a short-lived child process
(janus.services.off_process starts it and explains why).

It reads one pickled job from stdin — a module-level function, its arguments, and whether it needs the app
(then an app is built as the worker's was, from the same environment, without HTTP, and the function runs in
its app context) — and writes `(True, result)` or `(False, ServiceError)` to stdout. Anything else it raises
goes to stderr, which is the worker's: the gateway's log.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any

NICENESS = 10  # the child yields the CPU to the workers' calls when both want it


def main() -> None:
    try:
        os.nice(NICENESS)
    except OSError:  # not permitted here: run at the parent's priority
        pass
    from janus.services.errors import ServiceError
    from janus.services.off_process import decode_job

    fn, args, app_config = decode_job(sys.stdin.buffer.read())

    try:
        answer: tuple[bool, Any] = (True, _run(fn, args, app_config))
    except ServiceError as exc:  # the caller's answer to its client (a 4xx with its message)
        answer = (False, exc)
    sys.stdout.buffer.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


def _run(fn: Any, args: tuple[Any, ...], app_config: dict[str, Any] | None) -> Any:
    if app_config is None:
        return fn(*args)
    from janus import create_app

    app = create_app({**app_config, "SERVE_HTTP": False})
    with app.app_context():
        return fn(*args)


if __name__ == "__main__":
    main()
