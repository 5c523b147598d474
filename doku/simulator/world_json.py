"""The simulator's 200 answer written as JSON bytes directly.

`tokens_json` is, byte for byte, the compact JSON (`doku.simulator.response.compact`)
of `doku.simulator.world.tokens_for`'s answer, filtered by token type as
`doku.simulator.checks` filters it, without building the dicts and walking them again
in the encoder: at twelve thousand answers a second that was a tenth of the
simulator's time, and the simulator must stay twice as fast as the client it measures
(issue 16). Strings go through `json.encoder.encode_basestring`, what json.dumps
writes for a str with ensure_ascii=False. tests/test_world.py holds the two equal.
"""

from __future__ import annotations

from json.encoder import encode_basestring as _quoted

from doku.models import CARD_FIELD
from doku.simulator.world import named_cards


def tokens_json(customer_id: str, seed: int = 0, epoch: int = 0,
                token_type: str | None = None) -> bytes:
    """compact(tokens_for(customer_id, seed, epoch)), only `token_type`'s tokens when
    given (UTF-8)."""
    name, cards = named_cards(customer_id, seed, epoch)
    who = f'"customer":{{"id":{_quoted(customer_id)},"name":{_quoted(name)}}}'
    parts = []
    for card in cards:
        if token_type is not None and card.type != token_type:
            continue
        brand = "" if card.brand is None else f',"brand":{_quoted(card.brand)}'
        parts.append(
            f'{{"token_data":{{"type":{_quoted(card.type)}}},{who},'
            f'{_quoted(CARD_FIELD[card.type])}:{{"issuer":{_quoted(card.issuer)},'
            f'"token_id":{_quoted(card.token_id)},'
            f'"masked_card":{_quoted(card.masked_card)}{brand}}}}}'
        )
    return ("[" + ",".join(parts) + "]").encode("utf-8")
