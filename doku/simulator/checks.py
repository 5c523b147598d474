"""What the simulator decides about a request, as pure functions of config and bytes.

`check_request` is the authentication and header checks in DOKU's order (first
failure answers); `answer` is the real answer to an authenticated request.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

from doku.client.signing import parse_timestamp, utc_now, verify_request
from doku.models import CARD_FIELD, TOKEN_TYPES, customer_id_problem
from doku.settings import TOKENS_PATH
from doku.simulator.faults import SimulatorConfig
from doku.simulator.response import compact
from doku.simulator.world import tokens_for
from doku.simulator.world_json import tokens_json

MAX_REQUEST_ID = 128
# The zero-padded, upper-case shape every client sends; anything else (strptime also
# takes unpadded fields and lower-case T/Z) goes through parse_timestamp itself.
_PLAIN_STAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
Refusal = tuple[HTTPStatus, str, str]  # status, DOKU error code, message


def check_request(
    cfg: SimulatorConfig,
    *,
    client_id: str,
    request_id: str,
    stamp: str | None,
    signature: str | None,
    body: bytes,
) -> Refusal | None:
    """Why this request is refused (401/400), or None when it authenticates."""
    refusal = _check_ids(cfg, client_id, request_id) or _check_stamp(cfg, stamp)
    if refusal is not None:
        return refusal
    if not signature:
        return HTTPStatus.UNAUTHORIZED, "INVALID_SIGNATURE", "Signature missing"
    assert stamp is not None  # _check_stamp refused a missing one
    if not verify_request(
        cfg.secret_key, client_id, request_id, stamp, TOKENS_PATH, body, signature
    ):
        return HTTPStatus.UNAUTHORIZED, "INVALID_SIGNATURE", "invalid signature"
    return None


def _check_ids(cfg: SimulatorConfig, client_id: str, request_id: str) -> Refusal | None:
    if not client_id:
        return HTTPStatus.UNAUTHORIZED, "INVALID_CLIENT_ID", "Client-Id missing"
    if client_id != cfg.client_id:
        return HTTPStatus.UNAUTHORIZED, "INVALID_CLIENT_ID", "unknown Client-Id"
    if not request_id:
        return HTTPStatus.BAD_REQUEST, "INVALID_HEADER", "Request-Id missing"
    if len(request_id) > MAX_REQUEST_ID:
        return (
            HTTPStatus.BAD_REQUEST,
            "INVALID_HEADER",
            f"Request-Id longer than {MAX_REQUEST_ID} characters",
        )
    return None


def _check_stamp(cfg: SimulatorConfig, stamp: str | None) -> Refusal | None:
    if not stamp:
        return HTTPStatus.BAD_REQUEST, "INVALID_HEADER", "Request-Timestamp missing"
    try:
        moment = request_moment(stamp)
    except ValueError:
        return (
            HTTPStatus.BAD_REQUEST,
            "INVALID_HEADER",
            "Request-Timestamp must look like 2020-08-11T08:45:42Z (UTC)",
        )
    if abs((utc_now() - moment).total_seconds()) > cfg.max_clock_skew_s:
        return (
            HTTPStatus.UNAUTHORIZED,
            "INVALID_TIMESTAMP",
            f"Request-Timestamp is more than {cfg.max_clock_skew_s:g} s from server time",
        )
    return None


def request_moment(stamp: str) -> datetime:
    """parse_timestamp(stamp), without strptime's cost for the plain shape: for
    those fields strptime accepts exactly what datetime() accepts (a field out of
    range raises ValueError either way)."""
    match = _PLAIN_STAMP.fullmatch(stamp)
    if match is None:
        return parse_timestamp(stamp)
    year, month, day, hour, minute, second = map(int, match.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


def _bad(message: str) -> tuple[HTTPStatus, Any]:
    return HTTPStatus.BAD_REQUEST, {
        "error": {"code": "INVALID_REQUEST", "message": message}
    }


def customer_of(body: bytes) -> str | None:
    """The customer ID a request body names, if it names one (for the request log)."""
    try:
        customer = json.loads(body.decode("utf-8")).get("customer")
        value = customer.get("id") if isinstance(customer, dict) else None
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def answer(cfg: SimulatorConfig, body: bytes) -> tuple[HTTPStatus, Any]:
    """200 with the customer's tokens (a JSON value), or 400 with DOKU's error object."""
    asked = _asked(body)
    if isinstance(asked, tuple):
        return asked
    customer_id, token_type = asked.customer_id, asked.token_type
    tokens = tokens_for(customer_id, cfg.seed, cfg.epoch)
    if token_type is not None:
        tokens = [t for t in tokens if CARD_FIELD[token_type] in t]
    return HTTPStatus.OK, tokens


def answer_bytes(cfg: SimulatorConfig, body: bytes) -> tuple[HTTPStatus, bytes]:
    """`answer` as the compact JSON bytes the simulator sends (`world_json`)."""
    asked = _asked(body)
    if isinstance(asked, tuple):
        return asked[0], compact(asked[1])
    return HTTPStatus.OK, tokens_json(asked.customer_id, cfg.seed, cfg.epoch, asked.token_type)


@dataclass(frozen=True)
class _Asked:
    customer_id: str
    token_type: str | None


def _asked(body: bytes) -> _Asked | tuple[HTTPStatus, Any]:
    """What a request body asks for, or the 400 refusing it."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _bad("body is not valid JSON")
    if not isinstance(payload, dict):
        return _bad("body must be a JSON object")
    customer = payload.get("customer")
    if not isinstance(customer, dict) or "id" not in customer:
        return _bad("customer.id is mandatory")
    customer_id = customer["id"]
    if not isinstance(customer_id, str):
        return _bad("customer.id must be a string")
    problem = customer_id_problem(customer_id)
    if problem is not None:
        return _bad(f"customer.id is {problem}")
    token_data = payload.get("token_data")
    token_type = None
    if token_data is not None:
        if not isinstance(token_data, dict):
            return _bad("token_data must be an object")
        token_type = token_data.get("type")
        if token_type is not None and token_type not in TOKEN_TYPES:
            return _bad("token_data.type must be DIRECT_DEBIT or CREDIT_CARD")
    return _Asked(customer_id, token_type)
