"""AsyncTokenClient: the same bytes as LeanTokenClient, connections kept and bounded on
its loop, verified TLS, and a loop that refuses misuse. (Its answers, errors, caps,
deadlines and retries are pinned by running the client, transport and hostile-server
test modules with it too: tests/client_kinds.py.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from urllib3.exceptions import ReadTimeoutError

from doku import errors
from doku.client.aio import AsyncTokenClient
from doku.client.aio_wire import Connection
from doku.client.lean import LeanTokenClient
from doku.client.loops import event_loops
from doku.client.retry import NO_RETRY
from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY, SecretKey, Settings
from doku.simulator import RunningSimulator
from tests.scripted_doku import LOOPBACK
from tests.test_client_lean import CaptureServer, capture, sent_bytes

__all__ = ["capture"]  # the fixture, used here by name


def simulator_settings(url: str) -> Settings:
    return Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(SIMULATOR_SECRET_KEY), url)


def test_sends_the_bytes_lean_sends(capture: CaptureServer) -> None:
    assert sent_bytes(AsyncTokenClient, capture) == sent_bytes(LeanTokenClient, capture)


@pytest.mark.parametrize("name", list(event_loops()))
def test_runs_on_the_event_loop_asked_for(simulator: RunningSimulator, name: str) -> None:
    with AsyncTokenClient(simulator_settings(simulator.url), event_loop=name) as client:
        assert client.get_tokens("CUST-0001").signature_verified is True
        assert client.event_loop == name
        assert client._loop is not None
        assert type(client._loop).__module__.split(".")[0] == name


def test_the_fastest_event_loop_is_the_default(simulator: RunningSimulator) -> None:
    with AsyncTokenClient(simulator_settings(simulator.url)) as client:
        assert client.event_loop is None  # nothing started yet
        client.get_tokens("CUST-0001")
        assert client.event_loop == next(iter(event_loops()))
    with pytest.raises(ValueError, match="no event loop 'tokio' here; one of"):
        AsyncTokenClient(simulator_settings(simulator.url), event_loop="tokio")


def test_sequential_requests_share_one_kept_connection(simulator: RunningSimulator) -> None:
    with AsyncTokenClient(simulator_settings(simulator.url), pool_size=4) as client:
        kept = []
        for i in range(5):
            result = client.get_tokens(f"CUST-{i:04d}")
            assert result.signature_verified is True
            kept.append(list(client._idle))
    assert [len(k) for k in kept] == [1, 1, 1, 1, 1]
    assert all(k[0] is kept[0][0] for k in kept)


def test_concurrent_fetches_keep_at_most_pool_size_connections(
    simulator: RunningSimulator,
) -> None:
    with AsyncTokenClient(simulator_settings(simulator.url), pool_size=3) as client:
        async def eight() -> list[int]:
            results = await asyncio.gather(*(client.fetch(f"CUST-{i:04d}") for i in range(8)))
            return [r.status for r in results]

        assert client.run(eight()) == [200] * 8
        assert len(client._idle) == 3


def test_a_closed_client_refuses_work_and_run_refuses_its_own_loop(
    simulator: RunningSimulator,
) -> None:
    client = AsyncTokenClient(simulator_settings(simulator.url), pool_size=2)

    async def nested() -> None:
        client.run(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="from its own loop"):
        client.run(nested())
    client.close()
    with pytest.raises(RuntimeError, match="the client is closed"):
        client.get_tokens("CUST-0001")


@pytest.fixture
def self_signed_tls(tmp_path: Path) -> Iterator[str]:
    """A loopback TLS listener whose certificate no CA vouches for."""
    crypto = pytest.importorskip("cryptography", reason="cryptography makes the test certificate")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server((LOOPBACK, 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass  # the client refused the certificate, as it must

    threading.Thread(target=serve, daemon=True).start()
    yield f"https://{LOOPBACK}:{listener.getsockname()[1]}"
    listener.close()


def test_tls_is_verified_against_the_ca_bundle(self_signed_tls: str) -> None:
    settings = Settings("sandbox", "MCH-0001", SecretKey("SK-test"), self_signed_tls)
    with AsyncTokenClient(settings, retry=NO_RETRY) as client, pytest.raises(
        errors.TransportError
    ) as caught:
        client.get_tokens("CUST-0001")
    assert caught.value.message == "connection failed (SSLError)"
    assert caught.value.attempts == 1
    assert caught.value.status is None


# -- a read's bound: its read timeout or the attempt's deadline, whichever is first -------
def _waiting_read(deadline_in: float | None, read_timeout_s: float) -> BaseException:
    """What Connection.more raises with nothing arriving, its deadline `deadline_in`
    seconds ahead (None: none)."""
    async def read() -> BaseException:
        conn = Connection()
        loop = asyncio.get_running_loop()
        if deadline_in is not None:
            conn.deadline_at = loop.time() + deadline_in
        try:
            await conn.more(read_timeout_s)
        except BaseException as exc:
            return exc
        raise AssertionError("more() returned without data")

    return asyncio.run(read())


def test_a_read_past_the_deadline_raises_timeout_error_at_once() -> None:
    assert type(_waiting_read(-0.001, 30.0)) is TimeoutError


def test_a_deadline_before_the_read_timeout_ends_the_read_as_a_timeout_error() -> None:
    assert type(_waiting_read(0.01, 30.0)) is TimeoutError


def test_a_read_timeout_before_the_deadline_is_a_read_timeout() -> None:
    exc = _waiting_read(30.0, 0.01)
    assert type(exc) is ReadTimeoutError
    assert str(exc) == "None: Read timed out. (read timeout=0.01)"
    assert type(_waiting_read(None, 0.01)) is ReadTimeoutError
