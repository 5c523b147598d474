"""Hypothesis-generated runs stored for real: the ground truth aggregate tests check."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from doku.analysis.frames import RunFrames, load_run_frames
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token

DD, CC = DIRECT_DEBIT, CREDIT_CARD


ISSUERS = ("BCA", "BRI", "BNI", "Mandiri")
BRANDS = ("visa", "mastercard", None)


@dataclass
class GenCustomer:
    cid: str
    status: str  # fetched | failed | pending
    attrs: dict[str, str] | None
    tokens: list[Token] = field(default_factory=list)


@st.composite
def gen_run(draw: st.DrawFn, random_ids: bool = False) -> list[GenCustomer]:
    """Customers C0.. (or random ids from C0..C14, to overlap another run)."""
    n = draw(st.integers(min_value=0, max_value=14))
    out = []
    for i in range(n):
        cid = f"C{draw(st.integers(0, 14))}" if random_ids else f"C{i}"
        if any(c.cid == cid for c in out):
            continue
        status = draw(st.sampled_from(["fetched", "fetched", "failed", "pending"]))
        attrs = draw(st.one_of(st.none(), st.fixed_dictionaries(
            {"segment": st.sampled_from(["gold", "silver", "", " "])})))
        tokens = []
        if status == "fetched":
            for _ in range(draw(st.integers(0, 4))):
                kind = draw(st.sampled_from([DD, CC]))
                tid = f"tok-{draw(st.integers(0, 25)):04d}-{cid}"
                tokens.append(Token(cid, f"name {cid}", kind, draw(st.sampled_from(ISSUERS)),
                                    draw(st.sampled_from(BRANDS)) if kind == CC else None,
                                    "****1234", tid))
        out.append(GenCustomer(cid, status, attrs, tokens))
    return out


def store_run(store: Store, customers: list[GenCustomer]) -> RunFrames:
    run = store.create_run(
        ids=[c.cid for c in customers],
        attributes={c.cid: c.attrs for c in customers if c.attrs is not None},
        attribute_columns=["segment"], env="simulator", base_url=None, client_id="MCH",
        input_name="gen.csv",
    )
    for c in customers:
        if c.status == "fetched":
            store.record_fetched(run, c.cid, c.tokens, attempts=1)
        elif c.status == "failed":
            store.record_failed(run, c.cid, error_code="server_error", error_message="x",
                                attempts=2, http_status=500)
    return load_run_frames(store, run)
