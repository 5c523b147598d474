"""A whole run's columns read from the store: packed when every value allows
(`doku.engine.packed_columns`: the database joins each column into one string, some
4x faster on a million tokens), as rows otherwise (`columns_from_rows`); and a finished
run's copy kept as its snapshot (`snapshot_run`). A module of its own because the
packed read builds on `doku.engine.run_columns`.
"""

from __future__ import annotations

import logging

from doku.engine.packed_columns import read_packed
from doku.engine.run_columns import RunColumns, columns_from_rows
from doku.engine.store import Store
from doku.errors import StoreError

logger = logging.getLogger(__name__)

# A bigger copy (some 3.5 million tokens) is not kept: PostgreSQL takes at most 1 GB in
# a value. Such a run is read again every time (`read_columns`).
MAX_SNAPSHOT_BYTES = 768 * 2**20


def read_columns(store: Store, run_id: int) -> RunColumns:
    """The run's customers and tokens as they are in one snapshot of the store."""
    packed = read_packed(store, run_id)
    if packed is not None:
        return packed.columns
    return columns_from_rows(*store.run_rows(run_id))


def snapshot_run(store: Store, run_id: int) -> RunColumns:
    """Read the run and, if it is finished, keep the copy as its snapshot unless a
    result was written meanwhile. Returns what was read. A store this process may
    only read (a read-only role) just gives the rows: keeping a copy is never
    required."""
    try:
        placeholder = store.begin_snapshot(run_id)
    except StoreError as exc:
        logger.info("run %s: no snapshot kept (%s)", run_id, exc)
        placeholder = None
    columns = read_columns(store, run_id)
    if placeholder is not None:
        blob = columns.to_bytes()
        if len(blob) > MAX_SNAPSHOT_BYTES:
            logger.info("run %s: a %d-byte copy is too big to keep", run_id, len(blob))
        else:
            try:
                if not store.fill_snapshot(run_id, placeholder, blob, columns.counts()):
                    logger.info("run %s changed while its snapshot was read; not kept",
                                run_id)
            except StoreError as exc:
                logger.info("run %s: no snapshot kept (%s)", run_id, exc)
    return columns
