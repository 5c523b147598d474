"""The audit trail entries the dashboard records itself: downloads. (Sign-ins are
recorded by `ui.auth`, a lookup's reveal by `ui.lookup_view`; audits, cancels,
deletions, saved audits and schedules by the engine functions the pages call with
their actor.)

Every `st.download_button` gets deferred bytes (`ui.downloads.deferred_bytes`) with a
`before` hook from `download_recorder`: one DOWNLOAD entry each time the browser fetches
the file - the table or chart, its format, the run and the filters - written before the
bytes are handed over, so a file whose entry cannot be written is not served (the
browser gets a short "export failed" text instead). The buttons use `on_click="ignore"`:
a click does not rerun the page, which would retire the deferred file before the
browser fetched it. Token IDs in the dashboard's downloads are always masked."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from doku.access import DOWNLOAD
from doku.analysis.filters import Filters
from doku.engine.trail import DOWNLOAD as DOWNLOADED
from ui import auth, state

Detail = Mapping[str, str | int | float | bool | None]


def filters_text(filters: Filters | None) -> str:
    """The filters as the trail keeps them: their description, or "none"."""
    described = filters.describe() if filters is not None and filters.active else ""
    return described or "none"


def download_detail(what: str, fmt: str, *, rows: int | None = None,
                    filters: Filters | None = None, **more: str | int | None) -> Detail:
    """What a download holds, for its entry (short scalars only; `more` without its
    None values)."""
    return {"what": what, "format": fmt, "rows": rows, "filters": filters_text(filters),
            **{k: v for k, v in more.items() if v is not None}}


def download_recorder(object: str, detail: Detail) -> Callable[[], None]:
    """The `before` hook of a download's deferred bytes: it runs on a server thread
    without the session, so the actor and the store are taken now, while the page is
    drawn (NotAllowedError when this session may not download). Raises DokuError when
    the entry cannot be written: the bytes are then not served."""
    actor = auth.acting(DOWNLOAD)
    store = state.get_store()

    def record() -> None:
        store.record_event(actor, DOWNLOADED, object, detail)

    return record
