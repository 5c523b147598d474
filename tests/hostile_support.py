"""What the hostile-server tests share: the `hostile` fixture (a factory of HostileDoku
servers, closed after the test), a client bounded for them, and outcome helpers."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from doku import errors
from doku.client.retry import NO_RETRY
from doku.client.tokens import TokenClient, TokenResult
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from doku.settings import SecretKey, Settings
from tests import hostile_doku as hd
from tests.hostile_doku import HostileDoku
from tests.scripted_doku import RecordingPacer

SECRET = "SK-test-secret-never-shown-0123456789"
CLIENT_ID = "MCH-0001-10791114622547"
DEADLINE_S = 1.0
# Far longer than the drip interval (a loaded CI machine once stalled a 0.2 s drip past
# a 0.5 s read timeout): only the deadline can cut a drip.
READ_TIMEOUT_S = 0.7
BOUND_S = DEADLINE_S + 2.0  # every single attempt ends by then
MAX_PEAK_BYTES = 50 * 1024 * 1024
TEN_MIB = "10,485,760"

GUIDE_VALUES = [  # the guide's CUST-0001 answer, as before this change
    Token("CUST-0001", "Anton Budiman", DIRECT_DEBIT, "BRI", None, "*********8982",
          "243591d7e49f45109961581718c3ef82"),
    Token("CUST-0001", "Anton Budiman", DIRECT_DEBIT, "BRI", None, "*********8981",
          "05fc9236261381647e24a14a691e1590"),
    Token("CUST-0001", "Anton Budiman", CREDIT_CARD, "BCA", "visa", "4096****5464",
          "4bc187a24c60fc88977604d170eea4a5"),
]


@pytest.fixture
def hostile() -> Iterator[Callable[[str], HostileDoku]]:
    servers: list[HostileDoku] = []

    def start(case: str) -> HostileDoku:
        server = HostileDoku(CLIENT_ID, SECRET, case)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def make_client(server: HostileDoku, **kw: object) -> TokenClient:
    settings = Settings("sandbox", CLIENT_ID, SecretKey(SECRET), server.url)
    opts: dict[str, object] = {
        "pacer": RecordingPacer(), "rand": lambda: 0.5, "retry": NO_RETRY,
        "connect_timeout_s": 1.0, "read_timeout_s": READ_TIMEOUT_S, "deadline_s": DEADLINE_S,
    }
    opts.update(kw)
    return TokenClient(settings, **opts)  # type: ignore[arg-type]


@dataclass
class Outcome:
    result: TokenResult | None
    error: errors.DokuError | None
    elapsed: float
    peak: int  # tracemalloc peak (bytes), 0 when not traced


def call(
    client: TokenClient, token_type: str | None = None, *, trace: bool = False
) -> Outcome:
    """One get_tokens call; any exception but a DokuError fails the test."""
    if trace:
        tracemalloc.start()
    started = time.monotonic()
    result: TokenResult | None = None
    error: errors.DokuError | None = None
    try:
        result = client.get_tokens(hd.CUSTOMER, token_type)
    except errors.DokuError as exc:
        error = exc
    finally:
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
    return Outcome(result, error, elapsed, peak)


def failed(outcome: Outcome, cls: type[errors.DokuError], code: str) -> errors.DokuError:
    exc = outcome.error
    assert isinstance(exc, cls), outcome
    assert exc.code == code
    assert exc.request_id  # names the attempt
    assert "\n" not in str(exc)
    assert SECRET not in str(exc)
    assert outcome.elapsed <= BOUND_S
    return exc


# -- answers checked against the request ----------------------------------------------------
