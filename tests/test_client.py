"""TokenClient against a scripted loopback server: signing on the wire, retries, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from doku import errors
from doku.client import signing
from doku.client.retry import RetryPolicy, parse_retry_after, retry_delay
from doku.client.tokens import TokenClient
from doku.models import CREDIT_CARD, DIRECT_DEBIT
from doku.settings import SecretKey, Settings
from tests.guide import GUIDE_TOKENS as GUIDE
from tests.scripted_doku import Answer, ScriptedDoku

SECRET = "SK-test-secret-never-shown-0123456789"
CLIENT_ID = "MCH-0001-10791114622547"
# The guide's first direct-debit token and its credit card, plus a field DOKU may add.
GUIDE_TOKENS = [GUIDE[0], {**GUIDE[2], "extra": {"ignored": 1}}]


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []
        self.pauses: list[float] = []

    def acquire(self) -> None:
        return None

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)

    def sleep(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def server() -> Iterator[ScriptedDoku]:
    s = ScriptedDoku(CLIENT_ID, SECRET)
    yield s
    s.close()


def make_client(
    server: ScriptedDoku, env: str = "sandbox", **kw: object
) -> tuple[TokenClient, Sleeps]:
    pacer = Sleeps()
    settings = Settings(env, CLIENT_ID, SecretKey(SECRET), server.url)
    opts: dict[str, object] = {"pacer": pacer, "rand": lambda: 0.5, "read_timeout_s": 5.0}
    opts.update(kw)
    return TokenClient(settings, **opts), pacer  # type: ignore[arg-type]


def test_success_signs_exact_bytes_and_parses(server: ScriptedDoku) -> None:
    server.script = [Answer(200, GUIDE_TOKENS)]
    client, _ = make_client(server)
    result = client.get_tokens("CUST-0001", DIRECT_DEBIT)
    seen = server.seen[0]
    assert seen.body == b'{"customer":{"id":"CUST-0001"},"token_data":{"type":"DIRECT_DEBIT"}}'
    h = seen.headers
    assert h["Client-Id"] == CLIENT_ID
    assert h["Content-Type"] == "application/json"
    signing.parse_timestamp(h["Request-Timestamp"])
    assert signing.verify_request(
        SECRET,
        CLIENT_ID,
        h["Request-Id"],
        h["Request-Timestamp"],
        "/tokenization/v1/tokens",
        seen.body,
        h["Signature"],
    )
    assert result.signature_verified
    assert result.attempts == 1
    assert result.request_id == h["Request-Id"]
    dd, cc = result.tokens
    assert (dd.type, dd.issuer, dd.brand, dd.masked_card) == (
        DIRECT_DEBIT,
        "BRI",
        None,
        "*********8982",
    )
    assert (cc.type, cc.brand, cc.customer_name) == (CREDIT_CARD, "visa", "Anton Budiman")


def test_body_without_type(server: ScriptedDoku) -> None:
    client, _ = make_client(server)
    assert client.get_tokens("CUST-0002").tokens == []
    assert server.seen[0].body == b'{"customer":{"id":"CUST-0002"}}'


@pytest.mark.parametrize("bad", ["", "x" * 51, "CUST\n1", "CUST\x00", "a\u2028b"])
def test_invalid_customer_id_rejected_before_any_request(server: ScriptedDoku, bad: str) -> None:
    client, _ = make_client(server)
    with pytest.raises(errors.InvalidInputError):
        client.get_tokens(bad)
    assert server.seen == []


def test_invalid_type_rejected(server: ScriptedDoku) -> None:
    client, _ = make_client(server)
    with pytest.raises(errors.InvalidInputError, match="DIRECT_DEBIT or CREDIT_CARD"):
        client.get_tokens("CUST-1", "DEBIT")
    assert server.seen == []


def test_429_then_200_honours_retry_after_with_fresh_request_ids(server: ScriptedDoku) -> None:
    server.script = [
        Answer(429, {"error": {"message": "slow down"}}, {"Retry-After": "3"}),
        Answer(200, GUIDE_TOKENS),
    ]
    client, pacer = make_client(server)
    result = client.get_tokens("CUST-0001")
    assert result.attempts == 2
    assert len(result.tokens) == 2
    assert pacer.calls
    assert pacer.calls[0] >= 3.0
    assert pacer.pauses
    assert pacer.pauses[0] >= 3.0
    ids = [s.headers["Request-Id"] for s in server.seen]
    stamps_signed = [s.headers["Signature"] for s in server.seen]
    assert len(set(ids)) == 2
    assert len(set(stamps_signed)) == 2


def test_503_503_200_succeeds_with_distinct_request_ids(server: ScriptedDoku) -> None:
    server.script = [Answer(503), Answer(503), Answer(200, [])]
    client, pacer = make_client(server)
    result = client.get_tokens("CUST-9")
    assert result.attempts == 3
    assert result.tokens == []
    assert len({s.headers["Request-Id"] for s in server.seen}) == 3
    assert len(pacer.calls) == 2
    assert pacer.calls[1] > pacer.calls[0]


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.AuthenticationError),
        (404, errors.ClientHttpError),
        (409, errors.ConflictError),
    ],
)
def test_4xx_not_retried(server: ScriptedDoku, status: int, exc: type[errors.DokuError]) -> None:
    server.script = [Answer(status, {"error": {"code": "X", "message": "nope: bad thing"}})] * 3
    client, _ = make_client(server)
    with pytest.raises(exc) as info:
        client.get_tokens("CUST-1")
    assert len(server.seen) == 1
    e = info.value
    assert e.status == status
    assert e.doku_message == "nope: bad thing"
    assert e.request_id == server.seen[0].headers["Request-Id"]
    assert str(e).startswith(f"{e.kind} ({status}): nope")


def test_server_errors_exhaust_bounded_attempts(server: ScriptedDoku) -> None:
    server.script = [Answer(500)] * 10
    client, _ = make_client(server, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(errors.ServerError) as info:
        client.get_tokens("CUST-1")
    assert len(server.seen) == 3
    assert info.value.attempts == 3


@pytest.mark.parametrize(
    ("answer", "exc"),
    [
        (Answer(200, GUIDE_TOKENS, tamper_body=True), errors.SignatureMismatchError),
        (Answer(200, GUIDE_TOKENS, bad_signature=True), errors.SignatureMismatchError),
        (Answer(200, GUIDE_TOKENS, sign=False), errors.SignatureMismatchError),
        (Answer(200, GUIDE_TOKENS, echo_request_id="someone-else"), errors.MalformedResponseError),
        (Answer(200, b"[{not json"), errors.MalformedResponseError),
        (Answer(200, {"tokens": []}), errors.MalformedResponseError),
    ],
)
def test_untrusted_answers_never_return_data(
    server: ScriptedDoku, answer: Answer, exc: type[errors.DokuError]
) -> None:
    server.script = [answer]
    client, _ = make_client(server)
    with pytest.raises(exc):
        client.get_tokens("CUST-0001")
    assert len(server.seen) == 1  # not retried


def test_missing_signature_tolerated_only_on_simulator(server: ScriptedDoku) -> None:
    server.script = [Answer(200, GUIDE_TOKENS, sign=False)]
    client, _ = make_client(server, env="simulator")
    result = client.get_tokens("CUST-0001")
    assert not result.signature_verified
    assert len(result.tokens) == 2


def test_missing_mandatory_field_named(server: ScriptedDoku) -> None:
    broken = json.loads(json.dumps(GUIDE_TOKENS))
    del broken[1]["credit_card"]["masked_card"]
    server.script = [Answer(200, broken)]
    client, _ = make_client(server)
    with pytest.raises(
        errors.MalformedResponseError, match=r"token \[1\] is missing credit_card.masked_card"
    ):
        client.get_tokens("CUST-0001")


def test_timeout_is_a_retried_transport_error(server: ScriptedDoku) -> None:
    client, _ = make_client(server, retry=RetryPolicy(max_attempts=2))
    client.url = "http://127.0.0.1:9/tokenization/v1/tokens"  # discard port: refused
    with pytest.raises(errors.TransportError) as info:
        client.get_tokens("CUST-1")
    assert info.value.attempts == 2


def test_secret_never_leaks(server: ScriptedDoku, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = [Answer(401, {"error": {"message": "bad"}}), Answer(503), Answer(503)]
    client, _ = make_client(server, retry=RetryPolicy(max_attempts=2))
    texts = [repr(client), str(client.settings), repr(client.settings), repr(client._signer)]
    for _ in range(2):
        try:
            client.get_tokens("CUST-1")
        except errors.DokuError as e:
            texts += [str(e), repr(e), json.dumps(e.to_dict()), str(e.body)]
    texts += [r.getMessage() for r in caplog.records]
    assert texts
    assert all(SECRET not in t for t in texts)


def test_retry_policy_is_pure() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay_s=1, max_delay_s=3)
    server_err = errors.ServerError("x")
    assert retry_delay(policy, 1, server_err, lambda: 1.0) == 1.0
    assert retry_delay(policy, 3, server_err, lambda: 1.0) == 3.0  # capped
    assert retry_delay(policy, 4, server_err, lambda: 1.0) is None  # bounded
    assert retry_delay(policy, 1, errors.BadRequestError("x"), lambda: 1.0) is None
    assert retry_delay(policy, 1, errors.SignatureMismatchError("x"), lambda: 1.0) is None
    limited = errors.RateLimitedError("x", retry_after=7)
    assert retry_delay(policy, 1, limited, lambda: 0.0) == 7.0
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("garbage") is None
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
