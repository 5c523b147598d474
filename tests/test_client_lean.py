"""LeanTokenClient sends the same bytes as TokenClient and maps urllib3's failures to
the same `requests` exceptions (the rest of its behaviour is pinned by running the
client, transport and hostile-server tests with both clients: tests/client_kinds.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from doku import errors
from doku.client.deadline import Deadline, watching
from doku.client.lean import LeanTokenClient, as_requests_error
from doku.client.retry import NO_RETRY
from doku.client.tokens import TokenClient
from doku.settings import SecretKey, Settings
from tests.scripted_doku import LOOPBACK
from tests.waiting import wait_until

SECRET = "SK-test-secret-never-shown-0123456789"
CLIENT_ID = "MCH-0001-10791114622547"
MOMENT = datetime(2026, 11, 26, 5, 0, 0, tzinfo=timezone.utc)


class CaptureServer:
    """Reads one HTTP request per connection, keeps its exact bytes, answers 500."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self._sock = socket.create_server((LOOPBACK, 0))
        self.url = f"http://{LOOPBACK}:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                self.requests.append(self._read_request(conn))
                conn.sendall(b"HTTP/1.1 500 Boom\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    @staticmethod
    def _read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head = data.split(b"\r\n\r\n", 1)[0]
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(data) < len(head) + 4 + length:
            data += conn.recv(65536)
        return data

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    yield server
    server.close()


def sent_bytes(cls: type[TokenClient], server: CaptureServer) -> bytes:
    settings = Settings("sandbox", CLIENT_ID, SecretKey(SECRET), server.url)
    client = cls(settings, retry=NO_RETRY, clock=lambda: MOMENT, read_timeout_s=5.0)
    client._signer.request_ids = lambda: "5d9e7c4a-0000-4000-8000-000000000001"
    with pytest.raises(errors.ServerError) as caught:
        client.get_tokens("CUST-0001", "CREDIT_CARD")
    client.close()
    assert caught.value.status == 500
    assert caught.value.message == "Boom"
    return server.requests[-1]


def test_both_clients_send_byte_identical_requests(capture: CaptureServer) -> None:
    ordinary = sent_bytes(TokenClient, capture)
    lean = sent_bytes(LeanTokenClient, capture)
    assert lean == ordinary
    assert lean.startswith(b"POST /tokenization/v1/tokens HTTP/1.1\r\n")
    assert lean.endswith(b'\r\n\r\n{"customer":{"id":"CUST-0001"},"token_data":{"type":"CREDIT_CARD"}}')
    assert b"\r\nRequest-Id: 5d9e7c4a-0000-4000-8000-000000000001\r\n" in lean
    assert b"\r\nRequest-Timestamp: 2026-11-26T05:00:00Z\r\n" in lean


_REQ = requests.exceptions


@pytest.mark.parametrize(("exc", "expected"), [
    (ProtocolError("reset"), _REQ.ConnectionError),
    (ConnectionResetError(), _REQ.ConnectionError),
    (MaxRetryError(None, "/", ConnectTimeoutError(None, "slow")), _REQ.ConnectTimeout),  # type: ignore[arg-type]
    (MaxRetryError(None, "/", NewConnectionError(None, "refused")), _REQ.ConnectionError),  # type: ignore[arg-type]
    (ReadTimeoutError(None, "/", "slow"), _REQ.ReadTimeout),  # type: ignore[arg-type]
])
def test_urllib3_failures_become_the_requests_exceptions(
    exc: Exception, expected: type[Exception]
) -> None:
    mapped = as_requests_error(exc)
    assert type(mapped) is expected


def test_a_shorter_deadline_added_after_a_longer_one_fires_on_time() -> None:
    # The watchdog is woken only when a new deadline is the earliest one: this one is.
    with watching(Deadline(30.0)), watching(Deadline(0.2)) as short:
        wait_until(lambda: short.fired, 3.0, "the 0.2 s deadline to fire")
        assert short.remaining() <= 0
