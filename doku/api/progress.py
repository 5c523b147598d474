"""Following a running audit from Python (a bar on a terminal or in a notebook, or a callback)."""

from __future__ import annotations

import html
import importlib
import sys
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from doku.engine.bulk import BulkJob, Progress
from doku.engine.service import record_stopped

ProgressCallback = Callable[[Progress], object]


REFRESH_S = 0.5  # progress refresh interval


# -- running and following a job ---------------------------------------------------------
def follow(job: BulkJob, report: _Reporter) -> Progress:
    """Poll until the job ends. Ctrl-C (or a progress callback that raises) stops the
    job within about 2 s (`BulkJob.stop`; further Ctrl-Cs meanwhile are ignored), so
    the run is stored as cancelled (and the cancel recorded in the audit trail) before
    the store closes; then the exception goes on."""
    try:
        while True:
            snap = job.wait(REFRESH_S)
            report.update(snap)
            if snap.finished:
                return snap
    except BaseException as exc:
        snap = record_stopped(job, _stop_ignoring_interrupts(job))
        if isinstance(exc, KeyboardInterrupt):
            report.update(snap)
        if snap.state == "cancelled":
            exc.add_note(
                f"doku: run {job.run_id} cancelled; what was fetched is kept. "
                f"Finish it with doku.resume({job.run_id})"
            )
        raise
    finally:
        report.close()


def _stop_ignoring_interrupts(job: BulkJob) -> Progress:
    while True:
        try:
            return job.stop()
        except KeyboardInterrupt:
            continue  # a second Ctrl-C while stopping: keep stopping


def progress_text(p: Progress) -> str:
    """One line describing a job's progress (what the bars show).

    >>> from doku.engine.bulk import Progress
    >>> progress_text(Progress(7, "running", 200, 50, 49, 1, 120, 2.0, 25.0, 6.0))
    'run 7: 50/200 customers, 1 failed, 120 tokens, 25.0/s, ETA 6 s'
    """
    head = f"run {p.run_id}" + ("" if p.state == "running" else f" {p.state}")
    text = (f"{head}: {p.done:,}/{p.total:,} customers, {p.failed:,} failed, "
            f"{p.tokens:,} tokens, {p.rate:.1f}/s")
    if p.state == "running":
        text += f", ETA {p.eta_s:.0f} s" if p.eta_s is not None else ", ETA -"
    else:
        text += f", {p.elapsed_s:.1f} s"
    return text


class _Reporter(Protocol):
    def update(self, p: Progress) -> None: ...

    def close(self) -> None: ...


class _Silent:
    def update(self, p: Progress) -> None:  # noqa: ARG002 (the _Reporter protocol)
        return None

    def close(self) -> None:
        return None


class _Callback:
    def __init__(self, callback: ProgressCallback) -> None:
        self._callback = callback

    def update(self, p: Progress) -> None:
        self._callback(p)

    def close(self) -> None:
        return None


class _TerminalBar:
    """A single line on a terminal, redrawn in place (carriage return)."""

    WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._shown = 0

    def update(self, p: Progress) -> None:
        filled = int(self.WIDTH * (p.done / p.total if p.total else 1.0))
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {progress_text(p)}"
        self._stream.write("\r" + line.ljust(self._shown))
        self._stream.flush()
        self._shown = len(line)

    def close(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


class _ProgressView:
    """What a notebook shows: an HTML <progress> bar, or the text line elsewhere."""

    def __init__(self, p: Progress) -> None:
        self.progress = p

    def __repr__(self) -> str:
        return progress_text(self.progress)

    def _repr_html_(self) -> str:
        p = self.progress
        return (
            f'<progress value="{p.done}" max="{max(p.total, 1)}" style="width: 24em">'
            f"</progress> <code>{html.escape(progress_text(p))}</code>"
        )


class _NotebookBar:
    """One output cell updated in place through IPython's display handle."""

    def __init__(self, display: Callable[..., Any]) -> None:
        self._display = display
        self._handle: Any = None

    def update(self, p: Progress) -> None:
        if self._handle is None:
            self._handle = self._display(_ProgressView(p), display_id=True)
        else:
            self._handle.update(_ProgressView(p))

    def close(self) -> None:
        return None


def _notebook_display() -> Callable[..., Any] | None:
    """IPython's `display` when running in a notebook kernel (never imports IPython
    into a plain interpreter)."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    if shell is None:
        return None
    if not any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__):
        return None  # terminal IPython: the terminal bar
    try:
        display: Callable[..., Any] = importlib.import_module("IPython.display").display
    except (ImportError, AttributeError):
        return None
    return display


def make_reporter(progress: bool | ProgressCallback) -> _Reporter:
    if callable(progress):
        return _Callback(progress)
    if not progress:
        return _Silent()
    display = _notebook_display()
    if display is not None:
        return _NotebookBar(display)
    stream = sys.stderr
    if stream is not None and stream.isatty():
        return _TerminalBar(stream)
    return _Silent()
