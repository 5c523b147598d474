"""doku.errors: stable codes apart from display labels; one-line messages."""

from __future__ import annotations

import pytest

from doku import errors
from doku.errors import (
    ERROR_CLASSES,
    ERROR_CODES,
    NoSuchRunError,
    RateLimitedError,
    ServerError,
    error_code,
    error_label,
)


def test_codes_are_unique_snake_case_and_distinct_from_labels() -> None:
    assert len(set(ERROR_CODES)) == len(ERROR_CODES) == len(ERROR_CLASSES)
    for cls in ERROR_CLASSES:
        assert cls.code.replace("_", "").isalpha(), cls
        assert cls.code == cls.code.lower()
    assert ServerError.code == "server_error"
    assert ServerError.kind == "server error"


def test_stored_values_read_as_codes_whether_code_or_older_label() -> None:
    assert error_code("rate_limited") == "rate_limited"
    assert error_code("rate limited") == "rate_limited"  # a store from before codes
    assert error_code("response signature mismatch") == "signature_mismatch"
    assert error_code("something new") == "something new"
    assert error_label("transport") == "transport error"
    assert error_label("transport error") == "transport error"
    assert error_label("unknown_code") == "unknown_code"


def test_to_dict_and_one_line_str() -> None:
    exc = RateLimitedError("slow down", status=429, request_id="rid-1", retry_after=2.0)
    assert str(exc) == "rate limited (429): slow down"
    assert exc.to_dict() == {
        "code": "rate_limited",
        "kind": "rate limited",
        "status": 429,
        "message": "slow down",
        "doku_message": None,
        "request_id": "rid-1",
    }
    assert exc.retryable is True


def test_no_such_run_is_an_input_error_with_its_own_code() -> None:
    exc = NoSuchRunError("run 9 is not in store.sqlite3")
    assert isinstance(exc, errors.InvalidInputError)
    assert exc.code == "no_such_run"
    assert str(exc) == "no such run: run 9 is not in store.sqlite3"
    with pytest.raises(errors.InvalidInputError):
        raise exc
