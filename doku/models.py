"""Typed records for DOKU's token list, input validation and masking.

The API answers a JSON array, one object per token:
  {"token_data": {"type": ...}, "customer": {"id": ..., "name": ...},
   "debit_card" | "credit_card": {"issuer", "token_id", "masked_card", "brand"?}}
`parse_answer` checks an answer against its request (customer, type, mandatory fields,
token_id length), drops repeated token_ids and keeps tokens of types it does not know.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, TypeGuard

from doku.errors import InvalidInputError, MalformedResponseError
from doku.masking import fingerprint, mask_token_id

DIRECT_DEBIT = "DIRECT_DEBIT"
CREDIT_CARD = "CREDIT_CARD"
TOKEN_TYPES = (DIRECT_DEBIT, CREDIT_CARD)  # the types a request may ask for
# Types whose fields the parser knows; answers may hold others (e.g. WALLET_RECURRING),
# which are kept with their type string (see parse_answer).
KNOWN_TYPES = TOKEN_TYPES
CARD_FIELD = {DIRECT_DEBIT: "debit_card", CREDIT_CARD: "credit_card"}
MAX_CUSTOMER_ID = 50
MAX_TOKEN_ID = 256
MAX_TOKEN_TYPE = 64
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
    if customer_id.isascii() and customer_id.isprintable():
        return None  # no ASCII character is in those categories but Cc (not printable)
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


def _show(text: str, limit: int = 64) -> str:
    """A server-supplied value for an error message: repr'd, cut to `limit` characters."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _valid_text(value: str) -> bool:
    """False for text no store can hold (lone surrogates, which JSON's \\u escapes allow)."""
    if value.isascii():  # the common case, without encoding a copy
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    if not _valid_text(cur):
        raise MalformedResponseError(f"token [{index}] field {path} is not valid Unicode")
    return cur


def _mandatory(obj: Any, path: str, index: int, *, blank_ok: bool = False) -> str:
    """A mandatory string field: present, a string, and not empty (nor blank, unless
    `blank_ok`: a customer ID of spaces is one DOKU accepts)."""
    value: str = _field(obj, path, index)
    if not (value if blank_ok else value.strip()):
        raise MalformedResponseError(f"token [{index}] has an empty {path}")
    return value


def _loose(obj: Any, key: str) -> str | None:
    """A field of an object of unknown shape: its text when it is a usable string."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) and _valid_text(value) else None


def _masked(detail: dict[str, Any]) -> str:
    """An unknown type's masked number: `masked_card`, else the first `masked_*` string."""
    for key in ("masked_card", *(k for k in detail if k.startswith("masked_"))):
        value = _loose(detail, key)
        if value is not None:
            return value
    return ""


def is_known_type(token_type: str) -> bool:
    """Whether the parser knows this type's fields (the two requestable types)."""
    return token_type in KNOWN_TYPES


def detail_field(item: dict[str, Any], token_type: str) -> str | None:
    """The name of the object holding a token's details (`debit_card`, `wallet`, ...).

    Known types: their documented field. Other types: the field named like the type
    (`wallet_recurring`) or like its first word (`WALLET_RECURRING` -> `wallet`), else
    the one object-valued field besides `token_data` and `customer`; None when there is
    no such field or several could be it."""
    known = CARD_FIELD.get(token_type)
    if known is not None:
        return known
    lowered = token_type.lower()
    for key in (lowered, lowered.split("_")[0]):
        if isinstance(item.get(key), dict):
            return key
    others = [
        k for k, v in item.items() if isinstance(v, dict) and k not in ("token_data", "customer")
    ]
    return others[0] if len(others) == 1 else None


@dataclass(frozen=True)
class ParsedTokens:
    """A checked answer: its tokens (each token_id once) and what was noted on the way."""

    tokens: list[Token]
    duplicates: int = 0  # tokens dropped because their token_id came earlier in the answer

    @property
    def unknown_types(self) -> int:
        """How many kept tokens are of a type the parser does not know."""
        return sum(1 for t in self.tokens if not is_known_type(t.type))


def _token_type(item: dict[str, Any], index: int, requested: str | None) -> str:
    token_type = _mandatory(item, "token_data.type", index)
    if len(token_type) > MAX_TOKEN_TYPE:
        raise MalformedResponseError(
            f"token [{index}] token_data.type is {len(token_type):,} characters long "
            f"(at most {MAX_TOKEN_TYPE})"
        )
    if requested is not None and token_type != requested:
        raise MalformedResponseError(
            f"token [{index}] is a {_show(token_type)} token, not the requested {requested}"
        )
    return token_type


def _customer(item: dict[str, Any], index: int, requested: str | None) -> str:
    customer_id = _mandatory(item, "customer.id", index, blank_ok=True)
    if requested is not None and customer_id != requested:
        raise MalformedResponseError(
            f"token [{index}] names customer {_show(customer_id)}, "
            f"not the requested {requested!r}"
        )
    return customer_id


def _token_id(item: dict[str, Any], key: str, index: int) -> str:
    token_id = _mandatory(item, f"{key}.token_id", index)
    if len(token_id) > MAX_TOKEN_ID:
        raise MalformedResponseError(
            f"token [{index}] {key}.token_id is {len(token_id):,} characters long "
            f"(at most {MAX_TOKEN_ID})"
        )
    return token_id


def _text(value: Any) -> TypeGuard[str]:
    """A string `_field` returns as it is."""
    return isinstance(value, str) and _valid_text(value)


def _filled(value: Any) -> TypeGuard[str]:
    """A string `_mandatory` returns as it is."""
    return isinstance(value, str) and _valid_text(value) and bool(value.strip())


def _quick_known(item: Any, customer_id: str | None, token_type: str | None) -> Token | None:
    """The token of a well-formed item of a known type, checked field by field as
    `_parse_one` checks it but without building paths and error texts (a bulk audit
    parses thousands a second); None for anything else: `_parse_one` says what."""
    if not isinstance(item, dict):
        return None
    data, customer = item.get("token_data"), item.get("customer")
    if not isinstance(data, dict) or not isinstance(customer, dict):
        return None
    kind = data.get("type")
    if not isinstance(kind, str):
        return None
    key = CARD_FIELD.get(kind)
    if key is None or (token_type is not None and kind != token_type):
        return None
    owner, name, detail = customer.get("id"), customer.get("name"), item.get(key)
    if (not isinstance(owner, str) or not owner or not _valid_text(owner)
            or (customer_id is not None and owner != customer_id)
            or (name is not None and not _text(name)) or not isinstance(detail, dict)):
        return None
    issuer, masked, token_id = detail.get("issuer"), detail.get("masked_card"), detail.get(
        "token_id")
    brand = detail.get("brand") if kind == CREDIT_CARD else None
    if (not _filled(issuer) or not _filled(masked) or not _filled(token_id)
            or len(token_id) > MAX_TOKEN_ID or (brand is not None and not _text(brand))):
        return None
    return Token(owner, name, kind, issuer, brand, masked, token_id)


def _parse_one(
    item: Any, index: int, customer_id: str | None, token_type: str | None
) -> Token:
    quick = _quick_known(item, customer_id, token_type)
    if quick is not None:
        return quick
    if not isinstance(item, dict):
        raise MalformedResponseError(f"token [{index}] is not an object")
    kind = _token_type(item, index, token_type)
    owner = _customer(item, index, customer_id)
    name = _field(item, "customer.name", index, optional=True)
    key = detail_field(item, kind)
    if key is None:
        raise MalformedResponseError(
            f"token [{index}] of type {_show(kind)} has no object holding its token_id"
        )
    if is_known_type(kind):
        return Token(
            customer_id=owner,
            customer_name=name,
            type=kind,
            issuer=_mandatory(item, f"{key}.issuer", index),
            brand=_field(item, f"{key}.brand", index, optional=True) if kind == CREDIT_CARD
            else None,
            masked_card=_mandatory(item, f"{key}.masked_card", index),
            token_id=_token_id(item, key, index),
        )
    detail = item[key]
    return Token(
        customer_id=owner,
        customer_name=name,
        type=kind,
        issuer=_loose(detail, "issuer") or "",
        brand=_loose(detail, "brand"),
        masked_card=_masked(detail),
        token_id=_token_id(item, key, index),
    )


def parse_answer(
    payload: Any, customer_id: str | None = None, token_type: str | None = None
) -> ParsedTokens:
    """Check a decoded token-list answer against its request and parse it.

    Every token must name the requested customer (when `customer_id` is given) and be
    of the requested type (when `token_type` is given); token_data.type, customer.id
    and the token_id must be non-empty strings, a token_id at most MAX_TOKEN_ID
    characters. The two known types also need a non-empty issuer and masked_card.
    The first problem fails the whole answer with a MalformedResponseError naming it.

    A token whose token_id came earlier in the answer is dropped and counted in
    `duplicates`. A token of another type (e.g. WALLET_RECURRING) is kept as it is:
    `type` is its type string; its details come from the object `detail_field` finds
    (`wallet`); issuer and brand are that object's `issuer` / `brand` strings (else ""
    and None); masked_card its `masked_card`, else its first `masked_*` string (e.g.
    `masked_phone_number`), else "". Only its token_id is mandatory. Text is kept
    verbatim (escaping for display is the display's job); unknown fields are ignored.
    """
    if not isinstance(payload, list):
        raise MalformedResponseError("expected a JSON array of tokens")
    tokens: list[Token] = []
    seen: set[str] = set()
    duplicates = 0
    for i, item in enumerate(payload):
        token = _parse_one(item, i, customer_id, token_type)
        if token.token_id in seen:
            duplicates += 1
            continue
        seen.add(token.token_id)
        tokens.append(token)
    return ParsedTokens(tokens, duplicates)


def parse_tokens(
    payload: Any, customer_id: str | None = None, token_type: str | None = None
) -> list[Token]:
    """The tokens of a checked answer (see `parse_answer`)."""
    return parse_answer(payload, customer_id, token_type).tokens
