"""AppTest of the home page (dashboard.py), without a browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from doku.models import CREDIT_CARD, DIRECT_DEBIT
from tests.apptest_support import isolate, markdown_sources, open_page, seed_run, shown, token
from tests.backend_support import (
    POSTGRESQL,
    SQLITE,
    backend_url,
    both_backends,
    store_where,
)

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard.py"
SECRET = "SK-very-secret-value-123"


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path / "data")


def run_home() -> AppTest:
    return open_page()


def all_text(at: AppTest) -> str:
    parts = [e.value for e in (*at.title, *at.markdown, *at.caption, *at.info, *at.error)]
    return shown("\n".join(str(p) for p in parts))


def test_home_on_simulator() -> None:
    at = run_home()
    assert [t.value for t in at.title] == ["DOKU token audit"]
    assert any("built-in simulator" in info.value for info in at.info)
    assert not at.error
    assert "Audit stored DOKU payment tokens" in all_text(at)


def test_home_with_sandbox_credentials_shows_masked_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOKU_ENV", "sandbox")
    monkeypatch.setenv("DOKU_CLIENT_ID", "MCH-0123-4567890123")
    monkeypatch.setenv("DOKU_SECRET_KEY", SECRET)
    at = run_home()
    assert not at.info
    captions = shown(" ".join(c.value for c in at.caption))
    assert "sandbox" in captions
    assert "MCH-" in captions
    assert "0123-4567890123" not in captions
    assert SECRET not in all_text(at)


def test_home_with_bad_configuration_shows_error_not_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOKU_ENV", "staging")
    at = run_home()
    assert at.error
    assert "DOKU_ENV" in shown(at.error[0].value)
    assert not at.info


def test_the_sidebar_names_the_store_without_its_password(backend: str,
                                                          data_dir: Path) -> None:
    at = run_home()
    kind = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL"}[backend]
    lines = [shown(c.value) for c in at.sidebar.caption if c.value.startswith("Store:")]
    assert lines == [f"Store: **{kind}** {store_where(data_dir)}"]
    password = make_url(backend_url(data_dir)).password
    assert password is None or str(password) not in "\n".join(markdown_sources(at))


@both_backends
def test_home_without_runs_links_to_bulk_audit() -> None:
    at = run_home()
    assert not at.metric
    assert "No audit yet" in all_text(at)
    labels = [link.proto.label for link in at.get("page_link")]
    assert labels[0] == "Start a bulk audit"
    for page in ("Customer lookup", "Bulk audit", "Insights", "Runs"):
        assert f"**{page}**" in labels


@both_backends
def test_home_shows_the_latest_runs_key_figures(data_dir: Path) -> None:
    seed_run(data_dir, ["A-1", "A-2"], {"A-1": [token("A-1", 1)]})
    ids = [f"H-{i}" for i in range(100)]
    # H-0..H-59 hold 1, 2 or 3 tokens (120 in all); 3 failed, 2 still pending.
    tokens = {
        cid: [token(cid, n, DIRECT_DEBIT if n % 2 else CREDIT_CARD) for n in range(i % 3 + 1)]
        for i, cid in enumerate(ids[:60])
    }
    failed = dict.fromkeys(ids[95:98], "server_error")
    run_id = seed_run(data_dir, ids, tokens, failed=failed, pending=ids[98:],
                      status="interrupted")
    at = run_home()
    figures = {m.label: m.value for m in at.metric}
    assert figures == {
        "Customers": "100",
        "With ≥1 token": "63.2 %",  # 60 of 95 fetched
        "Tokens": "120",
        "Failed": "3",
    }
    assert f"Run #{run_id}" in all_text(at)
    assert "2 customers still without a result." in all_text(at)
    assert "Interrupted" in all_text(at)  # the status badge
    assert SECRET not in all_text(at)


def test_home_shows_the_connection_but_never_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOKU_SECRET_KEY", SECRET)
    at = run_home()  # a secret alone: sandbox, which needs the client id too
    assert at.error
    assert "DOKU_CLIENT_ID" in shown(at.error[0].value)
    assert SECRET not in all_text(at)
    monkeypatch.setenv("DOKU_CLIENT_ID", "MCH-0123-4567890123")
    at = run_home()
    table = at.table[0].value
    assert SECRET not in table.to_string()
    assert "set" in table.to_string()
    assert "sandbox" in table.to_string()
