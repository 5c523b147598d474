"""doku.client.auth: DokuSigner on prepared requests, verify_answer as a pure function."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from doku import errors
from doku.client import auth, signing, tokens

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "signature-vectors.json").read_text(encoding="utf-8")
)
REQ = {v["id"]: v for v in VECTORS["request_vectors"]}
RESP = VECTORS["response_vectors"][0]
SECRET = "SK-test-secret-never-shown-0123456789"
CLIENT_ID = "MCH-0001-10791114622547"
TARGET = "/tokenization/v1/tokens"
RID = "9716a8cb-5ec1-4f8f-b72c-cd25975bafff"
STAMP = "2020-08-11T08:45:43Z"
BODY = b'[{"token_id":"TKN-0001"}]'


def fixed_clock(text: str) -> signing.Clock:
    moment = signing.parse_timestamp(text)
    return lambda: moment


def prepare(
    signer: auth.DokuSigner, data: object, url: str = "https://api.doku.com" + TARGET
) -> requests.PreparedRequest:
    return requests.Request("POST", url, data=data, auth=signer).prepare()


# -- DokuSigner ------------------------------------------------------------------------
@pytest.mark.parametrize("vid", sorted(REQ))
def test_signer_reproduces_doku_vectors_on_a_prepared_request(vid: str) -> None:
    v = REQ[vid]
    signer = auth.DokuSigner(
        v["client_id"], v["secret"], fixed_clock(v["timestamp"]),
        request_ids=lambda: v["request_id"],
    )
    body = v["body"].encode("utf-8")
    prepared = prepare(signer, body, "https://api-sandbox.doku.com" + v["target"])
    assert prepared.body == body  # the bytes signed are the bytes sent
    assert prepared.headers["Client-Id"] == v["client_id"]
    assert prepared.headers["Request-Id"] == v["request_id"]
    assert prepared.headers["Request-Timestamp"] == v["timestamp"]
    assert prepared.headers["Signature"] == v["signature"]


def test_str_body_is_sent_as_the_utf8_bytes_it_was_signed_as() -> None:
    v = REQ["REQ-04-special-chars-raw-utf8-compact"]
    signer = auth.DokuSigner(
        v["client_id"], v["secret"], fixed_clock(v["timestamp"]),
        request_ids=lambda: v["request_id"],
    )
    prepared = prepare(signer, v["body"])  # a str with non-ASCII characters
    assert prepared.body == v["body"].encode("utf-8")
    assert prepared.headers["Content-Length"] == str(len(v["body"].encode("utf-8")))
    assert prepared.headers["Signature"] == v["signature"]


def test_empty_body_signs_the_empty_digest() -> None:
    signer = auth.DokuSigner(CLIENT_ID, SECRET, fixed_clock(STAMP), request_ids=lambda: RID)
    prepared = prepare(signer, None)
    assert prepared.headers["Signature"] == signing.sign_request(
        SECRET, CLIENT_ID, RID, STAMP, TARGET, b""
    )


def test_streamed_body_is_refused() -> None:
    signer = auth.DokuSigner(CLIENT_ID, SECRET)
    with pytest.raises(TypeError, match="byte bodies only"):
        prepare(signer, io.BytesIO(b"{}"))


def test_every_call_gets_a_fresh_uuid4_and_utc_stamp() -> None:
    signer = auth.DokuSigner(CLIENT_ID, SECRET)
    ids = [prepare(signer, b"{}").headers["Request-Id"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(len(i) == 36 and i[14] == "4" for i in ids)
    stamp = prepare(signer, b"{}").headers["Request-Timestamp"]
    age = datetime.now(timezone.utc) - signing.parse_timestamp(stamp)
    assert abs(age.total_seconds()) < 5


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://api.doku.com/tokenization/v1/tokens", TARGET),
        ("https://api.doku.com/tokenization/v1/tokens?x=1", TARGET),
        ("http://127.0.0.1:8080/a%20b", "/a%20b"),
        ("http://127.0.0.1:8080", "/"),
        ("", "/"),
    ],
)
def test_request_target_is_the_path(url: str, target: str) -> None:
    assert auth.request_target(url) == target


def test_signer_repr_hides_the_secret() -> None:
    signer = auth.DokuSigner(CLIENT_ID, SECRET)
    assert SECRET not in repr(signer)
    assert repr(signer) == f"DokuSigner(client_id={CLIENT_ID!r})"


def test_names_stay_importable_from_tokens() -> None:
    assert tokens.DokuSigner is auth.DokuSigner
    from doku.client.pacing import Pacer

    assert tokens.Pacer is Pacer


# -- verify_answer ---------------------------------------------------------------------
def signed_headers(
    overrides: Mapping[str, str | None] | None = None, body: bytes = BODY
) -> dict[str, str]:
    """Correctly signed answer headers; `overrides` replaces (or with None drops) some."""
    headers: dict[str, str | None] = {
        "Client-Id": CLIENT_ID,
        "Request-Id": RID,
        "Response-Timestamp": STAMP,
        "Signature": signing.sign_response(SECRET, CLIENT_ID, RID, STAMP, TARGET, body),
    }
    headers.update(overrides or {})
    return {k: v for k, v in headers.items() if v is not None}


def check(
    headers: Mapping[str, str], body: bytes = BODY, *, required: bool = True
) -> bool:
    return auth.verify_answer(
        secret_key=SECRET, client_id=CLIENT_ID, request_id=RID, target=TARGET, status=200,
        headers=headers, body=body, require_signature=required,
    )


def test_doku_response_vector_verifies() -> None:
    v = RESP
    headers = {
        "Request-Id": v["request_id"], "Response-Timestamp": v["timestamp"],
        "Signature": v["signature"],
    }
    assert auth.verify_answer(
        secret_key=v["secret"], client_id=v["client_id"], request_id=v["request_id"],
        target=v["target"], status=200, headers=headers, body=v["body"].encode("utf-8"),
        require_signature=True,
    ) is True


@pytest.mark.parametrize("required", [True, False])
def test_good_signature_verifies(required: bool) -> None:
    assert check(signed_headers(), required=required) is True


def test_header_names_are_case_insensitive() -> None:
    lowered = {k.lower(): v for k, v in signed_headers().items()}
    assert check(lowered) is True
    assert check(requests.structures.CaseInsensitiveDict(signed_headers())) is True


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("Signature", "has a Response-Timestamp but no Signature header"),
        ("Response-Timestamp", "has a Signature but no Response-Timestamp header"),
    ],
)
def test_a_lone_signature_header_is_rejected_when_required(missing: str, message: str) -> None:
    headers = signed_headers({missing: None})
    with pytest.raises(errors.SignatureMismatchError, match=message) as info:
        check(headers)
    assert (info.value.status, info.value.request_id) == (200, RID)
    assert check(headers, required=False) is False  # simulator: accepted, unverified


@pytest.mark.parametrize("empty", ["Signature", "Response-Timestamp"])
def test_an_empty_signature_header_counts_as_missing(empty: str) -> None:
    with pytest.raises(errors.SignatureMismatchError, match="no"):
        check(signed_headers({empty: ""}))


def test_no_signature_headers_at_all() -> None:
    headers = signed_headers({"Signature": None, "Response-Timestamp": None})
    with pytest.raises(
        errors.SignatureMismatchError, match="no Signature or Response-Timestamp header"
    ):
        check(headers)
    assert check(headers, required=False) is False


@pytest.mark.parametrize("required", [True, False])
@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (signed_headers(), BODY + b" "),  # body changed after signing
        (signed_headers({"Signature": "HMACSHA256=AAAA"}), BODY),
        (signed_headers({"Response-Timestamp": "2020-08-11T08:45:44Z"}), BODY),
        (signed_headers({"Signature": signing.sign_request(
            SECRET, CLIENT_ID, RID, STAMP, TARGET, BODY)}), BODY),  # a request signature
        (signed_headers({"Signature": signing.sign_response(
            SECRET, CLIENT_ID, RID, STAMP, "/other", BODY)}), BODY),  # another path
    ],
    ids=["tampered-body", "garbage", "other-stamp", "request-signature", "other-target"],
)
def test_a_present_signature_must_match(
    headers: dict[str, str], body: bytes, required: bool
) -> None:
    with pytest.raises(errors.SignatureMismatchError, match="does not match its body"):
        check(headers, body, required=required)


@pytest.mark.parametrize("required", [True, False])
def test_another_request_id_is_never_trusted(required: bool) -> None:
    headers = signed_headers({"Request-Id": "someone-else"})
    with pytest.raises(errors.MalformedResponseError, match="'someone-else' does not match"):
        check(headers, required=required)


def test_missing_request_id() -> None:
    headers = signed_headers({"Request-Id": None})
    with pytest.raises(errors.MalformedResponseError, match="no Request-Id header"):
        check(headers)
    assert check(headers, required=False) is True


def test_signer_method_uses_its_own_credentials() -> None:
    signer = auth.DokuSigner(CLIENT_ID, SECRET)
    other = auth.DokuSigner(CLIENT_ID, SECRET + "x")
    for s, ok in ((signer, True), (other, False)):
        try:
            verified = s.verify_answer(
                request_id=RID, target=TARGET, status=200, headers=signed_headers(), body=BODY,
                require_signature=True,
            )
        except errors.SignatureMismatchError:
            verified = False
        assert verified is ok


header_text = st.text(st.characters(exclude_categories=()), max_size=80)  # surrogates too


@given(
    headers=st.dictionaries(
        st.sampled_from(["Request-Id", "Response-Timestamp", "Signature", "request-id"]),
        header_text,
    ),
    body=st.binary(max_size=64),
    required=st.booleans(),
)
def test_verify_answer_only_ever_returns_or_raises_its_own_errors(
    headers: dict[str, str], body: bytes, required: bool
) -> None:
    try:
        result = check(headers, body, required=required)
    except (errors.SignatureMismatchError, errors.MalformedResponseError):
        return
    assert result is False  # nothing random ever verifies
    assert not required


@given(random=st.binary(min_size=16, max_size=16))
def test_request_ids_are_uuid4_text(random: bytes) -> None:
    assert auth.uuid4_text(random) == str(uuid.UUID(bytes=random, version=4))


def test_request_ids_are_fresh_uuid4s() -> None:
    made = {auth.new_request_id() for _ in range(1000)}
    assert len(made) == 1000
    assert {uuid.UUID(rid).version for rid in made} == {4}


def test_random_bytes_are_never_shared_by_threads_or_a_forked_child() -> None:
    import os
    import threading

    auth._random_16()  # this thread has unused bytes now
    seen: list[bytes] = []
    thread = threading.Thread(target=lambda: seen.extend(auth._random_16() for _ in range(300)))
    thread.start()
    thread.join()
    mine = [auth._random_16() for _ in range(300)]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what it would use next, sent to the parent
        os.write(write, b"".join(auth._random_16() for _ in range(4)))
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64)
    os.close(read)
    os.close(write)
    after_fork = b"".join(auth._random_16() for _ in range(4))
    chunks = seen + mine + [child[i:i + 16] for i in range(0, 64, 16)]
    assert len(set(chunks)) == len(chunks) == 604
    assert child != after_fork  # the child read its own, not the parent's next bytes
