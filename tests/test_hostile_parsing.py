"""doku.client.bounded as pure functions: the JSON shape pre-scan, decoding, capped and
bounded decompression, and server text in errors. Fuzzed with hypothesis."""

from __future__ import annotations

import contextlib
import json
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from doku import errors
from doku.client import bounded, status, tokens
from doku.client.bounded import (
    MAX_JSON_DEPTH,
    decode_json,
    json_shape_problem,
    read_body,
    server_text,
)
from tests.hostile_doku import gzip_bomb_blocks, gzipped


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


# -- the pre-scan -----------------------------------------------------------------------------
def test_depth_limit_is_exact() -> None:
    assert json_shape_problem(nested(MAX_JSON_DEPTH)) is None
    assert json_shape_problem(nested(MAX_JSON_DEPTH + 1)) == "is nested deeper than 64 levels"
    assert json_shape_problem(b'{"a":' * 65 + b"1" + b"}" * 65) is not None
    assert json_shape_problem(b"[" * 10_000_000) == "is nested deeper than 64 levels"


@pytest.mark.parametrize(
    "body",
    [
        b'["' + b"[" * 1000 + b'"]',  # brackets inside a string do not count
        b'["\\"' + b"[" * 1000 + b'"]',  # nor after an escaped quote
        b'{"k\\\\": "' + b"{" * 1000 + b'"}',  # an escaped backslash ends before the quote
        b'["\xe2\x80\x9c[[[\xe2\x80\x9d"]' + b"",  # multi-byte UTF-8 is never a quote
    ],
)
def test_strings_are_skipped(body: bytes) -> None:
    assert json_shape_problem(body) is None
    json.loads(body)


def test_token_limit() -> None:
    body = b"[" + b"1," * 200_000 + b"1]"
    assert json_shape_problem(body) == "has more than 200,000 JSON tokens"
    assert json_shape_problem(body, max_tokens=300_000) is None


@pytest.mark.parametrize(
    "body",
    [
        b'"' + b'\\"' * 2_000_000,  # an unterminated string full of escaped quotes
        b'"' * 4_000_000,
        b'["' + b"\\\\" * 2_000_000 + b'"]',
        b'"a"' * 1_000_000,
    ],
)
def test_pre_scan_is_linear_on_adversarial_strings(body: bytes) -> None:
    started = time.perf_counter()
    json_shape_problem(body)
    assert time.perf_counter() - started < 1.0  # ~0.1 s here; quadratic would be hours


# -- decoding -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (nested(100_000), "response JSON is nested deeper than 64 levels"),
        (b"[" * 100_000, "response JSON is nested deeper than 64 levels"),
        (b"[1,", "response body is not valid JSON"),
        (b"\xff\xfe\x00", "response body is not valid JSON"),
        (b"", "response body is not valid JSON"),
        (b"[" + b"9" * 5000 + b"]", "response body is not valid JSON"),  # int digit limit
    ],
)
def test_decode_json_fails_only_with_malformed(body: bytes, message: str) -> None:
    with pytest.raises(errors.MalformedResponseError) as info:
        decode_json(body)
    assert info.value.message == message


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
        | st.text(alphabet=st.sampled_from('ab"\\[]{},\u00e9\U0001f600\n'), max_size=6),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='k"[{\\', max_size=3), children, max_size=4),
        max_leaves=max_leaves,
    )


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=200, deadline=None)
@given(json_values(), st.integers(0, 100), st.sampled_from(["[", '{"k":']))
def test_fuzz_decode_matches_json_or_is_malformed(value: Any, wrap: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * wrap + json.dumps(value, ensure_ascii=False) + closer * wrap
    body = text.encode("utf-8")
    depth = depth_of(value) + wrap
    if depth > MAX_JSON_DEPTH:
        with pytest.raises(errors.MalformedResponseError) as info:
            decode_json(body)
        assert info.value.message == "response JSON is nested deeper than 64 levels"
    else:
        assert decode_json(body) == json.loads(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(alphabet='[]{}",:\\ 1a', max_size=300).map(str.encode))
def test_fuzz_garbage_only_ever_malformed(body: bytes) -> None:
    with contextlib.suppress(errors.MalformedResponseError):
        decode_json(body)
    text = status.doku_message(body)
    assert text is None or len(text) <= 300


def test_doku_message_of_hostile_error_bodies_is_none() -> None:
    assert status.doku_message(b'{"error": {"message": ' + nested(100_000) + b"}}") is None
    assert status.doku_message(b'{"error": {"message": "ok"}, "x": ' + nested(80) + b"}") \
        is None
    assert status.doku_message(b'{"error": {"message": "a\\nb\\u001b[2J"}}') == \
        "a\\nb\\x1b[2J"


# -- server text ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", "plain"),
        ("two\nlines\r", "two\\nlines\\r"),
        ("\x1b[31mred\x07", "\\x1b[31mred\\x07"),
        ("sep\u2028x\x85", "sep\\u2028x\\x85"),
        ("lone \ud800", "lone \\ud800"),
        ("Größe ✓ 😀 <b>", "Größe ✓ 😀 <b>"),
    ],
)
def test_server_text_is_one_line(text: str, shown: str) -> None:
    assert server_text(text) == shown


def test_server_text_is_cut() -> None:
    assert server_text("R" * 60_000) == "R" * 300
    assert server_text("\x1b" * 60_000) == "\\x1b" * 75
    assert len(server_text("\n" * 60_000, 10)) == 10


def test_reason_and_location_are_cut() -> None:
    resp = requests.Response()
    resp.status_code, resp._content, resp.reason = 503, b"", "\x1b[2J" + "x" * 60_000
    err = tokens.error_for_status(resp, "rid")
    assert err.message == ("\\x1b[2J" + "x" * 300)[:300]
    resp.status_code = 302
    resp.headers["Location"] = "/" + "y" * 60_000
    assert len(tokens.error_for_status(resp, "rid").message) < 400


def test_retry_after_over_the_cap_is_clamped_and_named() -> None:
    resp = requests.Response()
    resp.status_code, resp._content = 429, b'{"error":{"message":"slow"}}'
    resp.headers["Retry-After"] = "100000"
    err = tokens.error_for_status(resp, "rid", max_retry_after_s=60)
    assert isinstance(err, errors.RateLimitedError)
    assert (err.retry_after, err.message) == (60, "slow (Retry-After 100000 s capped at 60 s)")
    resp.headers["Retry-After"] = "30"
    err = tokens.error_for_status(resp, "rid", max_retry_after_s=60)
    assert isinstance(err, errors.RateLimitedError)
    assert (err.retry_after, err.message) == (30, "slow")


# -- read_body against a fake stream -----------------------------------------------------------------
class FakeRaw:
    """urllib3's HTTPResponse, as far as read_body uses it: headers and read1()."""

    def __init__(self, chunks: list[bytes] | Iterator[bytes], **headers: str) -> None:
        self.headers = {k.replace("_", "-"): v for k, v in headers.items()}
        self._chunks = iter(chunks)
        self.reads = 0

    def read1(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        assert decode_content is False  # read_body decompresses by itself
        self.reads += 1
        chunk = next(self._chunks, b"")
        assert amt is None or len(chunk) <= amt
        return chunk


def pieces(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_plain_body_is_returned_whole() -> None:
    assert read_body(FakeRaw(pieces(b"[1, 2, 3]"))) == b"[1, 2, 3]"


def test_gzip_multi_member_and_both_deflate_flavours() -> None:
    data = b'[{"a": 1}]' * 50
    two_members = gzipped(data[:100]) + gzipped(data[100:])
    assert read_body(FakeRaw(pieces(two_members), Content_Encoding="gzip")) == data
    zlib_wrapped = zlib.compress(data)
    assert read_body(FakeRaw(pieces(zlib_wrapped), Content_Encoding="deflate")) == data
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_deflate = c.compress(data) + c.flush()
    assert read_body(FakeRaw(pieces(raw_deflate), Content_Encoding="Deflate")) == data
    assert read_body(FakeRaw([data], Content_Encoding="identity")) == data


@pytest.mark.parametrize(
    ("encoding", "chunks", "message"),
    [
        ("br", [b"x"], "unsupported Content-Encoding 'br'"),
        ("gzip, gzip", [b"x"], "unsupported Content-Encoding 'gzip, gzip'"),
        ("gzip", [b"not gzip at all"], "response body is not valid gzip data"),
        ("gzip", [gzipped(b"[1]")[:-12]], "gzip response body is cut short"),
    ],
)
def test_bad_encodings_are_malformed(encoding: str, chunks: list[bytes], message: str) -> None:
    with pytest.raises(errors.MalformedResponseError) as info:
        read_body(FakeRaw(chunks, Content_Encoding=encoding))
    assert info.value.message == message


def test_caps_on_the_wire_and_after_decompression() -> None:
    with pytest.raises(errors.ResponseTooLargeError, match="Content-Length 101 bytes is over"):
        read_body(FakeRaw([b"x"], Content_Length="101"), max_wire_bytes=100)
    with pytest.raises(errors.ResponseTooLargeError, match="body is over the 100-byte limit"):
        read_body(FakeRaw(pieces(b"x" * 101, 50)), max_wire_bytes=100)
    bomb = gzipped(bytes(1000))
    with pytest.raises(errors.ResponseTooLargeError, match="decompresses to over the 999-"):
        read_body(FakeRaw([bomb], Content_Encoding="gzip"), max_decoded_bytes=999)
    assert len(read_body(FakeRaw([bomb], Content_Encoding="gzip"), max_decoded_bytes=1000)) \
        == 1000


def test_truncate_keeps_the_first_bytes_and_stops_reading() -> None:
    raw = FakeRaw(iter([b"x" * 60] * 1000), Content_Length="60000")
    assert read_body(raw, max_wire_bytes=100, truncate=True) == b"x" * 100
    assert raw.reads == 2
    bomb = FakeRaw([gzipped(bytes(10_000))], Content_Encoding="gzip")
    assert read_body(bomb, max_decoded_bytes=10, truncate=True) == bytes(10)


def test_check_runs_after_every_chunk() -> None:
    calls: list[int] = []
    read_body(FakeRaw(pieces(b"x" * 30, 10)), check=lambda: calls.append(1))
    assert len(calls) == 3


def test_bomb_decompression_is_bounded_step_by_step() -> None:
    first, repeat, _ = gzip_bomb_blocks(total=64 * 1024 * 1024)

    def stream() -> Iterator[bytes]:
        yield first
        while True:
            yield repeat

    with pytest.raises(errors.ResponseTooLargeError):
        read_body(FakeRaw(stream(), Content_Encoding="gzip"), max_decoded_bytes=5_000_000)
    assert bounded.CHUNK_BYTES == 64 * 1024
