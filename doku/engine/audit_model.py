"""What an audit is asked to do (`AuditOptions`, checked before a run is recorded) and
how far a fetcher has got (`Progress`): shared by the bulk engine, the service
functions, the CLI, the Python API and the pages.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from doku.models import TOKEN_TYPES

# After this many authentication failures in a row (with no success in between)
# the credentials are wrong, not the customers.
AUTH_FAILURES_TO_ABORT = 3
MAX_CONCURRENCY = 256
MAX_ATTEMPTS = 20
MAX_TIMEOUT_S = 600.0

@dataclass(frozen=True)
class AuditOptions:
    concurrency: int = 8
    rps: float | None = None
    token_type: str | None = None
    store_token_ids: bool = False
    max_attempts: int = 4
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        """Every option is checked here, before a run is recorded: a bad value must
        never leave an aborted run behind (ValueError naming the option)."""
        problem = _option_problem(self)
        if problem is not None:
            raise ValueError(problem)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _option_problem(o: AuditOptions) -> str | None:
    if isinstance(o.concurrency, bool) or not 1 <= o.concurrency <= MAX_CONCURRENCY:
        return f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {o.concurrency}"
    if o.rps is not None and not (math.isfinite(o.rps) and o.rps > 0):
        return f"rps must be a positive number (or none for no limit), not {o.rps}"
    if o.token_type is not None and o.token_type not in TOKEN_TYPES:
        return f"token type must be one of {', '.join(TOKEN_TYPES)}, not {o.token_type!r}"
    if not 1 <= o.max_attempts <= MAX_ATTEMPTS:
        return f"max attempts must be between 1 and {MAX_ATTEMPTS}, not {o.max_attempts}"
    for name in ("connect_timeout_s", "read_timeout_s"):
        value = getattr(o, name)
        if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S):
            label = name.removesuffix("_s").replace("_", " ")
            return f"{label} must be between 0 and {MAX_TIMEOUT_S:g} seconds, not {value}"
    return None


@dataclass(frozen=True)
class Progress:
    run_id: int
    state: str  # running | done | cancelled | aborted
    total: int  # customers this job fetches
    done: int  # reached a terminal state in this job
    fetched: int
    failed: int
    tokens: int
    elapsed_s: float
    rate: float  # customers/second over the last few seconds
    eta_s: float | None
    error: str | None = None
    retries: int = 0
    rate_limited_pauses: int = 0
    # Tokens DOKU listed twice in one answer (kept once; counted here, not stored).
    duplicate_tokens: int = 0

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def finished(self) -> bool:
        return self.state != "running"


@dataclass
class _Counters:
    done: int = 0
    fetched: int = 0
    failed: int = 0
    tokens: int = 0
    retries: int = 0
    duplicate_tokens: int = 0
    auth_streak: int = 0
    # (when, how many): one entry per batch the result writer committed
    recent: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=4096))
