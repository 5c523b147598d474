"""Transport invariants of TokenClient, each pinned against a real loopback socket.

- every request has a read and a connect timeout;
- redirects are never followed;
- urllib3 never retries underneath: one client attempt is one connection attempt;
- proxy settings from the environment are ignored.

Only 127.0.0.1 is ever contacted. Every test finishes in well under a second when the
client behaves; when it does not, the listeners hang up after a few seconds so the
failure is quick too.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from doku import errors
from doku.client.retry import NO_RETRY, RetryPolicy
from doku.client.tokens import TokenClient
from doku.settings import TOKENS_PATH, SecretKey, Settings
from tests.client_kinds import count_connects, run_with_each_client
from tests.guide import GUIDE_TOKENS
from tests.scripted_doku import (
    LOOPBACK,
    Answer,
    RawListener,
    RecordingPacer,
    ScriptedDoku,
    refused_port,
)

# Every test runs with the requests client and with the lean bulk transport.
each_client = run_with_each_client("tests.test_client_transport")

SECRET = "SK-test-secret-never-shown-0123456789"
CLIENT_ID = "MCH-0001-10791114622547"
READ_TIMEOUT_S = 0.3


def make_client(base_url: str, **kw: object) -> tuple[TokenClient, RecordingPacer]:
    pacer = RecordingPacer()
    settings = Settings("sandbox", CLIENT_ID, SecretKey(SECRET), base_url)
    opts: dict[str, object] = {
        "pacer": pacer, "rand": lambda: 0.5, "retry": NO_RETRY,
        "connect_timeout_s": 1.0, "read_timeout_s": READ_TIMEOUT_S,
    }
    opts.update(kw)
    return TokenClient(settings, **opts), pacer  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[ScriptedDoku]:
    s = ScriptedDoku(CLIENT_ID, SECRET)
    yield s
    s.close()


@pytest.fixture
def silent() -> Iterator[RawListener]:
    listener = RawListener("silent", hold_s=2.0)
    yield listener
    listener.close()


@pytest.fixture
def dropping() -> Iterator[RawListener]:
    listener = RawListener("drop")
    yield listener
    listener.close()


# -- timeouts ----------------------------------------------------------------------------
@pytest.mark.timeout(10)
def test_server_that_never_answers_times_out_after_the_read_timeout(
    silent: RawListener,
) -> None:
    client, _ = make_client(silent.url)
    started = time.monotonic()
    with pytest.raises(errors.TransportError, match=r"timed out \(ReadTimeout\)") as info:
        client.get_tokens("CUST-1")
    elapsed = time.monotonic() - started
    assert READ_TIMEOUT_S - 0.01 <= elapsed < READ_TIMEOUT_S + 0.7
    assert silent.connections == 1
    assert info.value.retryable
    assert info.value.attempts == 1
    assert info.value.status is None
    assert info.value.request_id  # names the attempt that timed out


@pytest.mark.timeout(10)
def test_read_timeouts_are_retried_each_on_a_new_connection(silent: RawListener) -> None:
    client, pacer = make_client(silent.url, read_timeout_s=0.15, retry=RetryPolicy(2))
    with pytest.raises(errors.TransportError, match="timed out") as info:
        client.get_tokens("CUST-1")
    assert info.value.attempts == 2
    assert silent.connections == 2
    assert pacer.calls == [0.125]


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listener whose accept queue is full: further SYNs go unanswered (Linux)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((LOOPBACK, 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(16):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            fillers.append(filler)
            filler.settimeout(0.1)
            try:
                filler.connect((LOOPBACK, port))
            except TimeoutError:
                break  # the queue is full: the next connect hangs too
        else:
            pytest.skip("this kernel never stops accepting connections")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


@pytest.mark.timeout(10)
def test_unanswered_connect_times_out_after_the_connect_timeout(full_backlog: int) -> None:
    client, _ = make_client(f"http://{LOOPBACK}:{full_backlog}", connect_timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(errors.TransportError, match=r"timed out \(ConnectTimeout\)"):
        client.get_tokens("CUST-1")
    assert 0.19 <= time.monotonic() - started < 0.9


@pytest.mark.parametrize(
    ("connect", "read"), [(0, 1), (1, 0), (None, 1), (1, None), (-1, 1), (1, float("nan"))]
)
def test_timeouts_must_be_positive(connect: float | None, read: float | None) -> None:
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        make_client("http://127.0.0.1:1", connect_timeout_s=connect, read_timeout_s=read)


# -- redirects -----------------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(server: ScriptedDoku, status: int) -> None:
    server.script = [Answer(status, b"", {"Location": "/elsewhere"}), Answer(200, GUIDE_TOKENS)]
    client, _ = make_client(server.url, retry=RetryPolicy(3))
    with pytest.raises(
        errors.MalformedResponseError, match=r"redirect to '/elsewhere' not followed"
    ) as info:
        client.get_tokens("CUST-0001")
    assert server.paths == [TOKENS_PATH]  # /elsewhere never requested, and no retry
    assert info.value.status == status
    assert info.value.code == "malformed_response"


def test_redirect_to_another_host_is_not_followed(server: ScriptedDoku) -> None:
    other = ScriptedDoku(CLIENT_ID, SECRET)
    try:
        target = other.url + TOKENS_PATH
        server.script = [Answer(307, b"", {"Location": target})]
        client, _ = make_client(server.url)
        with pytest.raises(errors.MalformedResponseError, match="not followed"):
            client.get_tokens("CUST-0001")
        assert other.seen == []
        assert server.paths == [TOKENS_PATH]
    finally:
        other.close()


# -- no retries underneath the client --------------------------------------------------------
@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection made in this process, by address (socket level)."""
    return count_connects(monkeypatch)


def test_refused_connection_is_one_connect_per_attempt(connects: list[tuple[str, int]]) -> None:
    with refused_port() as port:
        client, pacer = make_client(f"http://{LOOPBACK}:{port}", retry=RetryPolicy(3))
        with pytest.raises(errors.TransportError, match=r"connection failed") as info:
            client.get_tokens("CUST-1")
    assert info.value.attempts == 3
    assert connects.count((LOOPBACK, port)) == 3
    assert pacer.acquires == 3
    assert pacer.calls == [0.125, 0.25]


def test_dropped_connection_is_one_connection_per_attempt(dropping: RawListener) -> None:
    client, pacer = make_client(dropping.url, retry=RetryPolicy(3))
    with pytest.raises(errors.TransportError, match="connection failed") as info:
        client.get_tokens("CUST-1")
    assert info.value.attempts == 3
    assert dropping.connections == 3
    assert pacer.calls == [0.125, 0.25]


def test_one_success_is_one_connection(
    server: ScriptedDoku, connects: list[tuple[str, int]]
) -> None:
    server.script = [Answer(200, GUIDE_TOKENS)]
    client, _ = make_client(server.url)
    assert client.get_tokens("CUST-0001").attempts == 1
    assert connects.count((LOOPBACK, server.port)) == 1


# -- environment -----------------------------------------------------------------------------
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@pytest.fixture
def proxied_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[RawListener]:
    """Every proxy variable, in both cases, pointing at a listener that counts visits."""
    proxy = RawListener("drop")
    for name in PROXY_VARS:
        monkeypatch.setenv(name, proxy.url)
        monkeypatch.setenv(name.lower(), proxy.url)
    # A NO_PROXY that does not cover 127.0.0.1, so a client that reads the environment
    # would really go through the proxy.
    monkeypatch.setenv("NO_PROXY", "example.invalid")
    monkeypatch.setenv("no_proxy", "example.invalid")
    yield proxy
    proxy.close()


def test_proxy_environment_is_ignored(server: ScriptedDoku, proxied_env: RawListener) -> None:
    server.script = [Answer(200, GUIDE_TOKENS)]
    client, _ = make_client(server.url)
    result = client.get_tokens("CUST-0001")
    assert len(result.tokens) == len(GUIDE_TOKENS)
    assert proxied_env.connections == 0
    assert server.paths == [TOKENS_PATH]
    assert client.session.trust_env is False
