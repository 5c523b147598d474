"""Retry policy as a small pure function: whether to retry, and how long to wait.

Only 429 (honouring Retry-After), 5xx and transport errors are retried; every other
error is final. Waits grow exponentially with full jitter, capped, so a fleet of
workers does not retry in lockstep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from doku.errors import DokuError, RateLimitedError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        for name in ("base_delay_s", "max_delay_s", "max_retry_after_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


NO_RETRY = RetryPolicy(max_attempts=1)


def backoff(policy: RetryPolicy, attempt: int) -> float:
    """The un-jittered wait after failed attempt `attempt` (from 1): base * 2^(n-1), capped."""
    if policy.base_delay_s == 0:
        return 0.0
    try:
        raw = policy.base_delay_s * 2.0 ** (attempt - 1)
    except OverflowError:  # a huge attempt count: the cap applies anyway
        raw = math.inf
    return min(policy.max_delay_s, raw)


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    error: DokuError,
    rand: Callable[[], float],
) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None to give up.

    `attempt` counts from 1 (the attempt that just failed); `rand` returns [0, 1).
    """
    if not error.retryable or attempt >= policy.max_attempts:
        return None
    jittered = backoff(policy, attempt) * rand()
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        # The server said when; a little jitter on top spreads the herd.
        return min(policy.max_retry_after_s, error.retry_after) + jittered * 0.1
    return jittered


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent/garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())
