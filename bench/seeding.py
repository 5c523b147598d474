"""Big finished runs written straight into a store, fast: the rows `record_fetched`
writes, inserted in bulk (COPY on PostgreSQL), so a benchmark times what it measures,
not the seeding of a million tokens.

The run itself is made by `Store.create_run` (customers, attributes, as an audit
makes it); then every customer's result and its tokens are written in one
transaction, and the run is marked done.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from doku.engine.database import POSTGRESQL
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT
from doku.settings import SIMULATOR_CLIENT_ID

ISSUERS = ("BCA", "BRI", "Mandiri", "BNI", "CIMB Niaga", "Permata", "Danamon", "OCBC NISP",
           "BSI", "Maybank")
ISSUER_WEIGHTS = (26, 22, 20, 12, 8, 4, 3, 2, 2, 1)
BRANDS = ("visa", "mastercard", "jcb", "amex")
BRAND_WEIGHTS = (55, 35, 7, 3)
COUNTS = (0, 1, 2, 3, 4, 5)
COUNT_WEIGHTS = (35, 34, 19, 8, 3, 1)
SEGMENTS = ("basic", "plus", "premium")
REGIONS = ("Jakarta", "West Java", "East Java", "Central Java", "Banten", "North Sumatra",
           "Bali", "South Sulawesi", "Yogyakarta", "East Kalimantan")
CUSTOMER_RESULT = ("seq", "status", "customer_name", "n_tokens", "n_direct_debit",
                   "n_credit_card", "attempts", "latency_ms", "fetched_at")
TOKEN_COLUMNS = ("run_id", "customer_seq", "position", "type", "issuer", "brand",
                 "masked_card", "fingerprint", "token_id")
FETCHED_AT = "2026-11-26T00:00:00Z"


@dataclass(frozen=True)
class Seeded:
    run_id: int
    customers: int
    tokens: int


def plan_tokens(n_tokens: int, seed: int) -> list[list[tuple[str, str, str | None]]]:
    """Per customer, its tokens (type, issuer, brand), exactly `n_tokens` in all: about
    0.9 per customer, 40 % credit cards."""
    rng = random.Random(f"{seed}:{n_tokens}")
    plan: list[list[tuple[str, str, str | None]]] = []
    total = 0
    while total < n_tokens:
        n = min(rng.choices(COUNTS, COUNT_WEIGHTS)[0], n_tokens - total)
        tokens = []
        for _ in range(n):
            credit = rng.random() < 0.4
            tokens.append((CREDIT_CARD if credit else DIRECT_DEBIT,
                           rng.choices(ISSUERS, ISSUER_WEIGHTS)[0],
                           rng.choices(BRANDS, BRAND_WEIGHTS)[0] if credit else None))
        plan.append(tokens)
        total += n
    return plan


def seed_finished_run(store: Store, n_tokens: int, name: str, *, seed: int = 20261126) -> Seeded:
    """A finished run holding exactly `n_tokens` tokens, customers with two attributes
    (segment, region)."""
    plan = plan_tokens(n_tokens, seed)
    rng = random.Random(seed)
    ids = [f"B-{i:08d}" for i in range(len(plan))]
    attributes = {"segment": [rng.choice(SEGMENTS) for _ in ids],
                  "region": [rng.choice(REGIONS) for _ in ids]}
    run_id = store.create_run(
        ids=ids, attribute_values=attributes, attribute_columns=["segment", "region"],
        env="simulator", base_url=None, client_id=SIMULATOR_CLIENT_ID, input_name=name,
    )
    with store.engine.connect() as conn:
        first_seq = conn.exec_driver_sql(
            f"SELECT min(seq) FROM customers WHERE run_id = {int(run_id)}").scalar()
    results, tokens = [], []
    for i, held in enumerate(plan):
        seq = int(first_seq) + i
        dd = sum(1 for t in held if t[0] == DIRECT_DEBIT)
        results.append((seq, "fetched", "Bench Customer" if held else None, len(held), dd,
                        len(held) - dd, 1, 1.0, FETCHED_AT))
        for pos, (kind, issuer, brand) in enumerate(held):
            masked = (f"4096****{(seq + pos) % 10_000:04d}" if kind == CREDIT_CARD
                      else f"*********{(seq + pos) % 10_000:04d}")
            tokens.append((run_id, seq, pos, kind, issuer, brand, masked,
                           f"{rng.getrandbits(128):032x}{rng.getrandbits(128):032x}", None))
    _write_results(store, run_id, results, tokens)
    store.set_status(run_id, "done")
    return Seeded(run_id, len(ids), n_tokens)


def _write_results(store: Store, run_id: int, results: Sequence[tuple[object, ...]],
                   tokens: Sequence[tuple[object, ...]]) -> None:
    """Every customer's result and the tokens, in one transaction."""
    with store._write() as conn:  # a benchmark seeding in bulk, as the store does
        store._bulk_insert(conn, "tokens", TOKEN_COLUMNS, tokens)
        sets = ", ".join(f"{c} = r.{c}" for c in CUSTOMER_RESULT[1:])
        if store.backend == POSTGRESQL:
            conn.exec_driver_sql(
                "CREATE TEMP TABLE seeded (seq integer, status text, customer_name text,"
                " n_tokens integer, n_direct_debit integer, n_credit_card integer,"
                " attempts integer, latency_ms double precision, fetched_at text)"
                " ON COMMIT DROP")
            store._bulk_insert(conn, "seeded", CUSTOMER_RESULT, results)
            conn.exec_driver_sql(
                f"UPDATE customers c SET {sets} FROM seeded r"
                f" WHERE c.run_id = {int(run_id)} AND c.seq = r.seq")
            return
        marks = ", ".join(f"{c} = ?" for c in CUSTOMER_RESULT[1:])
        db = store._db
        assert db is not None
        db.executemany(f"UPDATE customers SET {marks} WHERE run_id = {int(run_id)} AND seq = ?",
                       [(*r[1:], r[0]) for r in results])
