"""The bulk transport on one event loop: `LeanTokenClient`'s exchange, no thread per request.

With a thread per connection, a bulk audit spent most of its CPU outside the work
itself: every answer wakes a thread that must take the GIL back from the others, and
at 64-256 threads those hand-offs (futex wake-ups, context switches) cost more than
signing, parsing and storing together (py-spy on bench/bench_bulk.py: 40% of samples
in socket reads and sends waiting to re-enter the interpreter). `AsyncTokenClient`
runs every request of the client on one asyncio loop, in one thread of its own:
non-blocking sockets, no hand-offs. The loop is uvloop's when installed (about 10%
less CPU per customer, `doku.client.loops`), asyncio's otherwise or when asked.

What goes on the wire and what comes back are `LeanTokenClient`'s: the same request
bytes (request line and Host from urllib3's own connection class, each header line
checked as http.client checks it; tests/test_client_aio.py compares them), the same
signing, answers read as http.client reads them (`doku.client.aio_wire`), the same caps
(`read_body` on what was received), per-read timeouts, one deadline per attempt from
connect to the last byte, errors mapped through the same urllib3 -> requests ->
DokuError path, the same retry loop and pacer. TLS verifies against the same CA bundle
as `requests`. The client, transport and hostile-server test modules run against it
too (tests/client_kinds.py).

Use it from a coroutine on the client's loop (`run`, `fetch`: the bulk engine runs its
workers as coroutines there) or through the ordinary blocking `get_tokens`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import SSLError as Urllib3SSLError

from doku.client.aio_wire import Connection, read_body, read_head
from doku.client.bounded import ERROR_BODY_BYTES
from doku.client.bounded import read_body as decode_body
from doku.client.lean import LeanTokenClient, _error_response, _Route, as_requests_error
from doku.client.loops import event_loops, new_event_loop
from doku.client.retry import retry_delay
from doku.client.status import error_for_status, read_error, transport_error
from doku.client.tokens import TokenResult, _Answer, tokens_request_body
from doku.client.wire import header_line
from doku.errors import DokuError, MalformedResponseError, RateLimitedError
from doku.models import validate_customer_id, validate_token_type

__all__ = ["AsyncTokenClient"]
log = logging.getLogger("doku.client.tokens")
T = TypeVar("T")
BLOCKING_THREADS = 8  # pacer waits and store reads handed off the loop (rare: 429s, rates)


class _Received:
    """What `read_body` needs of a response, over the bytes already received."""

    def __init__(self, headers: Any, data: bytes) -> None:
        self.headers = headers
        self._data = data
        self._at = 0

    def read1(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:  # noqa: ARG002 (urllib3 signature)
        end = len(self._data) if amt is None else self._at + amt
        piece = self._data[self._at:end]
        self._at += len(piece)
        return piece


class AsyncTokenClient(LeanTokenClient):
    """`LeanTokenClient` whose requests all run on one asyncio loop (its own thread).

    `event_loop` names one of `doku.client.loops.event_loops()` (default: the fastest
    there is, uvloop when installed); ValueError when there is no such loop here."""

    def __init__(self, *args: Any, event_loop: str | None = None, **kwargs: Any) -> None:
        if event_loop is not None and event_loop not in (here := event_loops()):
            raise ValueError(f"no event loop {event_loop!r} here; one of {', '.join(here)}")
        super().__init__(*args, **kwargs)
        self.event_loop = event_loop  # the loop's name once started
        self._pool_size = int(kwargs.get("pool_size", 16))
        self._idle: list[Connection] = []
        self._prefix: tuple[str, list[bytes]] | None = None  # (url, request line + Host)
        self._ssl: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._blocking_pool = concurrent.futures.ThreadPoolExecutor(
            BLOCKING_THREADS, thread_name_prefix="doku-aio-blocking")

    def __repr__(self) -> str:
        return f"AsyncTokenClient(url={self.url!r}, client_id={self.settings.client_id!r})"

    # -- the loop -------------------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the client's loop and wait for its result (any thread but the
        loop's own)."""
        try:
            loop = self._started_loop()
        except RuntimeError:
            coro.close()
            raise
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("AsyncTokenClient.run was called from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def _started_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                self.event_loop, loop = new_event_loop(self.event_loop)
                self._thread = threading.Thread(target=loop.run_forever, daemon=True,
                                                name="doku-aio-loop")
                self._loop = loop
                self._thread.start()
            if self._loop.is_closed():
                raise RuntimeError("the client is closed")
            return self._loop

    def close(self) -> None:
        with self._start_lock:
            loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and not loop.is_closed():
            def shut() -> None:
                for conn in self._idle:
                    conn.close()
                self._idle.clear()
                loop.call_soon(loop.stop)  # after the aborts' own callbacks close the sockets
            loop.call_soon_threadsafe(shut)
            if thread is not threading.current_thread():
                thread.join(5.0)
                if not thread.is_alive():
                    loop.close()
        self._blocking_pool.shutdown(wait=False, cancel_futures=True)
        super().close()

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._blocking_pool, fn, *args)

    # -- the retry loop (TokenClient.get_tokens, awaiting instead of blocking) --------
    def get_tokens(self, customer_id: str, token_type: str | None = None) -> TokenResult:
        return self.run(self.fetch(customer_id, token_type))

    async def fetch(self, customer_id: str, token_type: str | None = None) -> TokenResult:
        """`get_tokens` as a coroutine on the client's loop."""
        validate_customer_id(customer_id)
        validate_token_type(token_type)
        body = tokens_request_body(customer_id, token_type)
        attempt = 0
        while True:
            attempt += 1
            try:
                ready = getattr(self.pacer, "ready", None)
                if ready is None or not ready():
                    await self._blocking(self.pacer.acquire)
                answer = await self._attempt_async(body, customer_id, token_type)
            except DokuError as exc:
                exc.attempts = attempt
                delay = retry_delay(self.retry, attempt, exc, self.rand)
                log.info("attempt %d for %r failed: %s", attempt, customer_id, exc.code)
                if delay is None:
                    raise
                if isinstance(exc, RateLimitedError):
                    await self._blocking(self.pacer.pause, delay)
                await self._blocking(self.pacer.sleep, delay)
                continue
            return TokenResult(
                customer_id, token_type, answer.tokens, answer.request_id, attempt,
                answer.latency_ms, answer.verified, answer.status, answer.duplicates,
            )

    # -- one attempt ----------------------------------------------------------------
    def _message(self, route: _Route, headers: dict[str, str], body: bytes) -> bytes:
        """The request's bytes: http.client's request line and Host, then each header
        line as `send_framed` writes it, then the body (one write)."""
        if self._prefix is None or self._prefix[0] != route.url:
            conn: Any = route.pool.ConnectionCls(host=route.pool.host, port=route.pool.port)
            keys = {name.lower() for name in headers}
            conn.putrequest("POST", route.path_url,
                            skip_accept_encoding="accept-encoding" in keys,
                            skip_host="host" in keys)
            self._prefix = (route.url, list(conn._buffer))
        lines = list(self._prefix[1])
        lines.extend(header_line(name, value) for name, value in headers.items())
        lines += (b"", b"")
        return b"\r\n".join(lines) + body

    async def _connection(self, route: _Route, deadline_at: float) -> Connection:
        """An idle connection still open, or a new one within the connect timeout."""
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        pool = route.pool
        port = pool.port or (443 if pool.scheme == "https" else 80)
        context = None
        if pool.scheme == "https":
            context = self._ssl = self._ssl or _tls_context()
        timeout = max(min(self.timeout[0], deadline_at - loop.time()), 0.001)
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    Connection, pool.host, port, ssl=context,
                    server_hostname=pool.host if context else None)
        except TimeoutError:
            raise MaxRetryError(None, route.path_url,  # type: ignore[arg-type]
                                ConnectTimeoutError(None, f"connect timed out ({timeout:g} s)")
                                ) from None
        except ssl.SSLError as exc:
            raise MaxRetryError(None, route.path_url,  # type: ignore[arg-type]
                                Urllib3SSLError(str(exc))) from None
        except OSError as exc:
            raise MaxRetryError(None, route.path_url,  # type: ignore[arg-type]
                                NewConnectionError(None, f"Failed to establish a new "  # type: ignore[arg-type]
                                                   f"connection: {exc}")) from None
        return conn

    def _release(self, conn: Connection) -> None:
        if conn.usable and len(self._idle) < self._pool_size:
            self._idle.append(conn)
        else:
            conn.close()

    async def _attempt_async(
        self, body: bytes, customer_id: str, token_type: str | None
    ) -> _Answer:
        """One signed POST: tokens from a trusted answer, or a DokuError."""
        route = self._route_for_url()
        headers = dict(route.headers)
        headers["Content-Length"] = str(len(body))
        headers.update(self._signer.signed_headers(route.target, body))
        request_id = headers["Request-Id"]
        message = self._message(route, headers, body)
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        deadline_at = loop.time() + self.deadline_s
        conn: Connection | None = None
        status: int | None = None
        try:
            # The deadline bounds the connect (`_connection`) and every read (the
            # connection's deadline_at); writing never waits.
            conn = await self._connection(route, deadline_at)
            conn.deadline_at = deadline_at
            assert conn.transport is not None
            conn.transport.write(message)
            head = await read_head(conn, self.timeout[1])
            status = head.status
            ok = 200 <= status < 300
            cap = self.max_body_bytes if ok else min(self.max_body_bytes, ERROR_BODY_BYTES)
            cut = await read_body(conn, head, cap, self.timeout[1])
        except TimeoutError:
            _drop(conn)
            raise self._deadline_error(request_id, status) from None
        except (Urllib3HTTPError, OSError) as exc:
            _drop(conn)
            if loop.time() >= deadline_at:
                raise self._deadline_error(request_id, status) from None
            if status is not None:
                raise read_error(exc, request_id, status) from None
            mapped = as_requests_error(exc)
            if mapped is None:
                raise
            raise transport_error(mapped, request_id) from None
        if ok and not cut.more and not head.will_close:
            self._release(conn)
        else:
            conn.close()  # an error body may be cut short; never reuse with unread bytes
        data = self._decoded(head, cut.data, ok, cap, request_id)
        latency_ms = (time.perf_counter() - started) * 1000
        if not ok:
            raise error_for_status(
                _error_response(head),  # type: ignore[arg-type]
                request_id, data, max_retry_after_s=self.max_retry_after_s,
            )
        headers_seen = head.merged()
        return self._trusted(status, headers_seen, data, request_id, route.target,
                             customer_id, token_type, latency_ms)

    def _decoded(self, head: Any, data: bytes, ok: bool, cap: int, request_id: str) -> bytes:
        """`read_body`'s caps and decoding, as `_read_raw` applies them."""
        decoded_cap = self.max_decoded_bytes if ok else min(self.max_decoded_bytes, cap)
        try:
            return decode_body(_Received(head.lookup(), data), max_wire_bytes=cap,
                               max_decoded_bytes=decoded_cap, truncate=not ok)
        except MalformedResponseError as exc:
            if ok:
                exc.status, exc.request_id = head.status, request_id
                raise
            return b""  # on an error answer the status still says what happened
        except DokuError as exc:  # too large
            exc.status, exc.request_id = head.status, request_id
            raise


def _drop(conn: Connection | None) -> None:
    if conn is not None:
        conn.close()


def _tls_context() -> ssl.SSLContext:
    """Verified TLS against the CA bundle `requests` uses (it ignores the environment's
    here too: `trust_env` is off)."""
    context = ssl.create_default_context(cafile=DEFAULT_CA_BUNDLE_PATH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
