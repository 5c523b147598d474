"""One overall deadline per attempt, from connect to the last byte of the body.

`requests`' read timeout applies to each socket read, so a server that drips one byte
a second never trips it. Here every attempt gets a `Deadline`; one shared watchdog
thread shuts down the sockets of an attempt whose deadline passes, which wakes the
blocked read at once (in the TCP connect, the TLS handshake, the status line, the
headers or the body: whichever is in progress). The client then reports
`DeadlineExceededError` instead of whatever the cut connection looked like.

How the sockets are found: `DeadlineAdapter` makes `requests` use connection pools
whose connections register themselves with the calling thread's current deadline
(`watching`) when they are taken from the pool or connect, and unregister when they go
back to the pool, so a watchdog never touches a connection another request is using.
Each connection keeps a duplicate of its socket for that purpose (the TLS wrapper
detaches the original during the handshake); shutting down either descriptor ends the
one TCP connection.

Not covered: DNS resolution (`getaddrinfo` cannot be interrupted); it is bounded by the
system resolver's own timeouts.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from doku.client.wire import QuickResponse, send_framed

_SOCK_ATTR = "_doku_deadline_sock"
_DEADLINE_ATTR = "_doku_deadline"


class Deadline:
    """The end time of one attempt and the connections it is using."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self.at = clock() + seconds
        self._lock = threading.Lock()
        self._conns: list[HTTPConnection] = []
        self.fired = False
        self.done = False

    def remaining(self) -> float:
        return self.at - self._clock()

    def expired(self) -> bool:
        return self.fired or self.remaining() <= 0

    def watch(self, conn: HTTPConnection) -> None:
        with self._lock:
            if self.done:
                return
            if all(c is not conn for c in self._conns):
                self._conns.append(conn)
            setattr(conn, _DEADLINE_ATTR, self)
            fired = self.fired
        if fired:  # connected after the deadline: cut it at once
            _shutdown(conn)

    def forget(self, conn: HTTPConnection) -> None:
        with self._lock:
            self._conns = [c for c in self._conns if c is not conn]

    def fire(self) -> None:
        """The deadline has passed: shut down every connection of the attempt."""
        with self._lock:  # held while shutting down, so forget() waits for us
            if self.done:
                return
            self.fired = True
            for conn in self._conns:
                _shutdown(conn)

    def finish(self) -> bool:
        """The attempt is over: stop watching. True when the deadline had fired."""
        with self._lock:
            self.done = True
            self._conns = []
            return self.fired


def _shutdown(conn: HTTPConnection) -> None:
    for sock in (getattr(conn, _SOCK_ATTR, None), conn.sock):
        if sock is not None:
            with suppress(OSError):  # already closed or never connected
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for all deadlines of the process (started on first use)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._seq), deadline))
            if self._thread is None or not self._thread.is_alive():  # also after a fork
                self._thread = threading.Thread(
                    target=self._run, name="doku-deadline-watchdog", daemon=True
                )
                self._thread.start()
            # The watchdog sleeps until the earliest deadline; waking it (a thread switch
            # per attempt, most of a bulk audit's lock time) matters only when the new
            # one is now the earliest. Deadlines of equal length arrive in order.
            if self._heap[0][2] is deadline:
                self._cond.notify()

    def _next_due(self) -> Deadline:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                left = self._heap[0][0] - time.monotonic()
                if left <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(left)

    def _run(self) -> None:
        while True:
            self._next_due().fire()


_WATCHDOG = _Watchdog()
_current = threading.local()


@contextmanager
def watching(deadline: Deadline) -> Iterator[Deadline]:
    """Run a block as one attempt under `deadline`: its connections are cut when it passes.

    On leaving, the deadline is finished (read `deadline.fired` afterwards, or call
    `finish()` inside the block to decide atomically whether it fired)."""
    previous = getattr(_current, "deadline", None)
    _current.deadline = deadline
    _WATCHDOG.add(deadline)
    try:
        yield deadline
    finally:
        deadline.finish()
        _current.deadline = previous


def _watch_current(conn: HTTPConnection) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(conn)


_FRAMED_OPTIONS = frozenset({"preload_content", "decode_content", "enforce_content_length"})


class _WatchedConnection:
    """Mixin: keep a duplicate of the connected socket for the watchdog; requests with a
    framed bytes body and their responses take `doku.client.wire`'s short way."""

    response_class: type[http.client.HTTPResponse] = QuickResponse

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        old = getattr(self, _SOCK_ATTR, None)
        if old is not None:
            old.close()
        setattr(self, _SOCK_ATTR, sock.dup())
        _watch_current(self)  # type: ignore[arg-type]
        return sock

    def request(self, method: str, url: str, body: Any = None, headers: Any = None,
                **kwargs: Any) -> None:
        """As urllib3 sends it, but headers and a bytes body with a Content-Length go out
        in one write: two writes wake the server twice, each a context switch."""
        if isinstance(body, bytes) and headers is not None and not kwargs.get("chunked"):
            options = {k: v for k, v in kwargs.items() if k != "chunked"}
            if set(options) <= _FRAMED_OPTIONS and send_framed(self, method, url, body,
                                                               headers, **options):
                return  # the short way (`doku.client.wire`)
        framed = headers is not None and any(k.lower() == "content-length" for k in headers)
        if not (isinstance(body, bytes) and framed and not kwargs.get("chunked")):
            super().request(method, url, body=body, headers=headers, **kwargs)  # type: ignore[misc]
            return
        self._doku_body: bytes | None = body
        try:
            super().request(method, url, body=None, headers=headers, **kwargs)  # type: ignore[misc]
        finally:
            self._doku_body = None

    def _send_output(self, message_body: Any = None, **kwargs: Any) -> None:
        # http.client's own method (stable since 3.6) writes the header block and the
        # body separately; with a body held by `request`, one buffer goes out instead.
        body = getattr(self, "_doku_body", None)
        if body is None or message_body is not None:
            super()._send_output(message_body, **kwargs)  # type: ignore[misc]
            return
        buffer: list[bytes] = self._buffer  # type: ignore[attr-defined]
        buffer.extend((b"", b""))
        message = b"\r\n".join(buffer)
        del buffer[:]
        self.send(message + body)  # type: ignore[attr-defined]

    def close(self) -> None:
        super().close()  # type: ignore[misc]
        dup = getattr(self, _SOCK_ATTR, None)
        if dup is not None:
            setattr(self, _SOCK_ATTR, None)
            dup.close()


class WatchedHTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedPool:
    """Mixin: a connection taken from the pool joins the current deadline; one put back
    leaves it."""

    # `Any`: urllib3 types these with its private BaseHTTPConnection protocol.
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        _watch_current(conn)
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            deadline: Deadline | None = getattr(conn, _DEADLINE_ATTR, None)
            if deadline is not None:
                deadline.forget(conn)
                setattr(conn, _DEADLINE_ATTR, None)
        super()._put_conn(conn)  # type: ignore[misc]


class WatchedHTTPPool(_WatchedPool, HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections the deadline watchdog can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # A fresh dict: the class-level default is shared by every PoolManager.
        self.poolmanager.pool_classes_by_scheme = {
            "http": WatchedHTTPPool,
            "https": WatchedHTTPSPool,
        }
