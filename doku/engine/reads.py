"""Reading runs back: run records with their counts, and a run row by row (what
frames, exports and pages are built from).

Mixed into `doku.engine.store.Store`, which owns the connections. The two big reads
(`customer_rows`, `token_rows`) go straight to the driver; the rest is SQLAlchemy Core.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, outerjoin, select

from doku.engine.access import StoreAccess
from doku.engine.schema import FAILED, FETCHED, Reject, RunInfo
from doku.engine.tables import customers, rejects, run_snapshots, runs

_CUSTOMER_COLUMNS = (
    "c.customer_id, c.status, c.customer_name, c.n_tokens, c.n_direct_debit,"
    " c.n_credit_card, c.error_kind, c.error_message, c.http_status, c.attempts,"
    " c.attributes, c.request_id"
)
_RUN_FIELDS = (
    "id", "created_at", "started_at", "finished_at", "status", "env", "base_url",
    "client_id", "input_name", "token_type", "options", "attribute_columns", "customers",
    "rejected", "duplicates", "blank_rows", "store_token_ids", "error", "name", "note",
    "archived", "queued_at", "saved_audit_id", "scheduled_for",
)


def _customers_of_run(*conditions: Any) -> Any:
    """COUNT(*) of the run's customers matching `conditions` (correlated to `runs`)."""
    return (
        select(func.count())
        .select_from(customers)
        .where(customers.c.run_id == runs.c.id, *conditions)
        .scalar_subquery()
    )


def _runs_with_counts() -> Select[Any]:
    """Every run column and its live counts: fetched, failed, pending, customers with
    tokens, tokens. A finished run with a current snapshot (`doku.engine.snapshots`)
    takes them from it; others are counted (one indexed count each; CASE evaluates
    the count only when there is no snapshot, on both backends)."""
    token_sum = (
        select(func.coalesce(func.sum(customers.c.n_tokens), 0))
        .where(customers.c.run_id == runs.c.id)
        .scalar_subquery()
    )
    s = run_snapshots.c
    counted = {
        "fetched": _customers_of_run(customers.c.status == FETCHED),
        "failed": _customers_of_run(customers.c.status == FAILED),
        "pending": _customers_of_run(customers.c.status.is_(None)),
        "with_tokens": _customers_of_run(customers.c.n_tokens > 0),
        "tokens": token_sum,
    }
    current = outerjoin(runs, run_snapshots, and_(
        s.run_id == runs.c.id, s.status == runs.c.status, s.finished_at == runs.c.finished_at,
        s.data.is_not(None),
    ))
    return select(
        *(runs.c[name] for name in _RUN_FIELDS),
        *(case((s.run_id.is_(None), count), else_=s[name]) for name, count in counted.items()),
    ).select_from(current)


_RUNS_WITH_COUNTS = _runs_with_counts()
# The run columns alone, counts 0 (for callers that count the run's rows themselves).
_RUNS_UNCOUNTED = select(*(runs.c[name] for name in _RUN_FIELDS),
                         *(literal(0) for _ in range(5)))


def run_info(row: Sequence[Any]) -> RunInfo:
    (rid, created, started, finished, status, env, base_url, client_id, input_name,
     token_type, options, attr_cols, n_customers, rejected, duplicates, blank_rows,
     store_ids, error, name, note, archived, queued_at, saved_audit_id, scheduled_for,
     fetched, failed, pending, with_tokens, tokens) = row
    return RunInfo(
        id=rid, created_at=created, started_at=started, finished_at=finished,
        status=status, env=env, base_url=base_url, client_id=client_id,
        input_name=input_name, token_type=token_type, options=json.loads(options),
        attribute_columns=json.loads(attr_cols), customers=n_customers,
        rejected=rejected, duplicates=duplicates, blank_rows=blank_rows,
        store_token_ids=bool(store_ids), error=error, fetched=int(fetched),
        failed=int(failed), pending=int(pending), with_tokens=int(with_tokens),
        tokens=int(tokens), name=name, note=note, archived=bool(archived),
        queued_at=queued_at, saved_audit_id=saved_audit_id, scheduled_for=scheduled_for,
    )


class StoreReads(StoreAccess):
    # -- runs ---------------------------------------------------------------------------
    def get_run(self, run_id: int, *, counted: bool = True) -> RunInfo | None:
        """The run with its counts (`counted=False`: every count 0, without reading
        its customers - for callers that count them from what they read next)."""
        query = _RUNS_WITH_COUNTS if counted else _RUNS_UNCOUNTED
        with self._read() as conn:
            row = conn.execute(query.where(runs.c.id == run_id)).one_or_none()
        return None if row is None else run_info(row)

    def list_runs(self, limit: int | None = None) -> list[RunInfo]:
        """Every run (or the newest `limit`), newest first."""
        query = _RUNS_WITH_COUNTS.order_by(runs.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [run_info(r) for r in rows]

    def latest_run_id(self) -> int | None:
        with self._read() as conn:
            latest = conn.execute(select(func.max(runs.c.id))).scalar()
        return None if latest is None else int(latest)

    # -- reading for frames, exports and pages ----------------------------------------
    def customer_rows(self, run_id: int) -> list[tuple[Any, ...]]:
        """(customer_id, status, customer_name, n_tokens, n_direct_debit, n_credit_card,
        error_kind (the error's code), error_message, http_status, attempts, attributes_json,
        request_id) in input order."""
        return self._fetch_all(
            f"SELECT {_CUSTOMER_COLUMNS} FROM customers c WHERE c.run_id=? ORDER BY c.seq",
            (run_id,),
        )

    def find_customers(self, run_id: int, query: str, limit: int = 100) -> list[tuple[Any, ...]]:
        """Customers of the whole run whose ID or name contains `query` (case-blind on
        both backends), as `customer_rows` tuples in input order, at most `limit`."""
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        c = customers.c
        statement = (
            select(c.customer_id, c.status, c.customer_name, c.n_tokens, c.n_direct_debit,
                   c.n_credit_card, c.error_kind, c.error_message, c.http_status,
                   c.attempts, c.attributes, c.request_id)
            .where(c.run_id == run_id,
                   c.customer_id.ilike(pattern, escape="\\")
                   | c.customer_name.ilike(pattern, escape="\\"))
            .order_by(c.seq)
            .limit(limit)
        )
        with self._read() as conn:
            return [tuple(r) for r in conn.execute(statement)]

    def token_rows(self, run_id: int) -> list[tuple[Any, ...]]:
        """(customer_id, customer_name, type, issuer, brand, masked_card, fingerprint,
        token_id, attributes_json) for every token of fetched customers, input order."""
        return self._fetch_all(
            "SELECT c.customer_id, c.customer_name, t.type, t.issuer, t.brand,"
            " t.masked_card, t.fingerprint, t.token_id, c.attributes"
            " FROM tokens t JOIN customers c ON c.run_id=t.run_id AND c.seq=t.customer_seq"
            " WHERE t.run_id=? ORDER BY t.customer_seq, t.position",
            (run_id,),
        )

    def rejects(self, run_id: int) -> list[Reject]:
        statement = (
            select(rejects.c.row, rejects.c.value, rejects.c.reason)
            .where(rejects.c.run_id == run_id)
            .order_by(rejects.c.row)
        )
        with self._read() as conn:
            return [Reject(*r) for r in conn.execute(statement)]
