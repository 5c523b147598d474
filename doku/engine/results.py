"""Recording customers' results and listing what a resume or retry fetches.

`record_results` writes a batch of results in one transaction (the bulk engine's
`doku.engine.result_writer` hands it whatever arrived in the last few tens of
milliseconds); `record_fetched` / `record_failed` write one. Either way a result
replaces any earlier one of its customer, and a batch is all or nothing: when it
fails, its customers stay pending, so a resume fetches them.

Mixed into `doku.engine.store.Store`. The statements are built once and bound per
call (on SQLite compiled once, see `StoreAccess._result_write`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from doku.engine.reads import StoreReads
from doku.engine.schema import FAILED, FETCHED, MAX_CODE, clip_error, utc_iso
from doku.engine.tables import customers, tokens
from doku.errors import StoreError
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token

_c = customers.c
_ONE_CUSTOMER = (_c.run_id == bindparam("b_run"), _c.customer_id == bindparam("b_customer"))
_BY_SEQ = (_c.run_id == bindparam("b_run"), _c.seq == bindparam("b_seq"))
_FETCHED_SET: dict[str, Any] = {
    "status": FETCHED, "customer_name": bindparam("b_name"), "n_tokens": bindparam("b_tokens"),
    "n_direct_debit": bindparam("b_dd"), "n_credit_card": bindparam("b_cc"),
    "error_kind": None, "error_message": None, "http_status": None,
    "request_id": bindparam("b_request"), "attempts": _c.attempts + bindparam("b_attempts"),
    "latency_ms": bindparam("b_latency"), "fetched_at": bindparam("b_at"),
    "claimed_by": None, "claim_until": None,
}
_FAILED_SET: dict[str, Any] = {
    "status": FAILED, "customer_name": None, "n_tokens": None, "n_direct_debit": None,
    "n_credit_card": None, "error_kind": bindparam("b_code"),
    "error_message": bindparam("b_message"), "http_status": bindparam("b_status"),
    "request_id": bindparam("b_request"), "attempts": _c.attempts + bindparam("b_attempts"),
    "latency_ms": None, "fetched_at": bindparam("b_at"), "claimed_by": None,
    "claim_until": None,
}
# PostgreSQL marks each customer and learns its seq in one pipelined statement; SQLite
# looks the batch's seqs up in one query and marks by primary key in one executemany.
_MARK_FETCHED = update(customers).where(*_ONE_CUSTOMER).values(_FETCHED_SET).returning(_c.seq)
_MARK_FAILED = update(customers).where(*_ONE_CUSTOMER).values(_FAILED_SET).returning(_c.seq)
_MARK_FETCHED_SEQ = update(customers).where(*_BY_SEQ).values(_FETCHED_SET)
_MARK_FAILED_SEQ = update(customers).where(*_BY_SEQ).values(_FAILED_SET)
_DROP_TOKENS = delete(tokens).where(
    tokens.c.run_id == bindparam("b_run"), tokens.c.customer_seq == bindparam("b_seq")
)
_ADD_TOKEN = insert(tokens)


@dataclass(frozen=True, slots=True)
class Fetched:
    """Terminal state 'fetched': the customer's tokens (0 or more)."""

    customer_id: str
    tokens: Sequence[Token]
    attempts: int
    request_id: str | None = None
    latency_ms: float | None = None
    duplicates: int = 0  # repeated token IDs in the answer (kept once; not stored)


@dataclass(frozen=True, slots=True)
class Failed:
    """Terminal state 'failed': why (error kind, message, status) after `attempts`."""

    customer_id: str
    error_code: str
    error_message: str
    attempts: int
    http_status: int | None = None
    request_id: str | None = None


Result = Fetched | Failed


TRANSIENT_ATTEMPTS = 4  # a batch the database gave up (deadlock) is run again


class StoreResults(StoreReads):
    def record_results(self, run_id: int, results: Sequence[Result], *,
                       store_token_ids: bool = False) -> None:
        """Terminal states of several customers of `run_id` in one transaction, each
        replacing any earlier result (and its tokens). KeyError, and nothing written,
        when one of them is not part of the run."""
        if not results:
            return
        for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
            try:
                self._record_results(run_id, results, store_token_ids)
                return
            except StoreError as exc:
                # A batch locks many customers; a claim renewal (or another fetcher's
                # batch) locking some of them in another order can deadlock with it.
                if not exc.transient or attempt == TRANSIENT_ATTEMPTS:
                    raise
                time.sleep(0.01 * attempt)

    def _record_results(self, run_id: int, results: Sequence[Result],
                        store_token_ids: bool) -> None:
        at = utc_iso()
        added: dict[int, list[dict[str, Any]]] = {}  # by seq: a later result replaces
        dropped: list[dict[str, Any]] = []
        with self._result_write() as tx:
            seqs = tx.seqs_of(run_id, [r.customer_id for r in results])
            # Runs of the same kind in input order: one statement each (a later result
            # of the same customer still replaces an earlier one).
            for fetched, run in groupby(results, key=lambda r: isinstance(r, Fetched)):
                group = list(run)
                values = ([_fetched_values(run_id, r, at) for r in group] if fetched  # type: ignore[arg-type]
                          else [_failed_values(run_id, r, at) for r in group])  # type: ignore[arg-type]
                if seqs is None:
                    marked = tx.first_each(_MARK_FETCHED if fetched else _MARK_FAILED, values)
                else:
                    marked = [_known_seq(seqs, r.customer_id, run_id) for r in group]
                    for row, (seq,) in zip(values, marked, strict=True):
                        row["b_seq"] = seq
                    tx.execute_many(_MARK_FETCHED_SEQ if fetched else _MARK_FAILED_SEQ, values)
                for result, row in zip(group, marked, strict=True):
                    seq = _seq(row, result.customer_id, run_id)
                    if isinstance(result, Fetched):
                        added[seq] = _token_rows(run_id, seq, result.tokens, store_token_ids)
                    else:
                        added.pop(seq, None)
                    dropped.append({"b_run": run_id, "b_seq": seq})
            tx.execute_many(_DROP_TOKENS, dropped)  # earlier results' tokens, then the new
            tx.execute_many(_ADD_TOKEN, [row for rows in added.values() for row in rows])

    def record_fetched(
        self,
        run_id: int,
        customer_id: str,
        tokens: Sequence[Token],
        *,
        attempts: int,
        request_id: str | None = None,
        latency_ms: float | None = None,
        store_token_ids: bool = False,
    ) -> None:
        """Terminal state 'fetched' (0 or more tokens), replacing any earlier result."""
        result = Fetched(customer_id, tokens, attempts, request_id, latency_ms)
        self.record_results(run_id, [result], store_token_ids=store_token_ids)

    def record_failed(
        self,
        run_id: int,
        customer_id: str,
        *,
        error_code: str,
        error_message: str,
        attempts: int,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        """Terminal state 'failed'; any tokens from an earlier attempt are removed."""
        self.record_results(run_id, [Failed(customer_id, error_code, error_message,
                                            attempts, http_status, request_id)])

    def pending_ids(self, run_id: int) -> list[str]:
        """Customers without a terminal state, in input order (what a resume fetches)."""
        return self._ids_where(run_id, None)

    def failed_ids(self, run_id: int) -> list[str]:
        return self._ids_where(run_id, FAILED)

    def _ids_where(self, run_id: int, status: str | None) -> list[str]:
        matches = _c.status.is_(None) if status is None else _c.status == status
        statement = (
            select(_c.customer_id).where(_c.run_id == run_id, matches).order_by(_c.seq)
        )
        with self._read() as conn:
            return list(conn.execute(statement).scalars())


def _known_seq(seqs: dict[str, int], customer_id: str, run_id: int) -> tuple[int]:
    """(seq,) as a marking statement returns it (KeyError: not part of the run)."""
    seq = seqs.get(customer_id)
    if seq is None:
        raise KeyError(f"customer {customer_id!r} is not part of run {run_id}")
    return (seq,)


def _seq(marked: Any, customer_id: str, run_id: int) -> int:
    """The marked customer's seq (KeyError: not part of the run)."""
    if marked is None:
        raise KeyError(f"customer {customer_id!r} is not part of run {run_id}")
    seq: int = marked[0]
    return seq


def _fetched_values(run_id: int, r: Fetched, at: str) -> dict[str, Any]:
    tokens = r.tokens
    name = next((t.customer_name for t in tokens if t.customer_name), None)
    n_dd = sum(1 for t in tokens if t.type == DIRECT_DEBIT)
    # Counted by name: a type DOKU adds later (wallets) is neither of the two.
    n_cc = sum(1 for t in tokens if t.type == CREDIT_CARD)
    return {"b_run": run_id, "b_customer": r.customer_id, "b_name": name,
            "b_tokens": len(tokens), "b_dd": n_dd, "b_cc": n_cc, "b_request": r.request_id,
            "b_attempts": r.attempts, "b_latency": r.latency_ms, "b_at": at}


def _failed_values(run_id: int, r: Failed, at: str) -> dict[str, Any]:
    request_id = None if r.request_id is None else r.request_id[:MAX_CODE]
    return {"b_run": run_id, "b_customer": r.customer_id, "b_code": r.error_code[:MAX_CODE],
            "b_message": clip_error(r.error_message), "b_status": r.http_status,
            "b_request": request_id, "b_attempts": r.attempts, "b_at": at}


def _token_rows(run_id: int, seq: int, tokens: Sequence[Token],
                store_token_ids: bool) -> list[dict[str, Any]]:
    return [{"run_id": run_id, "customer_seq": seq, "position": pos, "type": t.type,
             "issuer": t.issuer, "brand": t.brand, "masked_card": t.masked_card,
             "fingerprint": t.fingerprint, "token_id": t.token_id if store_token_ids else None}
            for pos, t in enumerate(tokens)]
