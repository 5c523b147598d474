"""doku.models.parse_answer: an answer is checked against its request, pure functions."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doku import models
from doku.errors import MalformedResponseError
from doku.models import (
    CREDIT_CARD,
    DIRECT_DEBIT,
    KNOWN_TYPES,
    MAX_TOKEN_ID,
    TOKEN_TYPES,
    ParsedTokens,
    Token,
    detail_field,
    is_known_type,
    parse_answer,
    parse_tokens,
)
from tests.guide import GUIDE_TOKENS

CUST = "CUST-0001"
GUIDE_VALUES = [
    Token(CUST, "Anton Budiman", DIRECT_DEBIT, "BRI", None, "*********8982",
          "243591d7e49f45109961581718c3ef82"),
    Token(CUST, "Anton Budiman", DIRECT_DEBIT, "BRI", None, "*********8981",
          "05fc9236261381647e24a14a691e1590"),
    Token(CUST, "Anton Budiman", CREDIT_CARD, "BCA", "visa", "4096****5464",
          "4bc187a24c60fc88977604d170eea4a5"),
]


def guide() -> list[dict[str, Any]]:
    return copy.deepcopy(GUIDE_TOKENS)


def wallet(**detail: Any) -> dict[str, Any]:
    return {
        "token_data": {"type": "WALLET_RECURRING"},
        "customer": {"id": CUST},
        "wallet": {"issuer": "OVO", "token_id": "w-1", "masked_phone_number": "****1234",
                   **detail},
    }


def malformed(payload: Any, message: str, customer: str | None = CUST,
              token_type: str | None = None) -> None:
    with pytest.raises(MalformedResponseError) as info:
        parse_answer(payload, customer, token_type)
    assert info.value.message == message
    assert info.value.code == "malformed_response"


def test_guide_answer_gives_the_same_three_tokens_with_or_without_a_request() -> None:
    assert parse_tokens(guide()) == GUIDE_VALUES  # the one-argument form callers use
    assert parse_answer(guide(), CUST) == ParsedTokens(GUIDE_VALUES, 0)
    assert parse_tokens(guide()[:2], CUST, DIRECT_DEBIT) == GUIDE_VALUES[:2]
    assert parse_tokens(guide()[2:], CUST, CREDIT_CARD) == GUIDE_VALUES[2:]


def test_known_types_are_the_requestable_ones() -> None:
    assert KNOWN_TYPES == TOKEN_TYPES == (DIRECT_DEBIT, CREDIT_CARD)
    assert is_known_type(CREDIT_CARD)
    assert not is_known_type("WALLET_RECURRING")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t[1]["customer"].update(id="CUST-9"),
         "token [1] names customer 'CUST-9', not the requested 'CUST-0001'"),
        (lambda t: t[0]["customer"].update(id="X" * 10_000),
         f"token [0] names customer {'X' * 64!r}..., not the requested 'CUST-0001'"),
        (lambda t: t[0]["customer"].update(id="cust-0001"),
         "token [0] names customer 'cust-0001', not the requested 'CUST-0001'"),
        (lambda t: t[0]["debit_card"].update(token_id="t" * (MAX_TOKEN_ID + 1)),
         "token [0] debit_card.token_id is 257 characters long (at most 256)"),
        (lambda t: t[0]["debit_card"].update(token_id=""),
         "token [0] has an empty debit_card.token_id"),
        (lambda t: t[2]["credit_card"].update(issuer=" \t"),
         "token [2] has an empty credit_card.issuer"),
        (lambda t: t[2]["credit_card"].update(masked_card=""),
         "token [2] has an empty credit_card.masked_card"),
        (lambda t: t[0]["token_data"].update(type=""),
         "token [0] has an empty token_data.type"),
        (lambda t: t[0]["token_data"].update(type="T" * 65),
         "token [0] token_data.type is 65 characters long (at most 64)"),
        (lambda t: t[0]["customer"].update(id=""), "token [0] has an empty customer.id"),
        (lambda t: t[0]["customer"].pop("id"), "token [0] is missing customer.id"),
        (lambda t: t[1].pop("debit_card"), "token [1] is missing debit_card.issuer"),
        (lambda t: t[1]["debit_card"].update(issuer=5),
         "token [1] field debit_card.issuer is not a string"),
        (lambda t: t[0]["customer"].update(name=["x"]),
         "token [0] field customer.name is not a string"),
        (lambda t: t[0]["debit_card"].update(token_id="ab\ud800"),
         "token [0] field debit_card.token_id is not valid Unicode"),
        (lambda t: t.append("token"), "token [3] is not an object"),
    ],
)
def test_first_problem_is_named(mutate: Any, message: str) -> None:
    tokens = guide()
    mutate(tokens)
    malformed(tokens, message)


def test_a_blank_customer_id_is_a_valid_one() -> None:
    tokens = guide()
    for token in tokens:
        token["customer"]["id"] = " "
    assert [t.customer_id for t in parse_tokens(tokens, " ")] == [" "] * 3


def test_token_id_of_exactly_the_maximum_length_is_fine() -> None:
    tokens = guide()
    tokens[0]["debit_card"]["token_id"] = "t" * MAX_TOKEN_ID
    assert parse_tokens(tokens, CUST)[0].token_id == "t" * MAX_TOKEN_ID


def test_types_must_be_in_the_requested_scope() -> None:
    malformed(guide(), "token [2] is a 'CREDIT_CARD' token, not the requested DIRECT_DEBIT",
              token_type=DIRECT_DEBIT)
    malformed(guide(), "token [0] is a 'DIRECT_DEBIT' token, not the requested CREDIT_CARD",
              token_type=CREDIT_CARD)
    malformed([wallet()], "token [0] is a 'WALLET_RECURRING' token, not the requested "
              "CREDIT_CARD", token_type=CREDIT_CARD)


def test_not_a_list_is_malformed() -> None:
    malformed({"tokens": []}, "expected a JSON array of tokens")


def test_duplicates_are_kept_once_and_counted() -> None:
    tokens = guide()
    answer = parse_answer([*tokens, tokens[0], tokens[2], tokens[0]], CUST)
    assert answer.tokens == GUIDE_VALUES
    assert answer.duplicates == 3


def test_direct_debit_brand_is_ignored_and_credit_card_brand_optional() -> None:
    tokens = guide()
    tokens[0]["debit_card"]["brand"] = "visa"
    del tokens[2]["credit_card"]["brand"]
    parsed = parse_tokens(tokens, CUST)
    assert (parsed[0].brand, parsed[2].brand) == (None, None)


# -- unknown types: kept, never failed for being unknown ------------------------------------
def test_wallet_token_is_kept_with_its_fields() -> None:
    answer = parse_answer([*guide(), wallet()], CUST)
    assert answer.tokens[3] == Token(CUST, None, "WALLET_RECURRING", "OVO", None, "****1234",
                                     "w-1")
    assert answer.unknown_types == 1


def test_unknown_type_fields_are_optional_except_the_token_id() -> None:
    token = wallet()
    token["wallet"] = {"token_id": "w-2", "issuer": 7, "brand": "ovo", "masked_x": None}
    assert parse_tokens([token], CUST) == [
        Token(CUST, None, "WALLET_RECURRING", "", "ovo", "", "w-2")
    ]
    assert parse_tokens([wallet(masked_card="**99")], CUST)[0].masked_card == "**99"


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"token_data": {"type": "PAYLATER"}, "paylater": {}}, "paylater"),
        ({"token_data": {"type": "QRIS_RECURRING"}, "qris_recurring": {}, "qris": {}},
         "qris_recurring"),
        ({"token_data": {"type": "E_MONEY"}, "customer": {}, "account": {}}, "account"),
        ({"token_data": {"type": "E_MONEY"}, "a": {}, "b": {}}, None),
        ({"token_data": {"type": "E_MONEY"}, "a": "text"}, None),
        ({"token_data": {"type": CREDIT_CARD}}, "credit_card"),
    ],
)
def test_detail_field_rule(item: dict[str, Any], field: str | None) -> None:
    assert detail_field(item, item["token_data"]["type"]) == field


def test_unknown_type_without_a_token_id_is_malformed() -> None:
    token = wallet()
    del token["wallet"]["token_id"]
    malformed([token], "token [0] is missing wallet.token_id")
    ambiguous = {"token_data": {"type": "E_MONEY"}, "customer": {"id": CUST}, "a": {},
                 "b": {}}
    malformed([ambiguous], "token [0] of type 'E_MONEY' has no object holding its token_id")


def test_text_is_kept_verbatim() -> None:
    name = "<b>**x**</b> \x1b[2J | \u202e"
    tokens = guide()
    tokens[0]["customer"]["name"] = name
    tokens[0]["debit_card"]["masked_card"] = "<img src=x>"
    first = parse_tokens(tokens, CUST)[0]
    assert (first.customer_name, first.masked_card) == (name, "<img src=x>")


# -- fuzz: the checker never fails any other way ---------------------------------------------
TEXT = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", " ", CUST, "CUST-9", DIRECT_DEBIT, CREDIT_CARD, "WALLET_RECURRING",
                     "t" * 300, "\ud800"]),
)
VALUES = st.one_of(TEXT, st.none(), st.integers(), st.booleans(), st.lists(TEXT, max_size=2))
OBJECT = st.dictionaries(
    st.sampled_from(["issuer", "token_id", "masked_card", "brand", "masked_phone", "x"]),
    VALUES, max_size=5,
)
TOKEN = st.fixed_dictionaries(
    {},
    optional={
        "token_data": st.one_of(st.fixed_dictionaries({"type": VALUES}), VALUES),
        "customer": st.one_of(
            st.fixed_dictionaries({"id": VALUES}, optional={"name": VALUES}), VALUES
        ),
        "debit_card": st.one_of(OBJECT, VALUES),
        "credit_card": st.one_of(OBJECT, VALUES),
        "wallet": st.one_of(OBJECT, VALUES),
        "other": OBJECT,
    },
)
ANSWERS = st.one_of(
    st.lists(st.one_of(TOKEN, st.sampled_from(guide()), VALUES), max_size=5),
    VALUES,
)


@settings(max_examples=300, deadline=None)
@given(ANSWERS, st.sampled_from([None, CUST]), st.sampled_from([None, *TOKEN_TYPES]))
def test_checker_never_raises_anything_but_malformed(
    payload: Any, customer: str | None, token_type: str | None
) -> None:
    problem: MalformedResponseError | None = None
    try:
        answer = parse_answer(payload, customer, token_type)
    except MalformedResponseError as exc:
        problem = exc
    if problem is not None:
        assert problem.message.startswith(("token [", "expected a JSON array"))
        assert len(problem.message) < 300
        return
    ids = [t.token_id for t in answer.tokens]
    assert len(ids) == len(set(ids))
    for token in answer.tokens:
        assert token.token_id.strip()
        assert len(token.token_id) <= MAX_TOKEN_ID
        assert token.type.strip()
        assert customer is None or token.customer_id == customer
        assert token_type is None or token.type == token_type
        if is_known_type(token.type):
            assert token.issuer.strip()
            assert token.masked_card.strip()
    assert answer.duplicates + len(answer.tokens) == len(payload)


@settings(max_examples=500, deadline=None)
@given(ANSWERS, st.sampled_from([None, CUST]), st.sampled_from([None, *TOKEN_TYPES]))
def test_the_quick_way_for_known_types_parses_as_the_checks_do(
    payload: Any, customer: str | None, token_type: str | None
) -> None:
    def outcome() -> object:
        try:
            return parse_answer(payload, customer, token_type)
        except MalformedResponseError as exc:
            return exc.message
    quick = outcome()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models, "_quick_known", lambda *_: None)
        assert outcome() == quick
