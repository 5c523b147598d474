"""The embedded store: sqlite3 in WAL mode under DOKU_DATA_DIR (default ./data).

Runs, one row per valid input customer (its terminal state once known), the
tokens fetched and the rejected input rows. Results are written as they arrive,
one small transaction each, so a crash or kill -9 loses only requests in flight.
Raw token IDs are payment credentials: by default only a SHA-256 fingerprint is
kept; storing raw IDs is an explicit per-run opt-in.

Every method takes the store's lock; one Store object may be shared by threads.
Readers in other processes or sessions open their own Store (WAL lets them read
while a run writes).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from doku.engine.local import private_file, private_folder, process_alive
from doku.engine.reads import StoreReads
from doku.engine.schema import (
    DB_NAME,
    MAX_CODE,
    RUN_COLUMNS,
    RUN_STATES,
    SCHEMA,
    Reject,
    RunInfo,
    add_missing_columns,
    clip_error,
    data_dir,
    stored_labels,
    utc_iso,
)
from doku.errors import InvalidInputError, NoSuchRunError, RunBusyError
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token


class Store(StoreReads):
    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            folder = data_dir()
            private_folder(folder)
            path = folder / DB_NAME
        self.path = Path(path)
        if str(path) != ":memory:":
            private_file(self.path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock, self._db:
            self._db.executescript(SCHEMA)
            add_missing_columns(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------
    def create_run(
        self,
        *,
        ids: Sequence[str],
        attributes: Mapping[str, Mapping[str, str]] | None = None,
        attribute_values: Mapping[str, Sequence[str]] | None = None,
        attribute_columns: Sequence[str] = (),
        rejects: Iterable[Reject] = (),
        duplicates: int = 0,
        blank_rows: int = 0,
        env: str,
        base_url: str | None,
        client_id: str,
        input_name: str,
        token_type: str | None = None,
        options: Mapping[str, Any] | None = None,
        store_token_ids: bool = False,
        name: str | None = None,
        note: str | None = None,
    ) -> int:
        """Record a run and its input customers (no results yet); returns the run id.

        Attributes come either per customer (`attributes`: id -> {column: value}) or
        column-wise (`attribute_values`: column -> values parallel to `ids`, as
        doku.engine.inputs parses them).
        """
        rejects = list(rejects)
        columnwise = attribute_values or {}

        def attrs_json(seq: int, cid: str) -> str | None:
            if columnwise:
                row = {col: vals[seq] for col, vals in columnwise.items()}
            elif attributes and cid in attributes:
                row = dict(attributes[cid])
            else:
                return None
            return json.dumps(row, ensure_ascii=False)

        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO runs (created_at, status, env, base_url, client_id, input_name,"
                " token_type, options, attribute_columns, customers, rejected, duplicates,"
                " blank_rows, store_token_ids, name, note)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    utc_iso(), "running", env, base_url, client_id, input_name, token_type,
                    json.dumps(dict(options or {}), sort_keys=True),
                    json.dumps(list(attribute_columns)), len(ids), len(rejects),
                    duplicates, blank_rows, int(store_token_ids),
                    *stored_labels(name, note),
                ),
            )
            run_id = int(cur.lastrowid or 0)
            self._db.executemany(
                "INSERT INTO customers (run_id, seq, customer_id, attributes) VALUES (?,?,?,?)",
                ((run_id, seq, cid, attrs_json(seq, cid)) for seq, cid in enumerate(ids)),
            )
            self._db.executemany(
                "INSERT INTO rejects (run_id, row, value, reason) VALUES (?,?,?,?)",
                ((run_id, r.row, r.value, r.reason) for r in rejects),
            )
        return run_id

    def set_status(self, run_id: int, status: str, error: str | None = None) -> None:
        if status not in RUN_STATES:
            raise ValueError(f"unknown run status {status!r}")
        now = utc_iso()
        with self._lock, self._db:
            if status == "running":
                self._db.execute(
                    "UPDATE runs SET status=?, error=NULL, finished_at=NULL, owner_pid=?,"
                    " started_at=COALESCE(started_at, ?) WHERE id=?",
                    (status, os.getpid(), now, run_id),
                )
            else:
                self._db.execute(
                    "UPDATE runs SET status=?, error=?, finished_at=? WHERE id=?",
                    (status, None if error is None else clip_error(error), now, run_id),
                )

    def claim_run(self, run_id: int) -> None:
        """Mark the run as being fetched by this process, atomically: RunBusyError when
        another live process holds it (two resumes of one run never fetch a customer
        twice at once). BEGIN IMMEDIATE takes SQLite's write lock before reading, so of
        two processes claiming together exactly one sees the run free."""
        me = os.getpid()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT status, owner_pid FROM runs WHERE id=?", (run_id,)
                ).fetchone()
                if row is None:
                    raise NoSuchRunError(f"run {run_id} is not in {self.path}")
                status, owner = row
                if status == "running" and owner not in (None, me) and process_alive(owner):
                    raise RunBusyError(
                        f"run {run_id} is already being fetched by process {owner}; "
                        "wait for it to finish or cancel it there"
                    )
                self._db.execute(
                    "UPDATE runs SET status='running', error=NULL, finished_at=NULL,"
                    " owner_pid=?, started_at=COALESCE(started_at, ?) WHERE id=?",
                    (me, utc_iso(), run_id),
                )
            except BaseException:
                self._db.rollback()
                raise
            self._db.commit()

    def annotate_run(self, run_id: int, *, name: str | None, note: str | None) -> None:
        """Set (or, with None/blank, clear) a run's name and note."""
        with self._lock, self._db:
            self._db.execute("UPDATE runs SET name=?, note=? WHERE id=?",
                             (*stored_labels(name, note), run_id))

    def set_archived(self, run_id: int, archived: bool = True) -> None:
        """Archived runs stay in the store but leave pickers and trends."""
        with self._lock, self._db:
            self._db.execute("UPDATE runs SET archived=? WHERE id=?", (int(archived), run_id))

    def running_owners(self) -> dict[int, int | None]:
        """Run id -> pid of the process that said it is running it."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, owner_pid FROM runs WHERE status='running'"
            ).fetchall()
        return {int(r[0]): r[1] for r in rows}

    def delete_run(self, run_id: int) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM runs WHERE id=?", (run_id,))

    _RUN_COUNTS = f"""
        SELECT {", ".join("r." + c.strip() for c in RUN_COLUMNS.split(","))},
          (SELECT COUNT(*) FROM customers c WHERE c.run_id=r.id AND c.status='fetched'),
          (SELECT COUNT(*) FROM customers c WHERE c.run_id=r.id AND c.status='failed'),
          (SELECT COUNT(*) FROM customers c WHERE c.run_id=r.id AND c.status IS NULL),
          (SELECT COUNT(*) FROM customers c WHERE c.run_id=r.id AND c.n_tokens > 0),
          (SELECT COALESCE(SUM(c.n_tokens), 0) FROM customers c WHERE c.run_id=r.id)
        FROM runs r
    """

    @staticmethod
    def _run_info(row: Sequence[Any]) -> RunInfo:
        (rid, created, started, finished, status, env, base_url, client_id, input_name,
         token_type, options, attr_cols, customers, rejected, duplicates, blank_rows,
         store_ids, error, name, note, archived,
         fetched, failed, pending, with_tokens, tokens) = row
        return RunInfo(
            id=rid, created_at=created, started_at=started, finished_at=finished,
            status=status, env=env, base_url=base_url, client_id=client_id,
            input_name=input_name, token_type=token_type, options=json.loads(options),
            attribute_columns=json.loads(attr_cols), customers=customers,
            rejected=rejected, duplicates=duplicates, blank_rows=blank_rows,
            store_token_ids=bool(store_ids), error=error, fetched=fetched, failed=failed,
            pending=pending, with_tokens=with_tokens, tokens=tokens,
            name=name, note=note, archived=bool(archived),
        )

    def get_run(self, run_id: int) -> RunInfo | None:
        with self._lock:
            row = self._db.execute(self._RUN_COUNTS + " WHERE r.id=?", (run_id,)).fetchone()
        return None if row is None else self._run_info(row)

    def list_runs(self, limit: int | None = None) -> list[RunInfo]:
        sql = self._RUN_COUNTS + " ORDER BY r.id DESC"
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [self._run_info(r) for r in rows]

    def latest_run_id(self) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT MAX(id) FROM runs").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # -- results ------------------------------------------------------------------------
    def _seq(self, run_id: int, customer_id: str) -> int:
        row = self._db.execute(
            "SELECT seq FROM customers WHERE run_id=? AND customer_id=?", (run_id, customer_id)
        ).fetchone()
        if row is None:
            raise KeyError(f"customer {customer_id!r} is not part of run {run_id}")
        return int(row[0])

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
        with self._lock, self._db:
            seq = self._seq(run_id, customer_id)
            self._db.execute(
                "DELETE FROM tokens WHERE run_id=? AND customer_seq=?", (run_id, seq)
            )
            self._db.executemany(
                "INSERT INTO tokens (run_id, customer_seq, position, type, issuer, brand,"
                " masked_card, fingerprint, token_id) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    (run_id, seq, pos, t.type, t.issuer, t.brand, t.masked_card,
                     t.fingerprint, t.token_id if store_token_ids else None)
                    for pos, t in enumerate(tokens)
                ),
            )
            self._db.execute(
                "UPDATE customers SET status='fetched', customer_name=?, n_tokens=?,"
                " n_direct_debit=?, n_credit_card=?,"
                " error_kind=NULL, error_message=NULL, http_status=NULL, request_id=?,"
                " attempts=attempts+?, latency_ms=?, fetched_at=? WHERE run_id=? AND seq=?",
                (name, len(tokens), n_dd, n_cc, request_id, attempts,
                 latency_ms, utc_iso(), run_id, seq),
            )

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
        with self._lock, self._db:
            seq = self._seq(run_id, customer_id)
            self._db.execute(
                "DELETE FROM tokens WHERE run_id=? AND customer_seq=?", (run_id, seq)
            )
            self._db.execute(
                "UPDATE customers SET status='failed', customer_name=NULL, n_tokens=NULL,"
                " n_direct_debit=NULL, n_credit_card=NULL,"
                " error_kind=?, error_message=?, http_status=?, request_id=?,"
                " attempts=attempts+?, latency_ms=NULL, fetched_at=? WHERE run_id=? AND seq=?",
                (error_code[:MAX_CODE], clip_error(error_message), http_status,
                 None if request_id is None else request_id[:MAX_CODE], attempts, utc_iso(),
                 run_id, seq),
            )

    def pending_ids(self, run_id: int) -> list[str]:
        """Customers without a terminal state, in input order (what a resume fetches)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT customer_id FROM customers WHERE run_id=? AND status IS NULL"
                " ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [r[0] for r in rows]

    def failed_ids(self, run_id: int) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT customer_id FROM customers WHERE run_id=? AND status='failed'"
                " ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [r[0] for r in rows]


def resolve_run(store: Store, ref: str | int) -> RunInfo:
    """A run by id or `latest`; NoSuchRunError (one clear line) when there is none."""
    text = str(ref).strip()
    if text.lower() == "latest":
        latest = store.latest_run_id()
        if latest is None:
            raise NoSuchRunError(f"there are no runs yet in {store.path}")
        run_id = latest
    else:
        try:
            run_id = int(text)
        except ValueError:
            raise InvalidInputError(
                f"run id must be a number or 'latest', not {text!r}"
            ) from None
    info = store.get_run(run_id)
    if info is None:
        raise NoSuchRunError(f"run {run_id} is not in {store.path}")
    return info
