"""The bulk transport: `TokenClient` semantics without `requests`' per-request work.

`TokenClient` builds every attempt through `Session.prepare_request`, which merges the
session's settings, hooks, cookies and headers each time; that merging, not the
network, was most of the client's CPU in a bulk audit (see bench/bench_bulk.py).
`LeanTokenClient` does that work once: the header template, the request path and the
connection pool come from the session when the client is made, and every attempt only
signs its body and hands the bytes to that pool (`urlopen`, as `requests` itself does).

Everything else is `TokenClient`'s own code, so the two cannot drift: the same
retry/backoff/Retry-After/pacing loop (`get_tokens`), the same pool classes under the
per-attempt deadline watchdog, the same capped body reading, the same error mapping
(urllib3's exceptions become the `requests` exception that `requests` would have
raised, then the same `DokuError`) and the same response-signature check. The wire
bytes are the same too (tests/test_client_lean.py compares them byte for byte).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import InvalidHeader as Urllib3InvalidHeader
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.exceptions import SSLError as Urllib3SSLError

from doku.client.auth import request_target
from doku.client.deadline import Deadline, watching
from doku.client.status import error_for_status, transport_error
from doku.client.tokens import TokenClient, _Answer

__all__ = ["LeanTokenClient", "as_requests_error"]


def as_requests_error(exc: Exception) -> requests.exceptions.RequestException | None:
    """The exception `requests.adapters.HTTPAdapter.send` raises for a urllib3 failure
    of `urlopen` (None: one it lets through unchanged)."""
    errors = requests.exceptions
    if isinstance(exc, ProtocolError | OSError | ClosedPoolError):
        return errors.ConnectionError(exc)
    if isinstance(exc, MaxRetryError):
        reason = exc.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(
            reason, NewConnectionError
        ):
            return errors.ConnectTimeout(exc)
        if isinstance(reason, ResponseError):
            return errors.RetryError(exc)
        if isinstance(reason, Urllib3ProxyError):
            return errors.ProxyError(exc)
        if isinstance(reason, Urllib3SSLError):
            return errors.SSLError(exc)
        return errors.ConnectionError(exc)
    if isinstance(exc, Urllib3ProxyError):
        return errors.ProxyError(exc)
    if isinstance(exc, Urllib3SSLError):
        return errors.SSLError(exc)
    if isinstance(exc, ReadTimeoutError):
        return errors.ReadTimeout(exc)
    if isinstance(exc, Urllib3InvalidHeader):
        return errors.InvalidHeader(exc)
    return None


def _error_response(raw: urllib3.BaseHTTPResponse) -> requests.Response:
    """What `error_for_status` reads of a non-2xx answer, as `requests` would build it."""
    resp = requests.Response()
    resp.status_code = raw.status
    resp.headers = CaseInsensitiveDict(raw.headers)
    resp.reason = raw.reason or ""
    return resp


@dataclass(frozen=True)
class _Route:
    """What every attempt to one URL shares: headers, path, Request-Target and pool."""

    url: str
    headers: dict[str, str]
    path_url: str
    target: str
    pool: HTTPConnectionPool
    retries: Any

    @classmethod
    def of(cls, session: requests.Session, url: str) -> _Route:
        # One request prepared the ordinary way gives the exact header order, the
        # normalised URL and the pool `requests` would use for every attempt.
        template = session.prepare_request(requests.Request("POST", url, data=b"{}"))
        headers = {
            k: str(v) for k, v in template.headers.items() if k.lower() != "content-length"
        }
        adapter = session.get_adapter(url)
        if not isinstance(adapter, requests.adapters.HTTPAdapter):  # pragma: no cover
            raise TypeError("LeanTokenClient needs the session's HTTPAdapter")
        pool = adapter.get_connection_with_tls_context(template, verify=True)
        if not isinstance(pool, HTTPConnectionPool):  # pragma: no cover
            raise TypeError("LeanTokenClient needs an HTTP(S) connection pool")
        adapter.cert_verify(pool, url, True, None)  # type: ignore[no-untyped-call]
        return cls(url, headers, template.path_url, request_target(str(template.url)), pool,
                   adapter.max_retries)


class LeanTokenClient(TokenClient):
    """`TokenClient` for bulk work: the same answers and errors at a fraction of the CPU."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._route: _Route | None = None

    def _route_for_url(self) -> _Route:
        """The prepared route to `self.url` (made again if the URL was changed)."""
        route = self._route
        if route is None or route.url != self.url:
            route = self._route = _Route.of(self.session, self.url)
        return route

    def __repr__(self) -> str:
        return f"LeanTokenClient(url={self.url!r}, client_id={self.settings.client_id!r})"

    def _open(
        self, route: _Route, body: bytes, headers: dict[str, str], deadline: Deadline
    ) -> Any:
        """Connect, send and read the status line and headers, all within the deadline."""
        request_id = headers["Request-Id"]
        left = max(deadline.remaining(), 0.001)
        timeout = urllib3.Timeout(
            connect=min(self.timeout[0], left), read=min(self.timeout[1], left)
        )
        try:
            return route.pool.urlopen(
                "POST", route.path_url, body=body, headers=headers, redirect=False,
                assert_same_host=False, preload_content=False, decode_content=False,
                retries=route.retries, timeout=timeout, chunked=False,
            )
        except (Urllib3HTTPError, OSError) as exc:
            mapped = as_requests_error(exc)
            if mapped is None:
                raise
            if deadline.finish() or deadline.expired():
                raise self._deadline_error(request_id) from None
            raise transport_error(mapped, request_id) from None

    def _attempt(self, body: bytes, customer_id: str, token_type: str | None) -> _Answer:
        """One signed POST: tokens from a trusted answer, or a DokuError."""
        route = self._route_for_url()
        headers = dict(route.headers)
        headers["Content-Length"] = str(len(body))
        headers.update(self._signer.signed_headers(route.target, body))
        request_id = headers["Request-Id"]
        started = time.perf_counter()
        with watching(Deadline(self.deadline_s)) as deadline:
            raw = self._open(route, body, headers, deadline)

            def close() -> None:  # as requests.Response.close() does for a streamed body
                raw.close()
                raw.release_conn()

            data = self._read_raw(raw, raw.status, close, deadline, request_id)
        latency_ms = (time.perf_counter() - started) * 1000
        status = raw.status
        if not 200 <= status < 300:
            raise error_for_status(
                _error_response(raw), request_id, data,
                max_retry_after_s=self.max_retry_after_s,
            )
        # `requests` joins a repeated header with ", "; itermerged does too.
        headers_seen = dict(raw.headers.itermerged())
        return self._trusted(
            status, headers_seen, data, request_id, route.target, customer_id, token_type,
            latency_ms,
        )
