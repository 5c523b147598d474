"""bench.seeding writes the rows an audit writes: a seeded run against the same run
made by the store's own `create_run` + `record_fetched`, on both backends."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.seeding import AUDIT_RATE, make_run_data, seed_finished_run
from doku.engine.store import Store
from doku.models import Token
from doku.settings import SIMULATOR_CLIENT_ID

FINISHED = datetime(2026, 11, 26, 8, 0, 0, tzinfo=timezone.utc)
RUN_COLUMNS = ("status", "env", "base_url", "client_id", "input_name", "token_type",
               "options", "attribute_columns", "customers", "rejected", "duplicates",
               "blank_rows", "store_token_ids", "error", "archived", "queued_at")


def rows(store: Store, sql: str, run_id: int) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql.format(run=int(run_id)))]


def customers(store: Store, run_id: int) -> list[tuple[Any, ...]]:
    return rows(store, "SELECT * FROM customers WHERE run_id = {run} ORDER BY seq", run_id)


def tokens(store: Store, run_id: int) -> list[tuple[Any, ...]]:
    return rows(store, "SELECT * FROM tokens WHERE run_id = {run}"
                       " ORDER BY customer_seq, position", run_id)


def audited_like(store: Store, n_tokens: int) -> int:
    """The seeded run's customers and tokens, written as an audit writes them."""
    data = make_run_data(n_tokens, finished=FINISHED)
    attrs = [json.loads(a) for a in data.attributes]
    run_id = store.create_run(
        ids=data.ids, attribute_values={k: [a[k] for a in attrs] for k in ("segment", "region")},
        attribute_columns=["segment", "region"], env="simulator", base_url=None,
        client_id=SIMULATOR_CLIENT_ID, input_name="bench.csv")
    first = 0
    for seq, cid in enumerate(data.ids):
        held = range(first, first + data.n_tokens[seq])
        first = held.stop
        store.record_fetched(run_id, cid, [
            Token(cid, data.names[seq], data.types[i], data.issuers[i], data.brands[i],
                  data.masked[i], f"token-{i}") for i in held], attempts=1, latency_ms=1.0)
    store.set_status(run_id, "done")
    return run_id


def test_seeded_rows_are_what_an_audit_writes(backend_store: Store) -> None:
    store = backend_store
    data = make_run_data(400, finished=FINISHED)
    seeded = seed_finished_run(store, 400, "bench.csv", data=data)
    audited = audited_like(store, 400)

    assert (seeded.customers, seeded.tokens) == (data.customers, 400)
    run_sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = {{run}}"
    assert rows(store, run_sql, seeded.run_id) == rows(store, run_sql, audited)
    assert rows(store, run_sql, seeded.run_id)[0][:1] == ("done",)
    # Every column alike but the run and the result time (the audit's is "now").
    got, want = customers(store, seeded.run_id), customers(store, audited)
    time_at = 15  # fetched_at
    assert [r[1:time_at] + r[time_at + 1:] for r in got] \
        == [r[1:time_at] + r[time_at + 1:] for r in want]
    assert [r[time_at] for r in got] == data.fetched_at
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r[time_at]) for r in want)
    # Tokens alike but the fingerprint (the audit's is the SHA-256 of a raw ID the
    # seeding never makes up): the same shape, 64 lowercase hex digits.
    got, want = tokens(store, seeded.run_id), tokens(store, audited)
    assert [r[1:7] + r[8:] for r in got] == [r[1:7] + r[8:] for r in want]
    assert all(re.fullmatch(r"[0-9a-f]{64}", r[7]) for r in got + want)
    assert len({r[7] for r in got}) == 400


def test_seeding_leaves_sqlite_as_the_store_sets_it(tmp_path: Path) -> None:
    with Store(tmp_path / "bench.sqlite3") as store:
        seed_finished_run(store, 50, "bench.csv")
        db = store._db
        assert db is not None
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL


def test_run_data_holds_exactly_the_tokens_asked_for() -> None:
    data = make_run_data(10_000, finished=FINISHED)
    assert data == make_run_data(10_000, finished=FINISHED)  # deterministic
    assert data.tokens == sum(data.n_tokens) == 10_000
    assert [sum(pair) for pair in zip(data.n_direct_debit, data.n_credit_card,
                                      strict=True)] == data.n_tokens
    held = Counter(data.token_seq)
    assert [held[seq] for seq in range(data.customers)] == data.n_tokens
    assert data.position == [p for n in data.n_tokens for p in range(n)]
    assert [n > 0 for n in data.n_tokens] == [name is not None for name in data.names]
    assert all((t == "CREDIT_CARD") == (b is not None)
               for t, b in zip(data.types, data.brands, strict=True))
    assert data.fetched_at[-1] == "2026-11-26T08:00:00Z"
    assert data.fetched_at == sorted(data.fetched_at)
    assert Counter(data.fetched_at).most_common(1)[0][1] == AUDIT_RATE
