"""The status panel of one run, shared by Bulk audit and Runs: live progress while its
job runs here (a fragment refreshed every second, only then) with Cancel; a queued run
the workers fetch shows its progress from the store (every 2 s, only while it is queued
or running) and who fetches it; afterwards its figures, Resume / Retry failed when they
apply, and a link to its Insights.

Cancel, Resume and Retry failed are offered to roles that include auditing and checked
again when pressed; each is recorded in the audit trail by the engine, as this
session's actor."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from doku.access import AUDIT
from doku.analysis.aggregates import failures_by_code
from doku.engine.bulk import BulkJob, Progress
from doku.engine.schema import RunInfo
from doku.engine.store import Store
from doku.settings import Settings
from ui import auth, data
from ui.advice import TITLES, advice_for
from ui.chrome import current_actor, guard, run_status_badge
from ui.present import (
    ERROR_CHARS,
    INSIGHTS,
    RESUMABLE,
    escape_md,
    finished_note,
    fmt_int,
    fmt_seconds,
    fmt_share,
    fmt_time,
    options_note,
    run_label,
    uptake_of,
)
from ui.queue_view import is_queued_live, queued_note
from ui.state import cancel, launch_rerun, live_job

REFRESH = "1s"
QUEUE_REFRESH = "2s"  # a queued run's progress is read from the store
CANCELLING = "Cancelling: waiting for requests in flight…"


def run_panel(store: Store, run_id: int, settings: Settings | None, *, prefix: str) -> None:
    """Widget keys are `{prefix}_cancel`, `{prefix}_resume` and `{prefix}_retry`."""
    live = live_job(store, run_id) is not None
    queued = not live and is_queued_live(store.get_run(run_id))
    every = REFRESH if live else QUEUE_REFRESH if queued else None

    @st.fragment(run_every=every)
    def panel() -> None:
        with guard("The run status"):
            current = live_job(store, run_id)
            if current is not None:
                _progress(current.snapshot(), current, store, prefix)
                return
            run = store.get_run(run_id)
            if is_queued_live(run) and run is not None:
                _queued_progress(store, run, prefix)
                if not queued:  # it was just queued: refresh from now on
                    st.rerun()
                return
            if live or queued:  # it just finished: one full rerun shows the results
                st.rerun()
            _finished(store, run_id, run, settings, prefix)

    panel()


def progress_notes(snap: Progress) -> str:
    notes = []
    if snap.retries:
        notes.append(f"{snap.retries:,} retries")
    if snap.rate_limited_pauses:
        notes.append(f"{snap.rate_limited_pauses:,} rate-limit pauses")
    notes.append(f"{snap.tokens:,} tokens so far")
    return " · ".join(notes) + ". You can switch pages; the run keeps going."


def _progress(snap: Progress, job: BulkJob, store: Store, prefix: str) -> None:
    frac = snap.done / snap.total if snap.total else 1.0
    st.progress(
        min(1.0, frac),
        text=f"Run #{snap.run_id:d}: {snap.done:,} of {snap.total:,} customers "
        f"({frac * 100:.0f} %) · {fmt_seconds(snap.elapsed_s)} elapsed",
    )
    with st.container(horizontal=True):
        st.metric("Done", fmt_int(snap.done), border=True)
        st.metric("Failed", fmt_int(snap.failed), border=True)
        st.metric("Remaining", fmt_int(snap.remaining), border=True)
        st.metric("Rate", f"{snap.rate:,.1f}/s", border=True)
        st.metric("ETA", fmt_seconds(snap.eta_s), border=True)
    st.caption(progress_notes(snap))
    if job.cancel_event.is_set():
        st.caption(CANCELLING)
    elif current_actor().allowed(AUDIT) and st.button(
        "Cancel", key=f"{prefix}_cancel", icon=":material/stop_circle:"
    ):  # a queued run: its other fetchers stop too
        cancel(store, job.run_id, actor=auth.acting(AUDIT))
        st.caption(CANCELLING)


def _queued_progress(store: Store, run: RunInfo, prefix: str) -> None:
    """A run the workers' queue fetches (none of it here): counts from the store."""
    done = run.fetched + run.failed
    frac = done / run.customers if run.customers else 1.0
    where = "waiting in the queue" if run.status == "queued" else "fetched by the queue"
    with st.container(horizontal=True, vertical_alignment="center"):
        st.markdown(f"**Run {escape_md(run_label(run))}** · queued {fmt_time(run.queued_at)}")
        run_status_badge(run)
    st.progress(
        min(1.0, frac),
        text=f"Run #{run.id:d}: {done:,} of {run.customers:,} customers "
        f"({frac * 100:.0f} %) · {where}",
    )
    with st.container(horizontal=True):
        st.metric("Done", fmt_int(done), border=True)
        st.metric("Failed", fmt_int(run.failed), border=True)
        st.metric("Remaining", fmt_int(run.pending), border=True)
    st.markdown(queued_note(store, run))
    st.caption("You can switch pages or close this one; the workers keep going.")
    if current_actor().allowed(AUDIT) and st.button(
        "Cancel", key=f"{prefix}_cancel", icon=":material/stop_circle:",
        help="Every worker stops taking its customers; requests in flight land",
    ):
        cancel(store, run.id, actor=auth.acting(AUDIT))
        st.rerun()


def _finished(store: Store, run_id: int, run: RunInfo | None, settings: Settings | None,
              prefix: str) -> None:
    if run is None:
        st.caption(f"Run #{run_id:d} no longer exists.")
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.markdown(f"**Run {escape_md(run_label(run))}** · started "
                    f"{fmt_time(run.created_at)}")
        run_status_badge(run)
    with st.container(horizontal=True):
        st.metric("Customers", fmt_int(run.customers), border=True)
        st.metric("Fetched", fmt_int(run.fetched), border=True)
        st.metric("Failed", fmt_int(run.failed), border=True)
        st.metric("Pending", fmt_int(run.pending), border=True)
        st.metric("Tokens", fmt_int(run.tokens), border=True)
        st.metric("With ≥1 token", fmt_share(uptake_of(run)), border=True,
                  help="Share of fetched customers holding at least one token.")
    if run.status == "running":
        st.caption(f"Figures count finished customers only ("
                   f"{finished_note(run.fetched, run.failed, run.pending)}). Another "
                   "process (e.g. `python -m doku audit`) is writing this run; reload the "
                   "page to see its progress.")
    st.caption(options_note(run))
    if run.error:
        st.warning(escape_md(run.error, ERROR_CHARS), icon=":material/warning:")
    if run.failed > 0 and run.status != "running":
        failures_panel(store, run)
    resumable = run.status in RESUMABLE and run.pending > 0
    if resumable:
        st.caption(
            f"{run.pending:,} customers have no result yet: Resume fetches exactly those."
        )
    with st.container(horizontal=True, vertical_alignment="center"):
        if settings is not None and current_actor().allowed(AUDIT):  # need settings
            _actions(store, run, settings, prefix, resumable=resumable)
        if run.fetched:
            st.page_link(INSIGHTS, label=f"Open insights for run #{run.id:d}",
                         icon=":material/insights:", query_params={"run": str(run.id)})


def _actions(
    store: Store, run: RunInfo, settings: Settings, prefix: str, *, resumable: bool
) -> None:
    """Only the actions that apply: Resume for a stopped run with customers left,
    Retry failed when some failed."""
    if resumable and st.button(
        "Resume", key=f"{prefix}_resume", icon=":material/play_arrow:",
        help="Fetch the customers without a result",
    ):
        launch_rerun(store, run.id, settings, retry=False, actor=auth.acting(AUDIT))
        st.rerun()
    if run.failed > 0 and st.button(
        "Retry failed", key=f"{prefix}_retry", icon=":material/replay:",
        help="Fetch the failed customers again (their earlier results are replaced)",
    ):
        launch_rerun(store, run.id, settings, retry=True, actor=auth.acting(AUDIT))
        st.rerun()


def failures_frame(store: Store, run: RunInfo) -> pd.DataFrame:
    """Failed customers per error code, with what the code means and what to do."""
    frame = failures_by_code(data.run_frames(data.ref(store, run)).customers)
    frame.insert(1, "meaning", [TITLES.get(c, k) for c, k in
                                zip(frame["error_code"], frame["error_kind"], strict=True)])
    frame["what_to_do"] = [advice_for(c) for c in frame["error_code"]]
    return frame.drop(columns=["error_kind"])


def failures_panel(store: Store, run: RunInfo) -> None:
    """Counts by error code with example Request-Ids (to quote to DOKU support)."""
    st.markdown(f"**:material/error: Failures: {run.failed:,} customers**")
    st.dataframe(failures_frame(store, run), hide_index=True, column_config=FAILURES,
                 alt=f"Failed customers of run {run.id} by error code")
    st.caption("Retry failed fetches exactly these customers again; quote an example "
               "Request-Id to DOKU support.")


FAILURES = {
    "error_code": st.column_config.TextColumn("Error code"),
    "meaning": st.column_config.TextColumn("Meaning"),
    "customers": st.column_config.NumberColumn("Customers", format="localized"),
    "example_request_ids": st.column_config.TextColumn("Example Request-Ids"),
    "example_customer_ids": st.column_config.TextColumn("Example customers"),
    "what_to_do": st.column_config.TextColumn("What to do", width="large"),
}
