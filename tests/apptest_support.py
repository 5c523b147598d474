"""What every page's AppTest needs: an isolated environment and a page opened cleanly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import doku.settings
from doku.engine import jobs

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = str(ROOT / "dashboard.py")


def isolate(mp: pytest.MonkeyPatch, folder: Path) -> Path:
    """No DOKU_* from the shell, no developer secrets.toml (so the simulator default)
    and a private data dir."""
    for key in doku.settings.KEYS:
        mp.delenv(key, raising=False)
    mp.setattr(doku.settings, "read_secrets_table", lambda path=None: {})
    mp.setenv("DOKU_DATA_DIR", str(folder))
    return folder


def ok(at: AppTest, *, no_errors: bool = False) -> AppTest:
    """No exception reached the page (and, with no_errors, no st.error either)."""
    assert not at.exception, [e.value for e in at.exception]
    if no_errors:
        assert not at.error, [e.value for e in at.error]
    return at


def open_page(page: str | None = None, *, timeout: float = 30, no_errors: bool = False,
              **query: str) -> AppTest:
    """The home page, then (optionally) `page` with query parameters, both run cleanly."""
    at = ok(AppTest.from_file(DASHBOARD, default_timeout=timeout).run(), no_errors=no_errors)
    if page is None:
        return at
    for k, v in query.items():
        at.query_params[k] = v
    return ok(at.switch_page(page).run(), no_errors=no_errors)


def wait_finished(at: AppTest, timeout: float = 60.0, *, no_errors: bool = False) -> AppTest:
    """Block on the page's background jobs, then rerun until the progress bar is gone
    (run_every fragments do not tick in AppTest; the jobs run in this process)."""
    deadline = time.monotonic() + timeout
    while at.get("progress"):
        left = deadline - time.monotonic()
        assert left > 0, "run did not finish in time"
        for job in jobs.running():
            job.wait(left)
        ok(at.run(), no_errors=no_errors)
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}
