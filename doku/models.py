"""Typed records for DOKU's token list, input validation and masking.

The API answers a JSON array, one object per token:
  {"token_data": {"type": ...}, "customer": {"id": ..., "name": ...},
   "debit_card" | "credit_card": {"issuer", "token_id", "masked_card", "brand"?}}
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from doku.errors import InvalidInputError, MalformedResponseError
from doku.masking import fingerprint, mask_token_id

DIRECT_DEBIT = "DIRECT_DEBIT"
CREDIT_CARD = "CREDIT_CARD"
TOKEN_TYPES = (DIRECT_DEBIT, CREDIT_CARD)
CARD_FIELD = {DIRECT_DEBIT: "debit_card", CREDIT_CARD: "credit_card"}
MAX_CUSTOMER_ID = 50
MAX_TOKEN_ID = 256
TOKEN_FIELDS = (
    "customer_id",
    "customer_name",
    "type",
    "issuer",
    "brand",
    "masked_card",
    "token_id",
)


@dataclass(frozen=True, slots=True)
class Token:
    customer_id: str
    customer_name: str | None
    type: str
    issuer: str
    brand: str | None
    masked_card: str
    token_id: str

    def to_dict(self, reveal: bool = False) -> dict[str, Any]:
        row = asdict(self)
        if not reveal:
            row["token_id"] = mask_token_id(self.token_id)
        return row

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.token_id)


def customer_id_problem(customer_id: str) -> str | None:
    """Why a customer ID cannot be sent to DOKU, or None when it can."""
    if customer_id == "":
        return "empty"
    if len(customer_id) > MAX_CUSTOMER_ID:
        return f"longer than {MAX_CUSTOMER_ID} characters ({len(customer_id)})"
    for ch in customer_id:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return f"contains control character U+{ord(ch):04X}"
    return None


def validate_customer_id(customer_id: str) -> str:
    problem = customer_id_problem(customer_id)
    if problem is not None:
        raise InvalidInputError(f"customer.id is {problem}")
    return customer_id


def validate_token_type(token_type: str | None) -> str | None:
    if token_type is not None and token_type not in TOKEN_TYPES:
        raise InvalidInputError(
            f"token_data.type must be DIRECT_DEBIT or CREDIT_CARD, not {token_type!r}"
        )
    return token_type


def _field(obj: Any, path: str, index: int, *, optional: bool = False) -> Any:
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur or cur[part] is None:
            if optional:
                return None
            raise MalformedResponseError(f"token [{index}] is missing {path}")
        cur = cur[part]
    if not isinstance(cur, str):
        raise MalformedResponseError(f"token [{index}] field {path} is not a string")
    return cur


def parse_tokens(payload: Any) -> list[Token]:
    """Parse a decoded token-list answer; unknown fields are ignored."""
    if not isinstance(payload, list):
        raise MalformedResponseError("expected a JSON array of tokens")
    tokens: list[Token] = []
    for i, item in enumerate(payload):
        if not isinstance(item, dict):
            raise MalformedResponseError(f"token [{i}] is not an object")
        token_type = _field(item, "token_data.type", i)
        card_key = CARD_FIELD.get(token_type)
        if card_key is None:
            raise MalformedResponseError(f"token [{i}] has unknown token_data.type {token_type!r}")
        tokens.append(
            Token(
                customer_id=_field(item, "customer.id", i),
                customer_name=_field(item, "customer.name", i, optional=True),
                type=token_type,
                issuer=_field(item, f"{card_key}.issuer", i),
                brand=(
                    _field(item, f"{card_key}.brand", i, optional=True)
                    if token_type == CREDIT_CARD
                    else None
                ),
                masked_card=_field(item, f"{card_key}.masked_card", i),
                token_id=_field(item, f"{card_key}.token_id", i),
            )
        )
    return tokens
