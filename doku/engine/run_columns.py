"""A whole run as two Arrow tables (`RunColumns`), read in one transaction or taken
from the store's snapshot of a finished run (`doku.engine.snapshots` holds the SQL).

`columns_from_rows` makes them from the driver's rows, column by column; a run is
read packed instead when it can be (`doku.engine.run_reading`, which also keeps a
finished run's copy). The copy is one zstd-compressed Arrow IPC blob (`to_bytes`;
measured on a 1M-token run, read + decoded + frames: 0.33 s on PostgreSQL and
0.31-0.52 s on SQLite for 44 MB, where LZ4 took 0.52-0.64 / 0.38-0.53 s for 101 MB
and no compression 0.89 / 0.44 s for 215 MB); `load_snapshot` gives it back while it
is current. Only readers of whole runs (frames, exports) import this module: it loads
pyarrow.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from doku.engine.schema import FETCHED
from doku.engine.snapshots import CUSTOMER_FIELDS, TOKEN_FIELDS
from doku.engine.store import Store

# Low-cardinality text: dictionary-encoded once here, categoricals in pandas later.
DICTIONARY = frozenset({"status", "error_kind", "attributes", "type", "issuer", "brand"})
INTS = frozenset({"seq", "customer_seq", "n_tokens", "n_direct_debit", "n_credit_card",
                  "http_status", "attempts"})
_LENGTH = struct.Struct("<Q")


@dataclass(frozen=True)
class RunColumns:
    """One run as two Arrow tables. customers: CUSTOMER_FIELDS in input order (status
    NULL = pending). tokens: TOKEN_FIELDS (without `customer_seq`) of fetched
    customers in input order, plus `owner`, the row of each token's customer."""

    customers: pa.Table
    tokens: pa.Table

    def counts(self) -> dict[str, int]:
        """fetched, failed, pending, with_tokens, tokens: as the runs list shows them."""
        status = self.customers.column("status")
        fetched = int(pc.sum(pc.equal(status, FETCHED)).as_py() or 0)
        pending = int(status.null_count)
        with_tokens = int(pc.sum(pc.greater(self.customers.column("n_tokens"), 0)).as_py()
                          or 0)
        return {"fetched": fetched, "failed": self.customers.num_rows - fetched - pending,
                "pending": pending, "with_tokens": with_tokens, "tokens": self.tokens.num_rows}

    def to_bytes(self) -> bytes:
        """Both tables as zstd-compressed Arrow IPC streams, each after its length."""
        parts = [_stream(self.customers), _stream(self.tokens)]
        return b"".join(_LENGTH.pack(len(p)) + p for p in parts)

    @classmethod
    def from_bytes(cls, blob: bytes) -> RunColumns:
        view, tables = memoryview(blob), []
        while view:
            (size,) = _LENGTH.unpack_from(view)
            with pa.ipc.open_stream(pa.py_buffer(view[8:8 + size])) as reader:
                tables.append(reader.read_all())
            view = view[8 + size:]
        customers, tokens = tables
        return cls(customers, tokens)


def _stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _table(rows: Sequence[tuple[Any, ...]], fields: Sequence[str]) -> pa.Table:
    """Driver rows as an Arrow table, one transposition and one conversion per column."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
    arrays = []
    for name, values in zip(fields, columns, strict=True):
        if name in INTS:
            arrays.append(pa.array(values, type=pa.int64()))
        elif name in DICTIONARY:
            arrays.append(pa.array(values, type=pa.string()).dictionary_encode())
        else:
            arrays.append(pa.array(values, type=pa.large_string()))
    return pa.Table.from_arrays(arrays, names=list(fields))


def columns_from_rows(customer_rows: Sequence[tuple[Any, ...]],
                      token_rows: Sequence[tuple[Any, ...]]) -> RunColumns:
    """`RunColumns` from the store's rows (CUSTOMER_FIELDS, TOKEN_FIELDS, both in input
    order): each token's customer found by its seq, tokens of customers not fetched
    left out."""
    return owned_tokens(_table(customer_rows, CUSTOMER_FIELDS),
                        _table(token_rows, TOKEN_FIELDS))


def owned_tokens(customers: pa.Table, tokens: pa.Table) -> RunColumns:
    """`RunColumns` from the customers and tokens tables (CUSTOMER_FIELDS,
    TOKEN_FIELDS, both in input order): each token's customer found by its seq,
    tokens of customers not fetched left out."""
    seqs = customers.column("seq").to_numpy()
    token_seqs = tokens.column("customer_seq").to_numpy()
    owner = np.searchsorted(seqs, token_seqs).astype(np.int32)
    status = customers.column("status").combine_chunks()
    fetched = (status.indices.fill_null(-1).to_numpy(zero_copy_only=False) ==
               _code_of(status, FETCHED)) if len(status) else np.zeros(0, dtype=bool)
    # Tokens of a customer that is not (or no longer) fetched are not its answer.
    keep = (owner < len(seqs))
    keep[keep] &= (seqs[owner[keep]] == token_seqs[keep]) & fetched[owner[keep]]
    tokens = tokens.drop_columns(["customer_seq"]).append_column("owner", pa.array(owner))
    if not keep.all():
        tokens = tokens.filter(pa.array(keep))
    return RunColumns(customers, tokens)


def _code_of(encoded: pa.DictionaryArray, value: str) -> int:
    values = encoded.dictionary.to_pylist()
    return values.index(value) if value in values else -2


def load_snapshot(store: Store, run_id: int) -> RunColumns | None:
    """The run's snapshot if it copies the run as it is now, else None."""
    blob = store.snapshot_blob(run_id)
    return None if blob is None else RunColumns.from_bytes(blob)
