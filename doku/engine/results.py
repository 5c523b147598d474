"""Recording customers' results as they arrive, one transaction each (a crash loses
only the requests in flight), and listing what a resume or retry fetches.

Mixed into `doku.engine.store.Store`. The statements are built once and bound per
call (on SQLite compiled once, see `StoreAccess._result_write`): a bulk audit records
one result per customer from up to 16 threads.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, delete, insert, select, update

from doku.engine.reads import StoreReads
from doku.engine.schema import FAILED, FETCHED, MAX_CODE, clip_error, utc_iso
from doku.engine.tables import customers, tokens
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token

_c = customers.c
_ONE_CUSTOMER = (_c.run_id == bindparam("b_run"), _c.customer_id == bindparam("b_customer"))
_MARK_FETCHED = (
    update(customers)
    .where(*_ONE_CUSTOMER)
    .values(
        status=FETCHED, customer_name=bindparam("b_name"), n_tokens=bindparam("b_tokens"),
        n_direct_debit=bindparam("b_dd"), n_credit_card=bindparam("b_cc"),
        error_kind=None, error_message=None, http_status=None,
        request_id=bindparam("b_request"), attempts=_c.attempts + bindparam("b_attempts"),
        latency_ms=bindparam("b_latency"), fetched_at=bindparam("b_at"),
        claimed_by=None, claim_until=None,
    )
    .returning(_c.seq)
)
_MARK_FAILED = (
    update(customers)
    .where(*_ONE_CUSTOMER)
    .values(
        status=FAILED, customer_name=None, n_tokens=None, n_direct_debit=None,
        n_credit_card=None, error_kind=bindparam("b_code"),
        error_message=bindparam("b_message"), http_status=bindparam("b_status"),
        request_id=bindparam("b_request"), attempts=_c.attempts + bindparam("b_attempts"),
        latency_ms=None, fetched_at=bindparam("b_at"), claimed_by=None, claim_until=None,
    )
    .returning(_c.seq)
)
_DROP_TOKENS = delete(tokens).where(
    tokens.c.run_id == bindparam("b_run"), tokens.c.customer_seq == bindparam("b_seq")
)
_ADD_TOKEN = insert(tokens)


class StoreResults(StoreReads):
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
        name = next((t.customer_name for t in tokens if t.customer_name), None)
        n_dd = sum(1 for t in tokens if t.type == DIRECT_DEBIT)
        # Counted by name: a type DOKU adds later (wallets) is neither of the two.
        n_cc = sum(1 for t in tokens if t.type == CREDIT_CARD)
        with self._result_write() as tx:
            marked = tx.first(_MARK_FETCHED, {
                "b_run": run_id, "b_customer": customer_id, "b_name": name,
                "b_tokens": len(tokens), "b_dd": n_dd, "b_cc": n_cc,
                "b_request": request_id, "b_attempts": attempts, "b_latency": latency_ms,
                "b_at": utc_iso(),
            })
            if marked is None:
                raise KeyError(f"customer {customer_id!r} is not part of run {run_id}")
            seq = marked[0]
            tx.execute(_DROP_TOKENS, {"b_run": run_id, "b_seq": seq})
            tx.execute_many(_ADD_TOKEN, [
                {"run_id": run_id, "customer_seq": seq, "position": pos, "type": t.type,
                 "issuer": t.issuer, "brand": t.brand, "masked_card": t.masked_card,
                 "fingerprint": t.fingerprint,
                 "token_id": t.token_id if store_token_ids else None}
                for pos, t in enumerate(tokens)
            ])

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
        with self._result_write() as tx:
            marked = tx.first(_MARK_FAILED, {
                "b_run": run_id, "b_customer": customer_id, "b_code": error_code[:MAX_CODE],
                "b_message": clip_error(error_message), "b_status": http_status,
                "b_request": None if request_id is None else request_id[:MAX_CODE],
                "b_attempts": attempts, "b_at": utc_iso(),
            })
            if marked is None:
                raise KeyError(f"customer {customer_id!r} is not part of run {run_id}")
            tx.execute(_DROP_TOKENS, {"b_run": run_id, "b_seq": marked[0]})

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
