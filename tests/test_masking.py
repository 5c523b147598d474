"""doku.masking: fingerprints and masked forms of credentials, exact values."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from doku.masking import fingerprint, mask_client_id, mask_token_id


def test_fingerprint_is_sha256_hex_of_utf8() -> None:
    assert fingerprint("tok-1234567890") == hashlib.sha256(b"tok-1234567890").hexdigest()
    assert fingerprint("é") == hashlib.sha256("é".encode()).hexdigest()
    assert fingerprint("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_mask_token_id_exact() -> None:
    assert mask_token_id("abcd1234efgh5678") == "abcd********5678"
    assert mask_token_id("123456789") == "1234*6789"
    assert mask_token_id("12345678") == "********"
    assert mask_token_id("abc") == "***"
    assert mask_token_id("") == ""


def test_mask_client_id_exact() -> None:
    assert mask_client_id("MCH-0001-10791114622547") == "MCH-***************2547"


@given(st.text(max_size=300))
def test_masked_form_never_shows_the_middle(value: str) -> None:
    masked = mask_token_id(value)
    assert len(masked) == len(value)
    if len(value) <= 8:
        assert masked == "*" * len(value)
    else:
        assert masked[:4] == value[:4]
        assert masked[-4:] == value[-4:]
        assert set(masked[4:-4]) == {"*"}
    assert mask_token_id(masked) == masked  # idempotent: masked input stays as it is
