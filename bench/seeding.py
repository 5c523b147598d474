"""Big finished runs written straight into a store, fast: the rows an audit leaves
behind, inserted in bulk, so a benchmark times what it measures, not the seeding of a
million tokens.

What a run's rows are is decided once (`make_run_data`, numpy: a million tokens in a
second or two) and can be written to several stores (`seed_finished_run(...,
data=...)`): both backends then hold the same run. The rows are those an audit
writes: `Store.create_run` makes the run; each customer's row is then what
`create_run` inserts followed by what `record_fetched` sets (status 'fetched', name,
token counts, attempts, latency, time; errors, claim and request id empty), written
in its final state in one go, and each token row is what `record_fetched` inserts
(type, issuer, brand, masked card, SHA-256-sized fingerprint, no raw token ID).
`tests/test_bench_seeding.py` checks this against the store's own writes. On SQLite
the benchmark's throw-away file is written without journal or sync while seeding and
put back to the store's own settings (WAL, synchronous=NORMAL) before anything is
measured; on PostgreSQL the rows go in with COPY, and the tables are vacuumed and
analysed afterwards (`_vacuumed`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from doku.engine.database import SQLITE
from doku.engine.schedules import iso
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT
from doku.settings import SIMULATOR_CLIENT_ID

SEED = 20261126
ISSUERS = ("BCA", "BRI", "Mandiri", "BNI", "CIMB Niaga", "Permata", "Danamon", "OCBC NISP",
           "BSI", "Maybank")
ISSUER_WEIGHTS = (26, 22, 20, 12, 8, 4, 3, 2, 2, 1)
BRANDS = ("visa", "mastercard", "jcb", "amex")
BRAND_WEIGHTS = (55, 35, 7, 3)
COUNTS = (0, 1, 2, 3, 4, 5)
COUNT_WEIGHTS = (35, 34, 19, 8, 3, 1)
CREDIT_SHARE = 0.4
SEGMENTS = ("basic", "plus", "premium")
REGIONS = ("Jakarta", "West Java", "East Java", "Central Java", "Banten", "North Sumatra",
           "Bali", "South Sulawesi", "Yogyakarta", "East Kalimantan")
ATTRIBUTES = ("segment", "region")
CUSTOMER_NAME = "Bench Customer"
# Results are stamped as an audit stamps them, one after the other at this rate
# (customers/s, about a bulk audit's at 50 ms latency), the last a minute before the
# rows are made: a reader following the run (`doku.engine.live_columns`) then reads
# again the last 30 s of results, as it would, not the whole run.
AUDIT_RATE = 300
FINISHED_AGO_S = 60
# A customers row as an audit leaves it: create_run's columns, then record_fetched's.
CUSTOMER_COLUMNS = ("run_id", "seq", "customer_id", "attributes", "status", "customer_name",
                    "n_tokens", "n_direct_debit", "n_credit_card", "error_kind",
                    "error_message", "http_status", "request_id", "attempts", "latency_ms",
                    "fetched_at", "claimed_by", "claim_until")
TOKEN_COLUMNS = ("run_id", "customer_seq", "position", "type", "issuer", "brand",
                 "masked_card", "fingerprint", "token_id")


@dataclass(frozen=True)
class Seeded:
    run_id: int
    customers: int
    tokens: int


@dataclass(frozen=True)
class RunData:
    """A finished run's rows, column-wise (plain Python lists, ready for the driver).
    Customer i has seq i (as `create_run` numbers them); its tokens are contiguous."""

    ids: list[str]
    attributes: list[str]  # JSON, as create_run writes it
    names: list[str | None]
    fetched_at: list[str]
    n_tokens: list[int]
    n_direct_debit: list[int]
    n_credit_card: list[int]
    token_seq: list[int]
    position: list[int]
    types: list[str]
    issuers: list[str]
    brands: list[str | None]
    masked: list[str]
    fingerprints: list[str]

    @property
    def customers(self) -> int:
        return len(self.ids)

    @property
    def tokens(self) -> int:
        return len(self.token_seq)


def customer_id(seq: int) -> str:
    """The seeded customer with this seq's ID."""
    return f"B-{seq:08d}"


def _draw_counts(rng: np.random.Generator, n_tokens: int) -> np.ndarray:
    """Tokens per customer, customers drawn until `n_tokens` are reached: about 0.9 a
    customer; the last customer holds what is left."""
    p = np.array(COUNT_WEIGHTS, dtype=float) / sum(COUNT_WEIGHTS)
    mean = float(np.dot(COUNTS, p))
    counts = np.zeros(0, dtype=np.int64)
    while int(counts.sum()) < n_tokens:
        more = int((n_tokens - int(counts.sum())) / mean * 1.05) + 16
        counts = np.concatenate([counts, rng.choice(np.array(COUNTS), size=more, p=p)])
    total = np.cumsum(counts)
    last = int(np.searchsorted(total, n_tokens))  # the first customer reaching n_tokens
    counts = counts[:last + 1].copy()
    counts[last] -= int(total[last]) - n_tokens
    return counts


def _pick(rng: np.random.Generator, names: tuple[str, ...], weights: tuple[int, ...],
          size: int) -> np.ndarray:
    p = np.array(weights, dtype=float) / sum(weights)
    picked: np.ndarray = np.array(names, dtype=object)[rng.choice(len(names), size=size, p=p)]
    return picked


def _result_times(n_customers: int, finished: datetime) -> list[str]:
    """Each customer's `fetched_at` (as `utc_iso` writes it), in input order at
    AUDIT_RATE, the last one at `finished`."""
    second = np.arange(n_customers) // AUDIT_RATE
    seconds = int(second[-1]) + 1 if n_customers else 0
    started = finished - timedelta(seconds=seconds - 1)
    stamps = [iso(started + timedelta(seconds=s)) for s in range(seconds)]
    return [stamps[s] for s in second.tolist()]


def make_run_data(n_tokens: int, *, seed: int = SEED,
                  finished: datetime | None = None) -> RunData:
    """A run holding exactly `n_tokens` tokens (40 % credit cards, about 0.9 a
    customer), its customers with two attributes (segment, region); deterministic but
    for the result times (the last at `finished`, default FINISHED_AGO_S ago)."""
    if finished is None:
        finished = datetime.now(timezone.utc) - timedelta(seconds=FINISHED_AGO_S)
    rng = np.random.default_rng([seed, n_tokens])
    counts = _draw_counts(rng, n_tokens)
    n_customers = len(counts)
    seq = np.repeat(np.arange(n_customers), counts)
    first = np.cumsum(counts) - counts  # each customer's first token
    position = np.arange(n_tokens) - first[seq]
    credit = rng.random(n_tokens) < CREDIT_SHARE
    types = np.where(credit, CREDIT_CARD, DIRECT_DEBIT).astype(object)
    brands = _pick(rng, BRANDS, BRAND_WEIGHTS, n_tokens)
    brands[~credit] = None  # direct debit has no brand
    last4 = (seq + position) % 10_000
    masked = [f"4096****{d:04d}" if c else f"*********{d:04d}"
              for c, d in zip(credit.tolist(), last4.tolist(), strict=True)]
    hexes = rng.bytes(32 * n_tokens).hex()
    n_cc = np.bincount(seq, weights=credit, minlength=n_customers).astype(np.int64)
    combos = [json.dumps({"segment": s, "region": r}, ensure_ascii=False)
              for s in SEGMENTS for r in REGIONS]
    combo = rng.integers(len(SEGMENTS), size=n_customers) * len(REGIONS) \
        + rng.integers(len(REGIONS), size=n_customers)
    return RunData(
        ids=[customer_id(i) for i in range(n_customers)],
        attributes=np.array(combos, dtype=object)[combo].tolist(),
        names=[CUSTOMER_NAME if n else None for n in counts.tolist()],
        fetched_at=_result_times(n_customers, finished),
        n_tokens=counts.tolist(),
        n_direct_debit=(counts - n_cc).tolist(),
        n_credit_card=n_cc.tolist(),
        token_seq=seq.tolist(),
        position=position.tolist(),
        types=types.tolist(),
        issuers=_pick(rng, ISSUERS, ISSUER_WEIGHTS, n_tokens).tolist(),
        brands=brands.tolist(),
        masked=masked,
        fingerprints=[hexes[i:i + 64] for i in range(0, 64 * n_tokens, 64)],
    )


def _customer_rows(run_id: int, data: RunData) -> Iterator[tuple[object, ...]]:
    n = data.customers
    return zip([run_id] * n, range(n), data.ids, data.attributes, ["fetched"] * n,
               data.names, data.n_tokens, data.n_direct_debit, data.n_credit_card,
               [None] * n, [None] * n, [None] * n, [None] * n, [1] * n, [1.0] * n,
               data.fetched_at, [None] * n, [None] * n, strict=True)


def _token_rows(run_id: int, data: RunData) -> Iterator[tuple[object, ...]]:
    n = data.tokens
    return zip([run_id] * n, data.token_seq, data.position, data.types, data.issuers,
               data.brands, data.masked, data.fingerprints, [None] * n, strict=True)


def _insert_sqlite(store: Store, run_id: int, data: RunData) -> None:
    """The same rows on SQLite, the values every row shares written into the statement
    (binding them a million times would cost more than the inserts) and the columns
    that stay empty left to their default (NULL)."""
    db = store._db  # the store's one SQLite connection, in `_write`'s transaction
    assert db is not None
    run = int(run_id)
    db.executemany(
        "INSERT INTO customers (run_id, seq, customer_id, attributes, status, customer_name,"
        " n_tokens, n_direct_debit, n_credit_card, attempts, latency_ms, fetched_at)"
        f" VALUES ({run}, ?, ?, ?, 'fetched', ?, ?, ?, ?, 1, 1.0, ?)",
        zip(range(data.customers), data.ids, data.attributes, data.names, data.n_tokens,
            data.n_direct_debit, data.n_credit_card, data.fetched_at, strict=True))
    db.executemany(
        "INSERT INTO tokens (run_id, customer_seq, position, type, issuer, brand,"
        f" masked_card, fingerprint) VALUES ({run}, ?, ?, ?, ?, ?, ?, ?)",
        zip(data.token_seq, data.position, data.types, data.issuers, data.brands,
            data.masked, data.fingerprints, strict=True))


@contextmanager
def _unjournaled(store: Store) -> Iterator[None]:
    """SQLite: no rollback journal and no fsync while the block seeds (the benchmark's
    own throw-away file, its only connection); the store's settings back afterwards."""
    if store.backend != SQLITE:
        yield
        return
    db = store._db  # the store's one SQLite connection
    assert db is not None
    with store._connection():
        journal = db.execute("PRAGMA journal_mode").fetchone()[0]
        sync = db.execute("PRAGMA synchronous").fetchone()[0]
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        try:
            yield
        finally:
            db.execute(f"PRAGMA journal_mode={journal}")
            db.execute(f"PRAGMA synchronous={int(sync)}")


def _without_row_triggers(conn: Connection) -> None:
    """PostgreSQL checks a foreign key with a trigger per inserted row (most of a
    million-row COPY's time); a session in replica mode skips them, for this
    transaction. Only a superuser may (the throw-away cluster's account is one); on
    a server where we are not, the checks run."""
    conn.exec_driver_sql("SAVEPOINT replica")
    try:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    except DBAPIError:
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT replica")
    conn.exec_driver_sql("RELEASE SAVEPOINT replica")


def seed_finished_run(store: Store, n_tokens: int, name: str, *, seed: int = SEED,
                      data: RunData | None = None) -> Seeded:
    """A finished run holding exactly `n_tokens` tokens (`data`: rows made already by
    `make_run_data(n_tokens, seed=seed)`, e.g. for another backend)."""
    if data is None:
        data = make_run_data(n_tokens, seed=seed)
    if data.tokens != n_tokens:
        raise ValueError(f"the rows hold {data.tokens} tokens, not {n_tokens}")
    run_id = store.create_run(ids=[], attribute_columns=list(ATTRIBUTES), env="simulator",
                              base_url=None, client_id=SIMULATOR_CLIENT_ID, input_name=name)
    with _unjournaled(store), store._write() as conn:  # one transaction, as create_run's
        conn.exec_driver_sql(f"UPDATE runs SET customers = {data.customers}"
                             f" WHERE id = {int(run_id)}")
        if store.backend == SQLITE:
            _insert_sqlite(store, run_id, data)
        else:  # COPY; the run exists, so its rows' foreign-key checks are skipped
            _without_row_triggers(conn)
            store._bulk_insert(conn, "customers", CUSTOMER_COLUMNS, _customer_rows(run_id, data))
            store._bulk_insert(conn, "tokens", TOKEN_COLUMNS, _token_rows(run_id, data))
    store.set_status(run_id, "done")
    _vacuumed(store)
    return Seeded(run_id, data.customers, data.tokens)


def _vacuumed(store: Store) -> None:
    """PostgreSQL: the tables vacuumed and analysed, as autovacuum leaves them during
    and after an hour-long audit; done now, so that autovacuum does not set about a
    million fresh rows in the middle of a measurement."""
    if store.backend == SQLITE:
        return
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("runs", "customers", "tokens"):
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
