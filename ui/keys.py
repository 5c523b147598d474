"""Cache identities, pure: a `RunRef` names one run of one store at one version, and
`make_filters` gives the canonical `Filters` of a selection (same selection, same
cache entry, whatever order the analyst picked values in). No Streamlit."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doku.analysis.filters import Filters
from doku.engine.schema import RunInfo

# While a run is being written its version changes at most this often, and the
# Insights page looks for a new version every FOLLOW_EVERY_S: what it shows was read
# at most RUNNING_REFRESH_S + FOLLOW_EVERY_S + one read ago (under 5 s: a refresh of
# a running 1M-token run reads for 0.4-0.7 s), and a big run in progress is not
# reloaded on every click.
RUNNING_REFRESH_S = 3
FOLLOW_EVERY_S = 1
LIVE_STATES = ("running", "queued")  # a run being fetched (by this process or workers)
NO_FILTERS = Filters()


@dataclass(frozen=True)
class RunRef:
    """One run of the store in `folder`, at `version` (see `run_version`). Every
    cached frame, aggregate and download of the run is keyed on it."""

    folder: str
    run_id: int
    version: tuple[Any, ...]

    @property
    def name(self) -> str:
        """The stem of file names of this run's downloads."""
        return f"doku-run-{self.run_id}"


def run_version(run: RunInfo, now: float | None = None) -> tuple[Any, ...]:
    """Changes whenever a run's stored results may have changed (retry, resume); for a
    run still being written, at most every RUNNING_REFRESH_S seconds."""
    if run.status in LIVE_STATES:
        return (run.status, int((time.time() if now is None else now) // RUNNING_REFRESH_S))
    return (run.status, run.finished_at, run.fetched, run.failed, run.pending, run.tokens)


def run_ref(folder: str | Path, run: RunInfo) -> RunRef:
    return RunRef(str(folder), run.id, run_version(run))


def _values(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(sorted({str(v) for v in values}))


def make_filters(
    types: Iterable[str] = (),
    issuers: Iterable[str] = (),
    brands: Iterable[str] = (),
    attributes: Mapping[str, Iterable[str]] | None = None,
) -> Filters:
    """Filters with sorted, de-duplicated values and no empty attribute selection
    (attributes keep their order: it is the order `Filters.describe` shows)."""
    attrs = {str(k): _values(v) for k, v in (attributes or {}).items()}
    return Filters(
        types=_values(types),
        issuers=_values(issuers),
        brands=_values(brands),
        attributes={k: v for k, v in attrs.items() if v},
    )


def canonical(filters: Filters) -> Filters:
    return make_filters(filters.types, filters.issuers, filters.brands, filters.attributes)


def filters_identity(filters: Filters) -> tuple[Any, ...]:
    """A hashable, order-independent identity of a Filters value (for download keys)."""
    f = canonical(filters)
    return (tuple(f.types), tuple(f.issuers), tuple(f.brands),
            tuple(sorted((k, tuple(v)) for k, v in f.attributes.items())))
