"""AppTest of the home page (dashboard.py), without a browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import doku.settings
from doku.engine.bulk import AuditOptions
from doku.engine.connection import resolve
from doku.engine.inputs import parse_text
from doku.engine.service import start_audit
from doku.engine.store import Store
from tests.apptest_support import isolate, open_page

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard.py"
SECRET = "SK-very-secret-value-123"


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path / "data")


def run_home() -> AppTest:
    return open_page()


def all_text(at: AppTest) -> str:
    parts = [e.value for e in (*at.title, *at.markdown, *at.caption, *at.info, *at.error)]
    return "\n".join(str(p) for p in parts)


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
    captions = " ".join(c.value for c in at.caption)
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
    assert "DOKU_ENV" in at.error[0].value
    assert not at.info


def test_home_without_runs_links_to_bulk_audit() -> None:
    at = run_home()
    assert not at.metric
    assert "No audit yet" in all_text(at)
    labels = [link.proto.label for link in at.get("page_link")]
    assert labels[0] == "Start a bulk audit"
    for page in ("Customer lookup", "Bulk audit", "Insights", "Runs"):
        assert f"**{page}**" in labels


def test_home_shows_the_latest_runs_key_figures(data_dir: Path) -> None:
    settings = resolve(doku.settings.load_settings(secrets={}))
    data_dir.mkdir(parents=True)
    with Store(data_dir / "doku-audit.sqlite3") as store:
        for text in ("A-1\nA-2", "CUST-0001\n" + "\n".join(f"H-{i}" for i in range(99))):
            job = start_audit(store, parse_text(text), settings, AuditOptions())
            assert job.wait(60).state == "done"
        run = store.get_run(job.run_id)
    assert run is not None
    at = run_home()
    figures = {m.label: m.value for m in at.metric}
    assert figures == {
        "Customers": "100",
        "With ≥1 token": f"{run.with_tokens / run.fetched * 100:.1f} %",
        "Tokens": f"{run.tokens:,}",
        "Failed": "0",
    }
    assert f"Run #{run.id}" in all_text(at)
    assert SECRET not in all_text(at)


def test_home_shows_the_connection_but_never_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOKU_SECRET_KEY", SECRET)
    at = run_home()  # a secret alone: sandbox, which needs the client id too
    assert at.error
    assert "DOKU_CLIENT_ID" in at.error[0].value
    assert SECRET not in all_text(at)
    monkeypatch.setenv("DOKU_CLIENT_ID", "MCH-0123-4567890123")
    at = run_home()
    table = at.table[0].value
    assert SECRET not in table.to_string()
    assert "set" in table.to_string()
    assert "sandbox" in table.to_string()


def test_layering_pages_hold_widgets_and_doku_never_imports_streamlit() -> None:
    """All logic lives in doku (no Streamlit there); pages never talk HTTP or SQL; the
    only other module importing streamlit is ui.py."""
    root = DASHBOARD.parent
    for path in (root / "doku").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import streamlit" not in text and "from streamlit" not in text, path
    pages = [DASHBOARD, *sorted((root / "pages").glob("*.py"))]
    assert [p.name for p in pages[1:]] == [
        "1_Customer_lookup.py", "2_Bulk_audit.py", "3_Insights.py", "4_Runs.py"
    ]
    for path in pages:
        text = path.read_text(encoding="utf-8")
        for banned in ("import requests", "import sqlite3", "SELECT ", "INSERT ", "UPDATE "):
            assert banned not in text, (path, banned)
        assert "import ui" in text and "ui.page_setup(" in text, path
    streamlit_modules = {
        p.relative_to(root).as_posix()
        for p in root.glob("*.py")
        if "import streamlit" in p.read_text(encoding="utf-8")
    }
    assert streamlit_modules == {"dashboard.py", "ui.py"}
