"""The common request answered on the event loop without http.server's machinery.

Almost every request a benchmark or an audit sends is the same shape: ``POST
/tokenization/v1/tokens HTTP/1.1``, a few plain headers, a Content-Length body, signed
and new. For that request the event-loop front end (`doku.simulator.loop_server`)
spent about a quarter of its CPU in ``handle_one_request``: reading lines from a file
stand-in, building an ``HTTPMessage`` nobody reads, the handler's per-request set-up.
`answer_plain` answers it directly from the received bytes, with the same decisions
(`doku.simulator.checks`), the same state changes in the same order (statistics, the
latency draw, the Request-Id memory) and the same answer bytes
(`doku.simulator.response`) as `SimulatorHandler`.

It declines, before any effect, whatever is not exactly that: another request line,
a header block that is not plain or is large, Expect, Transfer-Encoding, a body not
all here, a refusal (401/400 on headers or signature), a Request-Id seen before, a
simulator stopping. Then the handler answers it as always. A simulator with seeded
faults, a rate limit or a request log (`lane_open`) never uses it. The 30
conversations of tests/test_simulator_loop.py hold the loop's bytes to the threaded
front end's, and tests/test_simulator_fast_lane.py holds this lane to the handler.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from doku.settings import TOKENS_PATH
from doku.simulator.checks import answer_bytes, check_request
from doku.simulator.faults import SimulatorConfig
from doku.simulator.handler import MAX_BODY
from doku.simulator.request_head import first_of_each, plain_pairs
from doku.simulator.response import answer_head
from doku.simulator.state import _State

REQUEST_LINE = b"POST " + TOKENS_PATH.encode("ascii") + b" HTTP/1.1\r\n"
# Well inside http.client's limits (65,536 bytes a line, 100 lines): a head past these
# goes to the handler, which applies them exactly.
MAX_HEAD_BYTES = 16384
MAX_HEADER_LINES = 64


@dataclass(frozen=True, slots=True)
class Answered:
    """What the lane made of the first request in the received bytes."""

    consumed: int  # bytes of the request
    out: bytes  # the answer
    hold: float  # seconds to keep it before sending (the latency)
    close: bool  # close the connection once it is sent


def lane_open(config: SimulatorConfig) -> bool:
    """Whether requests to a simulator so configured may take the lane: not with
    faults, a rate limit or a request log (their answers and logs stay the handler's)."""
    return (config.request_log is None and config.rate_limit_rps is None
            and not any(config.fault_rates().values()))


def answer_plain(state: _State, data: bytes) -> Answered | None:
    """The answer to the plain, complete, authenticated, new tokens request at the
    start of `data`, with its effects on `state` made; None (and nothing changed) for
    anything else."""
    if not data.startswith(REQUEST_LINE):
        return None
    start = len(REQUEST_LINE)
    end = data.find(b"\r\n\r\n", start, start + MAX_HEAD_BYTES)
    if end < 0 or data.startswith(b"\r\n", start):  # too long, not all here, or empty
        return None
    pairs = plain_pairs(data[start:end + 4])
    if pairs is None or len(pairs) > MAX_HEADER_LINES:
        return None
    fields = first_of_each(pairs)
    length_text = fields.get("content-length")
    if (length_text is None or not length_text.isdigit() or "expect" in fields
            or "transfer-encoding" in fields):
        return None
    length = int(length_text)
    body_end = end + 4 + length
    if length > MAX_BODY or len(data) < body_end or state.stop_event.is_set():
        return None
    body = data[end + 4:body_end]
    cfg = state.config
    client_id = fields.get("client-id", "")
    request_id = fields.get("request-id", "")
    if check_request(cfg, client_id=client_id, request_id=request_id,
                     stamp=fields.get("request-timestamp"),
                     signature=fields.get("signature"), body=body) is not None:
        return None
    if request_id in state.seen:  # a replay: 409, the handler's
        return None
    status, payload = answer_bytes(cfg, body)
    # The handler's effects, in its order: counted, the latency drawn, the Request-Id
    # claimed and its answer remembered, the status counted.
    stats = state.stats
    stats.incr("requests")
    hold = state.delay_s()
    state.claim(request_id, hashlib.sha256(body).digest())
    state.remember(request_id, status, payload)
    close = (fields.get("connection", "").lower() == "close"
             or state.stop_event.is_set())
    head = answer_head(status, payload, key=cfg.secret_key,
                       client_id=client_id, request_id=request_id, target=TOKENS_PATH,
                       close=close)
    stats.incr(f"status_{status.value}")
    return Answered(body_end, head + payload, hold, close)
