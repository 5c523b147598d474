"""TokenClient against a scripted loopback server: signing on the wire, retries, errors."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
from requests.adapters import HTTPAdapter

from doku import errors
from doku.client import signing
from doku.client.pacing import SharedPacer
from doku.client.retry import RetryPolicy
from doku.client.tokens import USER_AGENT, TokenClient
from doku.models import CREDIT_CARD, DIRECT_DEBIT
from doku.settings import TOKENS_PATH, SecretKey, Settings
from tests.client_kinds import run_with_each_client
from tests.guide import GUIDE_TOKENS as GUIDE
from tests.scripted_doku import Answer, RecordingPacer, ScriptedDoku

# Every test runs with the requests client and with the lean bulk transport.
each_client = run_with_each_client("tests.test_client")

SECRET = "SK-test-secret-never-shown-0123456789"
CLIENT_ID = "MCH-0001-10791114622547"
# The guide's first direct-debit token and its credit card, plus a field DOKU may add.
GUIDE_TOKENS = [GUIDE[0], {**GUIDE[2], "extra": {"ignored": 1}}]


@pytest.fixture
def server() -> Iterator[ScriptedDoku]:
    s = ScriptedDoku(CLIENT_ID, SECRET)
    yield s
    s.close()


def make_client(
    server: ScriptedDoku, env: str = "sandbox", **kw: object
) -> tuple[TokenClient, RecordingPacer]:
    pacer = RecordingPacer()
    settings = Settings(env, CLIENT_ID, SecretKey(SECRET), server.url)
    opts: dict[str, object] = {"pacer": pacer, "rand": lambda: 0.5, "read_timeout_s": 5.0}
    opts.update(kw)
    return TokenClient(settings, **opts), pacer  # type: ignore[arg-type]


def test_success_signs_exact_bytes_and_parses(server: ScriptedDoku) -> None:
    # A DIRECT_DEBIT request: the answer holds only DIRECT_DEBIT tokens (one with a
    # field DOKU may add); a credit card in it would be out of scope (test_hostile_client).
    server.script = [Answer(200, [GUIDE[0], {**GUIDE[1], "extra": {"ignored": 1}}])]
    client, _ = make_client(server)
    result = client.get_tokens("CUST-0001", DIRECT_DEBIT)
    seen = server.seen[0]
    assert seen.body == b'{"customer":{"id":"CUST-0001"},"token_data":{"type":"DIRECT_DEBIT"}}'
    h = seen.headers
    assert (seen.method, seen.path) == ("POST", TOKENS_PATH)
    assert h["Client-Id"] == CLIENT_ID
    assert h["Content-Type"] == "application/json"
    assert h["Accept"] == "application/json"
    assert h["User-Agent"] == USER_AGENT
    assert h["Content-Length"] == str(len(seen.body))
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
    assert result.status == 200
    assert (result.customer_id, result.token_type) == ("CUST-0001", DIRECT_DEBIT)
    assert result.request_id == h["Request-Id"]
    assert result.latency_ms > 0
    dd, dd2 = result.tokens
    assert (dd.type, dd.issuer, dd.brand, dd.masked_card) == (
        DIRECT_DEBIT,
        "BRI",
        None,
        "*********8982",
    )
    assert (dd2.type, dd2.masked_card) == (DIRECT_DEBIT, "*********8981")
    assert result.duplicates == 0


def test_all_types_answer_parses_both_types(server: ScriptedDoku) -> None:
    server.script = [Answer(200, GUIDE_TOKENS)]
    client, _ = make_client(server)
    result = client.get_tokens("CUST-0001")
    assert server.seen[0].body == b'{"customer":{"id":"CUST-0001"}}'
    dd, cc = result.tokens
    assert (dd.type, dd.issuer, dd.brand) == (DIRECT_DEBIT, "BRI", None)
    assert (cc.type, cc.brand, cc.customer_name) == (CREDIT_CARD, "visa", "Anton Budiman")
    assert result.unknown_types == 0


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
    # Retry-After 3 s plus a tenth of the jittered backoff (0.25 s * 0.5 / 10).
    assert pacer.pauses == [3.0125]  # everyone waits...
    assert pacer.calls == [3.0125]  # ...and so does this worker
    assert pacer.acquires == 2
    ids = [s.headers["Request-Id"] for s in server.seen]
    stamps_signed = [s.headers["Signature"] for s in server.seen]
    assert len(set(ids)) == 2
    assert len(set(stamps_signed)) == 2


def test_503_503_200_backs_off_exactly_with_distinct_request_ids(server: ScriptedDoku) -> None:
    server.script = [Answer(503), Answer(503), Answer(200, [])]
    client, pacer = make_client(server)
    result = client.get_tokens("CUST-9")
    assert result.attempts == 3
    assert result.tokens == []
    assert len({s.headers["Request-Id"] for s in server.seen}) == 3
    assert pacer.calls == [0.125, 0.25]  # base 0.25 s doubling, times the draw 0.5
    assert pacer.pauses == []  # only a 429 pauses the whole pool


def test_default_policy_schedule_end_to_end(server: ScriptedDoku) -> None:
    server.script = [Answer(500)] * 10
    client, pacer = make_client(server)  # RetryPolicy(): 4 attempts
    with pytest.raises(errors.ServerError) as info:
        client.get_tokens("CUST-9")
    assert info.value.attempts == 4
    assert pacer.calls == [0.125, 0.25, 0.5]
    assert len(server.seen) == 4


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
        (Answer(200, GUIDE_TOKENS, omit=("Signature",)), errors.SignatureMismatchError),
        (Answer(200, GUIDE_TOKENS, omit=("Response-Timestamp",)), errors.SignatureMismatchError),
        (Answer(200, GUIDE_TOKENS, omit=("Request-Id",)), errors.MalformedResponseError),
        (Answer(200, GUIDE_TOKENS, echo_request_id="someone-else"), errors.MalformedResponseError),
        (Answer(200, b"[{not json"), errors.MalformedResponseError),
        (Answer(200, {"tokens": []}), errors.MalformedResponseError),
    ],
)
def test_untrusted_answers_never_return_data(
    server: ScriptedDoku, answer: Answer, exc: type[errors.DokuError]
) -> None:
    server.script = [answer]
    client, _ = make_client(server, retry=RetryPolicy(3))
    with pytest.raises(exc) as info:
        client.get_tokens("CUST-0001")
    assert len(server.seen) == 1  # not retried
    assert info.value.request_id == server.seen[0].headers["Request-Id"]
    assert info.value.status == 200


@pytest.mark.parametrize(
    ("present", "message"),
    [
        ("Signature", "has a Signature but no Response-Timestamp header"),
        ("Response-Timestamp", "has a Response-Timestamp but no Signature header"),
    ],
)
def test_half_a_signature_is_rejected(server: ScriptedDoku, present: str, message: str) -> None:
    missing = "Response-Timestamp" if present == "Signature" else "Signature"
    server.script = [Answer(200, GUIDE_TOKENS, omit=(missing,))]
    client, _ = make_client(server)
    with pytest.raises(errors.SignatureMismatchError, match=message):
        client.get_tokens("CUST-0001")


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


def test_secret_never_leaks(server: ScriptedDoku, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = [Answer(401, {"error": {"message": "bad"}}), Answer(503), Answer(503)]
    client, _ = make_client(server, retry=RetryPolicy(max_attempts=2))
    texts = [
        repr(client), str(client.settings), repr(client.settings), repr(client._signer),
        repr(vars(client)),
    ]
    for _ in range(2):
        try:
            client.get_tokens("CUST-1")
        except errors.DokuError as e:
            texts += [str(e), repr(e), json.dumps(e.to_dict()), str(e.body)]
    texts += [r.getMessage() for r in caplog.records]
    assert texts
    assert all(SECRET not in t for t in texts)


def test_failed_attempts_are_logged_by_code(
    server: ScriptedDoku, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="doku.client.tokens")
    server.script = [Answer(503), Answer(429), Answer(400)]
    client, _ = make_client(server)
    with pytest.raises(errors.BadRequestError):
        client.get_tokens("CUST-1")
    assert [r.getMessage() for r in caplog.records] == [
        "attempt 1 for 'CUST-1' failed: server_error",
        "attempt 2 for 'CUST-1' failed: rate_limited",
        "attempt 3 for 'CUST-1' failed: bad_request",
    ]


def test_url_change_is_signed_and_verified_against_the_new_path(server: ScriptedDoku) -> None:
    server.script = [Answer(200, GUIDE_TOKENS)]
    client, _ = make_client(server)
    client.url = server.url + "/v2/tokens"
    assert client.target == "/v2/tokens"
    assert client.get_tokens("CUST-0001").signature_verified
    assert server.paths == ["/v2/tokens"]


def test_context_manager_closes_the_session(server: ScriptedDoku) -> None:
    client, _ = make_client(server)
    with client as c:
        assert c is client
        c.get_tokens("CUST-1")
    adapter = client.session.get_adapter(server.url)
    assert isinstance(adapter, HTTPAdapter)
    assert len(adapter.poolmanager.pools) == 0


def test_unresolved_base_url_is_refused() -> None:
    settings = Settings("simulator", CLIENT_ID, SecretKey(SECRET), None)
    with pytest.raises(ValueError, match="base_url is not resolved"):
        TokenClient(settings)


def test_default_pacer_really_waits_the_backoff(server: ScriptedDoku) -> None:
    server.script = [Answer(503), Answer(200, [])]
    settings = Settings("sandbox", CLIENT_ID, SecretKey(SECRET), server.url)
    client = TokenClient(settings, rand=lambda: 0.4)  # waits 0.25 * 0.4 = 0.1 s
    assert isinstance(client.pacer, SharedPacer)
    started = time.monotonic()
    assert client.get_tokens("CUST-1").attempts == 2
    assert 0.1 <= time.monotonic() - started < 0.6
