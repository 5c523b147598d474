"""A running run's columns kept current by reading only what changed.

A million-token run takes seconds to read whole; while it runs, a reader that wants
results no older than a few seconds reads again only the customers whose result was
written since the newest one it has (less a margin for writers' clocks and commits in
flight), with their tokens, and puts them in place of the rows it held. Every change
to a customer's result moves its `fetched_at` (a retry putting failed customers back
to pending too: `doku.engine.claims`); every FULL_READ_S the run is read whole again
all the same, for a writer whose clock is further behind than the margin.

Both reads are packed (`doku.engine.packed_columns`: the whole run of a million
tokens in about 2 s where reading it as rows takes 7-8 s); a run holding a value
that cannot be read packed is read as rows (`run_rows_since`), with the same result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from doku.engine.packed_columns import read_packed
from doku.engine.run_columns import RunColumns, columns_from_rows
from doku.engine.schedules import iso, parse_iso
from doku.engine.store import Store

FULL_READ_S = 600.0
# Results written this long before the newest one seen are read again: writers on
# other machines (clock skew) and transactions still committing.
MARGIN_S = 30


@dataclass(frozen=True)
class _State:
    columns: RunColumns
    newest: str | None  # the newest `fetched_at` read
    full_at: float  # monotonic time of the last whole read


class LiveColumns:
    """One running run's columns; `current()` brings them up to date. Thread-safe."""

    def __init__(self, store: Store, run_id: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.run_id, self._clock = store, run_id, clock
        self._state: _State | None = None
        self._lock = threading.Lock()
        self.last_read = "none"  # "whole" | "changes": what the last `current` read

    def current(self) -> RunColumns:
        with self._lock:
            state, now = self._state, self._clock()
            if state is None or state.newest is None or now - state.full_at >= FULL_READ_S:
                whole, newest = self._read(None)
                state = _State(whole, newest, now)
                self.last_read = "whole"
            else:
                changed, newest = self._read(_earlier(state.newest, MARGIN_S))
                newest = max(state.newest, newest or state.newest)
                state = _State(merge(state.columns, changed), newest, state.full_at)
                self.last_read = "changes"
            self._state = state
            return state.columns

    def _read(self, since: str | None) -> tuple[RunColumns, str | None]:
        """The run's columns (with `since`: those of the customers whose result was
        written at or after it), and the newest `fetched_at` among them."""
        packed = read_packed(self.store, self.run_id, since)
        if packed is not None:
            return packed.columns, packed.newest
        return read_rows(self.store, self.run_id, since)


def read_rows(store: Store, run_id: int, since: str | None) -> tuple[RunColumns, str | None]:
    """As `LiveColumns._read`, from the run's rows (`Store.run_rows_since`)."""
    customers, tokens = store.run_rows_since(run_id, since)
    return columns_from_rows(_strip(customers), tokens), _newest(customers)


def _strip(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [r[:-1] for r in rows]


def _newest(rows: Sequence[tuple[Any, ...]]) -> str | None:
    stamps = [r[-1] for r in rows if r[-1] is not None]
    return max(stamps) if stamps else None


def _earlier(stamp: str, seconds: int) -> str:
    return iso(parse_iso(stamp) - timedelta(seconds=seconds))


def merge(held: RunColumns, changed: RunColumns) -> RunColumns:
    """`held` with the customers of `changed` (read again) in place of their rows, and
    their tokens in place of theirs, in input order."""
    if changed.customers.num_rows == 0:
        return held
    seqs = held.customers.column("seq").to_numpy()
    rows = np.searchsorted(seqs, changed.customers.column("seq").to_numpy())
    n = held.customers.num_rows
    pick = np.arange(n)
    pick[rows] = n + np.arange(len(rows))
    customers = _taken(pa.concat_tables([held.customers, changed.customers]), pick)
    owner = held.tokens.column("owner").to_numpy()
    kept = ~np.isin(owner, rows)
    new_owner = rows[changed.tokens.column("owner").to_numpy()].astype(np.int32)
    new_tokens = changed.tokens.set_column(
        changed.tokens.schema.get_field_index("owner"), "owner", pa.array(new_owner))
    both = pa.concat_tables([held.tokens.filter(pa.array(kept)), new_tokens])
    order = np.argsort(both.column("owner").to_numpy(), kind="stable")
    return RunColumns(customers, _taken(both, order))


def _taken(table: pa.Table, rows: np.ndarray) -> pa.Table:
    return table.unify_dictionaries().take(pa.array(rows)).combine_chunks()
