"""The mailboxes of a bus: a bounded local queue per stream key, and topic handlers.

Both carriers (local.py, postgres.py) deliver into these; they hold no carrier state,
so this module imports nothing of the bus package.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

TopicHandler = Callable[[str], None]

MAILBOX_SIZE = 1000  # messages held for one stream; beyond this the oldest is dropped
_DROP_LOG_EVERY = 100  # a stuck client would otherwise log one line per message

_CLOSED = object()  # wakes a waiting get() when the mailbox is closed
# Topic keys cannot be session ids (those are URL-safe base64: no colon), so the two never meet.
TOPIC_PREFIX = "topic:"


class Mailbox:
    """A bounded local queue for one stream key. One reader (the stream), any number of writers.

    Bounded twice: by count (`maxsize`; a full mailbox drops its oldest message) and, when
    `max_bytes` is set, by the size of what it holds. A stream whose client stops reading
    would otherwise hold up to `maxsize` results of any size each. Past `max_bytes` the
    mailbox gives up on its reader: it drops everything, closes (publishers learn the stream
    is gone) and marks itself `overflowed`, so the stream can say why it ends.
    """

    def __init__(
        self, key: str, maxsize: int = MAILBOX_SIZE, on_close=None, *, max_bytes: int = 0, on_overflow=None
    ) -> None:
        self.key = key
        self.dropped = 0
        self.overflowed = False
        self.max_bytes = max_bytes
        self._bytes = 0  # characters queued: the size of the JSON text (ensure_ascii=False, so about bytes)
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._lock = threading.Lock()  # makes "drop the oldest, then put" one step for concurrent writers
        self._closed = False
        self._on_close = on_close
        self._on_overflow = on_overflow

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def put(self, message: str) -> bool:
        """Queue a message; False when the mailbox is closed. Never blocks: a full mailbox drops its oldest."""
        dropped_now = overflow_now = False
        size = len(message)
        with self._lock:
            if self._closed:
                return False
            # An empty mailbox takes any one message: its reader is keeping up, so what it holds
            # stays under max_bytes plus the largest single message.
            if self.max_bytes and self._bytes and self._bytes + size > self.max_bytes:
                self.overflowed = overflow_now = True
                queued = self._bytes
            else:
                while True:
                    try:
                        self._queue.put_nowait(message)
                        self._bytes += size
                        break
                    except queue.Full:
                        try:
                            self._bytes -= len(self._queue.get_nowait())
                            self.dropped += 1
                            dropped_now = True
                        except queue.Empty:  # the reader emptied it meanwhile
                            pass
            dropped = self.dropped
        if overflow_now:
            log.warning(
                "mailbox %s: its stream is not reading (%d bytes queued, %d more offered, cap %d); "
                "dropped its messages and closed it",
                self.key,
                queued,
                size,
                self.max_bytes,
            )
            self.close()
            if self._on_overflow is not None:
                self._on_overflow(self)
            return False
        if dropped_now and (dropped == 1 or dropped % _DROP_LOG_EVERY == 0):
            log.warning(
                "mailbox %s is full (%d messages): dropped the oldest, %d so far; is its stream stuck?",
                self.key,
                self._queue.maxsize,
                dropped,
            )
        return True

    def get(self, timeout: float | None) -> str | None:
        """The next message, or None on timeout or once the mailbox is closed (see `closed`)."""
        if self._closed:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            return None
        with self._lock:
            self._bytes = max(0, self._bytes - len(item))  # close() may have zeroed it meanwhile
        return item

    def close(self) -> None:
        """Close and detach from the bus (only if still the key's current mailbox). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            while True:  # queued messages die with the stream; the sentinel then always fits
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._bytes = 0
            self._queue.put_nowait(_CLOSED)
        if self._on_close is not None:
            self._on_close(self)


class Mailboxes:
    """The mailboxes of one process, by key. Thread-safe."""

    def __init__(self, maxsize: int = MAILBOX_SIZE) -> None:
        self._maxsize = maxsize
        self._boxes: dict[str, Mailbox] = {}
        self._topics: dict[str, TopicHandler] = {}
        self._lock = threading.Lock()

    def on_topic(self, topic: str, handler: TopicHandler) -> None:
        """Messages broadcast on `topic` go to `handler` (in the bus's receiving thread: keep it quick)."""
        with self._lock:
            self._topics[TOPIC_PREFIX + topic] = handler

    def subscribe(self, key: str, *, max_bytes: int = 0, on_overflow=None) -> Mailbox:
        mailbox = Mailbox(key, self._maxsize, on_close=self._detach, max_bytes=max_bytes, on_overflow=on_overflow)
        with self._lock:
            old = self._boxes.get(key)
            self._boxes[key] = mailbox
        if old is not None:
            # The older stream for this key ends (its get() returns None); the new one receives from now on.
            old.close()
        return mailbox

    def unsubscribe(self, key: str) -> None:
        with self._lock:
            mailbox = self._boxes.pop(key, None)
        if mailbox is not None:
            mailbox.close()

    def _detach(self, mailbox: Mailbox) -> None:
        # Identity check: closing a replaced mailbox must not remove its successor.
        with self._lock:
            if self._boxes.get(mailbox.key) is mailbox:
                del self._boxes[mailbox.key]

    def deliver(self, key: str, message: str) -> bool:
        with self._lock:
            mailbox = self._boxes.get(key)
            handler = self._topics.get(key) if mailbox is None and key.startswith(TOPIC_PREFIX) else None
        if handler is not None:
            try:
                handler(message)
            except Exception:
                log.exception("bus topic handler for %s failed", key)
            return True
        return mailbox is not None and mailbox.put(message)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._boxes

    def close_all(self) -> None:
        with self._lock:
            boxes = list(self._boxes.values())
            self._boxes.clear()
        for mailbox in boxes:
            mailbox.close()
