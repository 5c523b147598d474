"""The retry policy as a pure function: exact schedules, bounds, what is final."""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from doku import errors
from doku.client.retry import NO_RETRY, RetryPolicy, backoff, parse_retry_after, retry_delay

SERVER = errors.ServerError("x")
HALF = 0.5  # a fixed "random" draw


def schedule(policy: RetryPolicy, error: errors.DokuError, rand: object) -> list[float]:
    """Every wait a client following `policy` makes until it gives up."""
    delays: list[float] = []
    attempt = 1
    while (d := retry_delay(policy, attempt, error, rand)) is not None:  # type: ignore[arg-type]
        delays.append(d)
        attempt += 1
    return delays


def test_default_schedule_doubles_from_a_quarter_second() -> None:
    # base 0.25 s, doubling: 0.25, 0.5, 1.0 before attempts 2, 3, 4; half of each (jitter).
    assert schedule(RetryPolicy(), SERVER, lambda: HALF) == [0.125, 0.25, 0.5]
    assert [backoff(RetryPolicy(), n) for n in range(1, 8)] == [
        0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0
    ]


def test_schedule_with_a_seeded_random_source() -> None:
    policy = RetryPolicy(max_attempts=6)
    assert schedule(policy, SERVER, random.Random(7).random) == [
        0.08095819120829059,
        0.07542458696225096,
        0.6509344730398537,
        0.14487257333508552,
        2.143528017226757,
    ]
    capped = RetryPolicy(max_attempts=6, max_delay_s=0.75)
    assert schedule(capped, SERVER, random.Random(7).random) == [
        0.08095819120829059,
        0.07542458696225096,
        0.4882008547798903,
        0.05432721500065707,
        0.4019115032300169,
    ]


def test_full_jitter_spans_zero_to_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay_s=1, max_delay_s=3)
    assert [retry_delay(policy, n, SERVER, lambda: 0.0) for n in (1, 2, 3)] == [0.0, 0.0, 0.0]
    assert [retry_delay(policy, n, SERVER, lambda: 1.0) for n in (1, 2, 3)] == [1.0, 2.0, 3.0]


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert retry_delay(policy, 2, SERVER, lambda: HALF) == 0.25
    assert retry_delay(policy, 3, SERVER, lambda: HALF) is None
    assert retry_delay(policy, 4, SERVER, lambda: HALF) is None
    assert retry_delay(NO_RETRY, 1, SERVER, lambda: HALF) is None
    assert len(schedule(RetryPolicy(max_attempts=9), SERVER, lambda: HALF)) == 8


@pytest.mark.parametrize(
    "error",
    [
        errors.ServerError("x"),
        errors.TransportError("x"),
        errors.RateLimitedError("x"),
    ],
    ids=lambda e: e.code,
)
def test_retryable_errors(error: errors.DokuError) -> None:
    assert retry_delay(RetryPolicy(), 1, error, lambda: HALF) == 0.125


@pytest.mark.parametrize(
    "cls",
    [
        errors.BadRequestError,
        errors.AuthenticationError,
        errors.ConflictError,
        errors.ClientHttpError,
        errors.SignatureMismatchError,
        errors.MalformedResponseError,
        errors.InvalidInputError,
        errors.ConfigurationError,
        errors.CancelledError,
    ],
    ids=lambda c: c.code,
)
def test_final_errors_are_never_retried(cls: type[errors.DokuError]) -> None:
    assert retry_delay(RetryPolicy(max_attempts=10), 1, cls("x"), lambda: HALF) is None


def test_retry_after_wins_with_a_tenth_of_the_jitter_on_top() -> None:
    policy = RetryPolicy(max_attempts=4, max_retry_after_s=60)
    limited = errors.RateLimitedError("x", retry_after=3)
    assert retry_delay(policy, 1, limited, lambda: HALF) == 3.0125  # 3 + 0.125 / 10
    assert retry_delay(policy, 1, limited, lambda: 0.0) == 3.0
    assert retry_delay(policy, 3, limited, lambda: 1.0) == 3.1  # 3 + 1.0 / 10
    too_long = errors.RateLimitedError("x", retry_after=3600)
    assert retry_delay(policy, 1, too_long, lambda: 0.0) == 60.0
    no_hint = errors.RateLimitedError("x", retry_after=None)
    assert retry_delay(policy, 2, no_hint, lambda: HALF) == 0.25
    assert retry_delay(policy, 4, limited, lambda: HALF) is None  # still bounded


def test_huge_attempt_counts_do_not_overflow() -> None:
    policy = RetryPolicy(max_attempts=10**6)
    assert backoff(policy, 5000) == 8.0
    assert retry_delay(policy, 5000, SERVER, lambda: HALF) == 4.0
    assert backoff(RetryPolicy(base_delay_s=0), 5000) == 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_attempts", 0),
        ("base_delay_s", -1.0),
        ("max_delay_s", math.inf),
        ("max_retry_after_s", math.nan),
    ],
)
def test_policy_rejects_nonsense(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    base=st.floats(min_value=0.0, max_value=10.0),
    cap=st.floats(min_value=0.0, max_value=60.0),
)
def test_delay_is_the_capped_backoff_times_the_draw(
    attempt: int, draw: float, base: float, cap: float
) -> None:
    policy = RetryPolicy(max_attempts=10_001, base_delay_s=base, max_delay_s=cap)
    exact = Fraction(base) * 2 ** (attempt - 1)  # no float overflow in the oracle
    expected = cap if exact >= Fraction(cap) else float(exact)
    assert backoff(policy, attempt) == expected
    assert retry_delay(policy, attempt, SERVER, lambda: draw) == expected * draw


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12", 12.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),  # never negative
        ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0),
        ("Wed, 31 Dec 2025 23:59:00 GMT", 0.0),  # in the past: go now
        (None, None),
        ("", None),
        ("garbage", None),
        ("nan", None),
        ("inf", None),
        ("Thu, 99 Foo 2026", None),
    ],
)
def test_parse_retry_after(text: str | None, seconds: float | None) -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after(text, now) == seconds


@given(st.text(max_size=60))
def test_parse_retry_after_never_raises(text: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    value = parse_retry_after(text, now)
    assert value is None or (math.isfinite(value) and value >= 0)
