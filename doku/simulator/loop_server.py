"""The simulator's event-loop front end: every connection on one asyncio loop thread.

Why: with a thread per connection (`doku.simulator.server`) most of the simulator's CPU
went to threads handing the GIL to each other on every answer, so its ceiling was
barely above the bulk engine it must never limit (issue 16). Here one thread serves
every connection.

How, without a second implementation of what is answered: bytes received on a
connection are kept; once they may hold a request, the same `SimulatorHandler` runs on
them in memory (`handle_one_request` over `_Received` and a BytesIO). If the request is
not all there, a read of `_Received` raises `NeedMore` before the handler has done
anything with an effect (see `SimulatorHandler._read_body`), and the handler runs again
when more bytes come. Answers are therefore the ones the threaded front end sends, byte
for byte (with latency, see `doku.simulator.handler` on when they are made). The
handler's waits are kept by the loop: the latency, for which a made answer is held
(`hold`), and a hang (`Wait`: `end_hang`, then close). A connection serves its
requests one after another, pipelined ones included, as a thread would.

The common request (plain, complete, signed, new) skips http.server's machinery:
`doku.simulator.fast_lane` answers it from the received bytes with the handler's
decisions, effects and answer bytes, and declines anything else before any effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
import threading
from typing import Any, cast

from doku.client.loops import new_event_loop
from doku.simulator.fast_lane import answer_plain, lane_open
from doku.simulator.handler import SimulatorHandler, Wait
from doku.simulator.request_head import MAX_HEADERS, MAX_LINE
from doku.simulator.server import LISTEN_BACKLOG
from doku.simulator.state import _State

logger = logging.getLogger(__name__)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # what send_response_only(100) writes


class NeedMore(BaseException):
    """The request is not all here yet. A BaseException so that no `except Exception`
    of the handler takes it for a failure."""


class _Received:
    """A connection's received bytes read as the handler reads its socket file: a read
    it cannot complete raises NeedMore unless the peer has finished sending (`eof`),
    when it returns what there is, as the socket file would."""

    def __init__(self, data: bytes, eof: bool) -> None:
        self.data, self.eof, self.pos = data, eof, 0

    def readline(self, size: int | None = -1, /) -> bytes:
        data, pos = self.data, self.pos
        bounded = size is not None and size >= 0
        limit = min(len(data), pos + size) if bounded and size is not None else len(data)
        newline = data.find(b"\n", pos, limit)
        if newline >= 0:
            end = newline + 1
        elif bounded and size is not None and len(data) - pos >= size:
            end = pos + size  # no newline within the limit: the file returns as much
        elif self.eof:
            end = len(data)
        else:
            raise NeedMore
        self.pos = end
        return data[pos:end]

    def head_lines(self) -> list[bytes] | None:
        """What `read_head_lines` would read line by line, taken at once when the block
        is all here in CRLF lines within its limits; None: read it line by line."""
        data, pos = self.data, self.pos
        if data.startswith(b"\r\n", pos):
            self.pos = pos + 2
            return [b"\r\n"]
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return None
        lines = data[pos:end].split(b"\r\n")
        if (len(lines) >= MAX_HEADERS  # the blank line counts too
                or data.count(b"\n", pos, end) != len(lines) - 1  # a bare LF ends a line
                or max(map(len, lines)) > MAX_LINE - 2):
            return None
        self.pos = end + 4
        return [line + b"\r\n" for line in lines] + [b"\r\n"]

    def read(self, size: int = -1, /) -> bytes:
        data, pos = self.data, self.pos
        if size < 0:
            if not self.eof:
                raise NeedMore
            size = len(data) - pos
        if len(data) - pos < size and not self.eof:
            raise NeedMore
        self.pos = min(len(data), pos + size)
        return data[pos:self.pos]


class _InMemoryHandler(SimulatorHandler):
    """The handler without a socket: `serve` runs it on bytes already received."""

    deferred = True
    owes_continue = False
    written: io.BytesIO  # = wfile: what the handler answered to the request in hand

    def __init__(self, server: LoopServer, client_address: Any) -> None:
        # BaseRequestHandler.__init__ would serve a socket; nothing here is one.
        self.server = server  # type: ignore[assignment]
        self.client_address = client_address
        self.request = None

    def handle_expect_100(self) -> bool:
        # Sent by the connection as soon as the head is in (the client may wait for
        # it before sending the body), not with the answer.
        self.owes_continue = True
        return True


class _Connection(asyncio.Protocol):
    def __init__(self, server: LoopServer) -> None:
        self.server = server
        self.received = b""  # bytes: one request a read is the common case, no copy
        self.eof = self.closed = False
        self.continued = False  # the current request's 100 Continue has been sent
        self.waiting: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None
        self.handler: _InMemoryHandler | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport = transport  # asyncio sets TCP_NODELAY on TCP transports
        self.handler = _InMemoryHandler(self.server, transport.get_extra_info("peername"))
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.received = self.received + data if self.received else data
        if self.waiting is None:
            self.serve()

    def eof_received(self) -> bool:
        self.eof = True
        if self.waiting is None:
            self.serve()
        return True  # keep the transport: closing is ours, after the last answer

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self.closed = True
        if self.waiting is not None:
            self.waiting.cancel()
            self.waiting = None
        self.server.connections.discard(self)

    def serve(self) -> None:
        """Answer the requests received, one at a time, until one is incomplete or
        waits (latency, hang) or the connection is to close."""
        handler = self.handler
        assert handler is not None
        lane = self.server.lane
        while not self.closed and self.waiting is None and (self.received or self.eof):
            if lane and (done := answer_plain(self.server.state, self.received)):
                self.received = self.received[done.consumed:]
                self._send_after(done.hold, done.out, None, done.close, log=False)
                continue
            source = _Received(self.received, self.eof)
            handler.rfile = source  # type: ignore[assignment]
            handler.wfile = handler.written = io.BytesIO()
            handler.owes_continue = False
            try:
                handler.handle_one_request()
            except NeedMore:
                if handler.owes_continue and not self.continued:
                    self.continued = True
                    self._write(CONTINUE)
                return
            except Exception:  # a bug: the threaded front end would drop the connection
                logger.exception("simulator connection failed")
                self.close()
                return
            self.received = self.received[source.pos:]
            self._answered(handler)

    def _answered(self, handler: _InMemoryHandler) -> None:
        out = handler.written.getvalue()
        if handler.owes_continue and not self.continued:
            out = CONTINUE + out
        handler.owes_continue = self.continued = False  # this request is read whole
        hold, handler.hold = handler.hold, 0.0
        hang, handler.pending = handler.pending, None
        self._send_after(hold, out, hang, handler.close_connection, log=True)

    def _send_after(self, hold: float, out: bytes, hang: Wait | None, close: bool, *,
                    log: bool) -> None:
        """Send `out` now, or after `hold` seconds (the latency); `log`: the handler
        logs the request when it is sent (`SimulatorHandler.sent`)."""
        if hold > 0:
            loop = asyncio.get_running_loop()
            self.waiting = loop.call_later(hold, self._held, out, hang, close, log)
        else:
            self._deliver(out, hang, close)

    def _held(self, out: bytes, hang: Wait | None, close: bool, log: bool) -> None:
        self.waiting = None
        self._deliver(out, hang, close)
        if hang is None and log:
            assert self.handler is not None
            self.handler.sent()
        self.serve()  # requests that came in meanwhile

    def _deliver(self, out: bytes, hang: Wait | None, close: bool) -> None:
        self._write(out)
        if hang is not None:
            loop = asyncio.get_running_loop()
            self.waiting = loop.call_later(hang.seconds, self._hung)
        elif close:
            self.close()

    def _hung(self) -> None:
        """A hang is over: the connection closes unanswered."""
        self.waiting = None
        handler = self.handler
        assert handler is not None
        handler.end_hang()
        self.close()

    def _write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.closed:
            self.transport.write(data)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()  # after what is written has gone


class LoopServer:
    """Listens on `address` when made (or on `sock`, a listening socket made by the
    caller: `doku.simulator.group`'s processes share a port); `serve_forever` runs the
    loop in the calling thread until `stop_serving` (from any thread). `event_loop`
    names one of `doku.client.loops.event_loops()` (default: the first)."""

    def __init__(self, address: tuple[str, int], state: _State,
                 event_loop: str | None = None, *, sock: socket.socket | None = None) -> None:
        self.state = state
        self.lane = lane_open(state.config)  # plain requests skip http.server (fast_lane)
        self.connections: set[_Connection] = set()
        self.event_loop, self._loop = new_event_loop(event_loop)
        self._state_lock = threading.Lock()
        self._stopped = self._running = False
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
                sock.listen(LISTEN_BACKLOG)
            except OSError:
                sock.close()
                self._loop.close()
                raise
        sock.setblocking(False)
        self._socket = sock
        host, port = sock.getsockname()[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.server_address = (self.server_name, self.server_port)

    def serve_forever(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(loop.create_server(
            lambda: _Connection(self), sock=self._socket, backlog=LISTEN_BACKLOG))
        try:
            with self._state_lock:  # stop_serving before this point: never run
                run = self._running = not self._stopped
            if run:
                loop.run_forever()
        finally:
            server.close()
            for conn in list(self.connections):
                conn.close()
            loop.run_until_complete(asyncio.sleep(0))  # let the closes run
            loop.close()

    def stop_serving(self) -> None:
        """Stop listening and close every connection; waits and hangs end unanswered."""
        with self._state_lock:
            self._stopped = True
            running = self._running
        if running:  # else a stop now would end the loop while it starts the server
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                self._loop.call_soon_threadsafe(self._loop.stop)
