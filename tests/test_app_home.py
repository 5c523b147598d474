"""AppTest of the home page (dashboard.py), without a browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import doku.settings

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard.py"
SECRET = "SK-very-secret-value-123"


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DOKU_* from the shell and no developer secrets.toml: the simulator default."""
    for key in doku.settings.KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(doku.settings, "read_secrets_table", lambda path=None: {})


def run_home() -> AppTest:
    at = AppTest.from_file(DASHBOARD, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


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
    assert "MCH-" in captions and "0123-4567890123" not in captions
    assert SECRET not in all_text(at)


def test_home_with_bad_configuration_shows_error_not_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOKU_ENV", "staging")
    at = run_home()
    assert at.error and "DOKU_ENV" in at.error[0].value
    assert not at.info
