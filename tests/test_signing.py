"""Signing against DOKU's published vectors, plus property-based round trips."""

from __future__ import annotations

import base64
import hmac
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from doku.client import signing

VECTORS_PATH = Path(__file__).parent / "data" / "signature-vectors.json"
VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize("v", VECTORS["request_vectors"], ids=lambda v: v["id"])
def test_request_vectors(v: dict[str, str]) -> None:
    body = v["body"].encode("utf-8")
    assert signing.digest(body) == v["digest"]
    assert (
        signing.component(
            v["client_id"],
            v["request_id"],
            "Request-Timestamp",
            v["timestamp"],
            v["target"],
            body,
        )
        == v["component"]
    )
    assert (
        signing.sign_request(
            v["secret"], v["client_id"], v["request_id"], v["timestamp"], v["target"], body
        )
        == v["signature"]
    )


def test_vectors_differing_only_in_serialisation_give_different_signatures() -> None:
    by_id = {v["id"]: v for v in VECTORS["request_vectors"]}
    php, raw = (
        by_id["REQ-03-special-chars-php-default"],
        by_id["REQ-04-special-chars-raw-utf8-compact"],
    )
    assert json.loads(php["body"]) == json.loads(raw["body"])
    assert php["signature"] != raw["signature"]


def test_client_serialisation_matches_raw_utf8_vector() -> None:
    from doku.client.tokens import tokens_request_body

    v = {v["id"]: v for v in VECTORS["request_vectors"]}["REQ-04-special-chars-raw-utf8-compact"]
    body = tokens_request_body("CUST/01+ä&é", "DIRECT_DEBIT")
    assert body == v["body"].encode("utf-8")


@pytest.mark.parametrize("v", VECTORS["response_vectors"], ids=lambda v: v["id"])
def test_response_vectors(v: dict[str, str]) -> None:
    body = v["body"].encode("utf-8")
    args = (v["secret"], v["client_id"], v["request_id"], v["timestamp"], v["target"], body)
    assert signing.sign_response(*args) == v["signature"]
    assert signing.verify_response(*args, v["signature"])
    assert not signing.verify_response(*args, v["must_reject_signature"])
    assert not signing.verify_response(*args, "")
    assert not signing.verify_response(*args, v["signature"][:-2] + "A=")
    tampered = (*args[:5], body + b" ")
    assert not signing.verify_response(*tampered, v["signature"])


def test_timestamp_is_utc_with_z() -> None:
    jakarta = timezone(timedelta(hours=7))
    moment = datetime(2020, 9, 22, 8, 51, 0, tzinfo=jakarta)
    assert signing.format_timestamp(moment) == "2020-09-22T01:51:00Z"
    assert signing.parse_timestamp("2020-09-22T01:51:00Z") == moment
    with pytest.raises(ValueError, match="timezone-aware"):
        signing.format_timestamp(datetime(2020, 1, 1))


def test_timestamps_are_utc_when_process_runs_in_jakarta() -> None:
    code = (
        "import time;from datetime import datetime,timezone;from doku.client import signing;"
        "t=signing.timestamp();u=datetime.now(timezone.utc);"
        "print(t, time.strftime('%z'), abs((signing.parse_timestamp(t)-u).total_seconds())<5)"
    )
    env = {**os.environ, "TZ": "Asia/Jakarta"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0].endswith("Z")
    assert out[1] == "+0700"  # the process really ran in Jakarta time
    assert out[2] == "True"


@pytest.mark.parametrize("ns", [
    1_790_000_000_000_000_000, 1_790_000_000_999_999_999, 1_790_000_001_000_000_000,
    0, 951_782_400_000_000_000,  # 2000-02-29
])
def test_the_default_clocks_stamp_is_formatted_once_a_second(
        monkeypatch: pytest.MonkeyPatch, ns: int) -> None:
    monkeypatch.setattr(signing, "_latest", (-1, ""))
    monkeypatch.setattr(signing.time, "time_ns", lambda: ns)
    moment = datetime.fromtimestamp(ns // 10**9, timezone.utc)
    assert signing.timestamp() == moment.strftime(signing.TIMESTAMP_FORMAT)
    assert signing._latest == (ns // 10**9, signing.timestamp())
    monkeypatch.setattr(signing.time, "time_ns", lambda: ns + 10**9)
    later = moment + timedelta(seconds=1)
    assert signing.timestamp() == later.strftime(signing.TIMESTAMP_FORMAT)


def test_an_injected_clock_is_read_every_time() -> None:
    moments = iter([datetime(2020, 1, 1, tzinfo=timezone.utc),
                    datetime(2021, 6, 30, 23, 59, 59, tzinfo=timezone.utc)])
    clock = lambda: next(moments)  # noqa: E731
    assert (signing.timestamp(clock), signing.timestamp(clock)) == (
        "2020-01-01T00:00:00Z", "2021-06-30T23:59:59Z")


ids = st.text(min_size=1, max_size=128)
secrets = st.text(min_size=1, max_size=80)


@given(
    secret=secrets,
    client_id=ids,
    request_id=ids,
    body=st.binary(max_size=2048),
    stamp=st.datetimes(timezones=st.just(timezone.utc)),
)
def test_sign_verify_round_trip(
    secret: str, client_id: str, request_id: str, body: bytes, stamp: datetime
) -> None:
    ts = signing.format_timestamp(stamp)
    target = "/tokenization/v1/tokens"
    sig = signing.sign_response(secret, client_id, request_id, ts, target, body)
    assert sig.startswith("HMACSHA256=")
    assert signing.verify_response(secret, client_id, request_id, ts, target, body, sig)
    assert not signing.verify_response(secret + "x", client_id, request_id, ts, target, body, sig)
    assert not signing.verify_response(secret, client_id, request_id, ts, target, body + b"x", sig)
    req_sig = signing.sign_request(secret, client_id, request_id, ts, target, body)
    assert signing.verify_request(secret, client_id, request_id, ts, target, body, req_sig)
    # A request signature is not a valid response signature (different timestamp line).
    assert not signing.verify_response(secret, client_id, request_id, ts, target, body, req_sig)


@given(sig=st.text(max_size=100))
def test_verify_never_raises_on_garbage(sig: str) -> None:
    assert signing.verify_response("k", "c", "r", "2020-01-01T00:00:00Z", "/", b"", sig) in (
        True,
        False,
    )


VERIFIERS = {"response": signing.verify_response, "request": signing.verify_request}
SIGNERS = {"response": signing.sign_response, "request": signing.sign_request}
GOOD = ["k", "c", "r", "2020-01-01T00:00:00Z", "/tokenization/v1/tokens"]
STRING_ARGS = ["secret_key", "client_id", "request_id", "timestamp", "target", "signature"]


def call(which: str, s: list[str], body: bytes) -> bool:
    """verify_* with the six string arguments in order and the body in its place."""
    return VERIFIERS[which](s[0], s[1], s[2], s[3], s[4], body, s[5])


@pytest.mark.parametrize("which", sorted(VERIFIERS))
@pytest.mark.parametrize("position", range(len(STRING_ARGS)), ids=STRING_ARGS)
@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", "\udc80" * 3])
def test_lone_surrogates_verify_false_never_raise(which: str, position: int, bad: str) -> None:
    g = GOOD
    strings = [*g, SIGNERS[which](g[0], g[1], g[2], g[3], g[4], b"{}")]
    assert call(which, strings, b"{}") is True  # the untouched call verifies
    strings[position] = bad
    assert call(which, strings, b"{}") is False


@given(
    texts=st.lists(
        st.text(st.characters(exclude_categories=()), max_size=20), min_size=6, max_size=6
    ),
    body=st.binary(max_size=32),
)
def test_verify_never_raises_on_any_text(texts: list[str], body: bytes) -> None:
    for which in VERIFIERS:
        assert call(which, texts, body) in (True, False)


@given(moment=st.datetimes(timezones=st.timezones()))
def test_timestamps_are_what_strftime_writes(moment: datetime) -> None:
    try:
        utc = moment.astimezone(timezone.utc)
    except OverflowError:  # out of datetime's range in UTC: both refuse alike
        with pytest.raises(OverflowError):
            signing.format_timestamp(moment)
        return
    assert signing.format_timestamp(moment) == utc.strftime(signing.TIMESTAMP_FORMAT)


@given(secret=st.text(min_size=1, max_size=80).filter(lambda t: t.isprintable()),
       text=st.text(max_size=400))
def test_the_kept_hmac_key_signs_as_a_fresh_one(secret: str, text: str) -> None:
    try:
        key, message = secret.encode("utf-8"), text.encode("utf-8")
    except UnicodeEncodeError:
        return
    fresh = base64.b64encode(hmac.digest(key, message, "sha256")).decode("ascii")
    assert signing._hmac_header(secret, text) == "HMACSHA256=" + fresh
    assert signing._hmac_header(secret, text) == "HMACSHA256=" + fresh  # copied, not used up
