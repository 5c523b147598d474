"""Reading a run back, row by row: what frames, exports and pages are built from.

Mixed into `doku.engine.store.Store`, which owns the connection and its lock.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from doku.engine.schema import Reject

_CUSTOMER_COLUMNS = (
    "c.customer_id, c.status, c.customer_name, c.n_tokens, c.n_direct_debit,"
    " c.n_credit_card, c.error_kind, c.error_message, c.http_status, c.attempts,"
    " c.attributes, c.request_id"
)


class StoreReads:
    _lock: threading.RLock
    _db: sqlite3.Connection

    # -- reading for frames, exports and pages ----------------------------------------
    def customer_rows(self, run_id: int) -> list[tuple[Any, ...]]:
        """(customer_id, status, customer_name, n_tokens, n_direct_debit, n_credit_card,
        error_kind (the error's code), error_message, http_status, attempts, attributes_json,
        request_id) in input order."""
        with self._lock:
            return self._db.execute(
                f"SELECT {_CUSTOMER_COLUMNS} FROM customers c WHERE c.run_id=? ORDER BY c.seq",
                (run_id,),
            ).fetchall()

    def find_customers(self, run_id: int, query: str, limit: int = 100) -> list[tuple[Any, ...]]:
        """Customers of the whole run whose ID or name contains `query` (case-blind),
        as `customer_rows` tuples in input order, at most `limit`."""
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._lock:
            return self._db.execute(
                f"SELECT {_CUSTOMER_COLUMNS} FROM customers c WHERE c.run_id=?"
                " AND (c.customer_id LIKE ? ESCAPE '\\' OR c.customer_name LIKE ? ESCAPE '\\')"
                " ORDER BY c.seq LIMIT ?",
                (run_id, pattern, pattern, limit),
            ).fetchall()

    def token_rows(self, run_id: int) -> list[tuple[Any, ...]]:
        """(customer_id, customer_name, type, issuer, brand, masked_card, fingerprint,
        token_id, attributes_json) for every token of fetched customers, input order."""
        with self._lock:
            return self._db.execute(
                """
                SELECT c.customer_id, c.customer_name, t.type, t.issuer, t.brand,
                  t.masked_card, t.fingerprint, t.token_id, c.attributes
                FROM tokens t JOIN customers c
                  ON c.run_id=t.run_id AND c.seq=t.customer_seq
                WHERE t.run_id=? ORDER BY t.customer_seq, t.position
                """,
                (run_id,),
            ).fetchall()

    def rejects(self, run_id: int) -> list[Reject]:
        with self._lock:
            rows = self._db.execute(
                "SELECT row, value, reason FROM rejects WHERE run_id=? ORDER BY row", (run_id,)
            ).fetchall()
        return [Reject(*r) for r in rows]
