"""The dashboard's layering: doku never imports Streamlit; pages hold widgets and
layout and import from `ui` and `doku`; `ui` is split by job, with its pure helpers
free of Streamlit; nothing on the Streamlit side talks HTTP or SQL."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ui

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "dashboard.py", *sorted((ROOT / "pages").glob("*.py"))]
UI_MODULES = sorted((ROOT / "ui").glob("*.py"))
PURE = ("present", "advice", "keys", "downloads", "bulk_input")
BANNED = ("import requests", "import sqlite3", "SELECT ", "INSERT ", "UPDATE ", "DELETE FROM")
PAGE_LINES = 100
MODULE_LINES = 400


def imports(path: Path) -> set[str]:
    """Top-level names of every module `path` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_doku_never_imports_streamlit() -> None:
    for path in (ROOT / "doku").rglob("*.py"):
        assert not any(m.split(".")[0] == "streamlit" for m in imports(path)), path


def test_pages_import_ui_and_doku_only_and_set_up_the_page() -> None:
    assert [p.name for p in PAGES[1:]] == [
        "1_Customer_lookup.py", "2_Bulk_audit.py", "3_Insights.py", "4_Runs.py",
        "5_Saved_audits.py", "6_Audit_trail.py",
    ]
    allowed = {"__future__", "streamlit", "ui", "doku"}
    for path in PAGES:
        text = path.read_text(encoding="utf-8")
        for banned in BANNED:
            assert banned not in text, (path, banned)
        assert {m.split(".")[0] for m in imports(path)} <= allowed, path
        assert "chrome.page_setup(" in text, path
        assert "with chrome.guard():" in text, path


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_are_short(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= PAGE_LINES, f"{path.name}: {lines} lines; move logic into ui/"


@pytest.mark.parametrize("path", UI_MODULES, ids=lambda p: p.name)
def test_ui_modules_are_small_and_never_talk_http_or_sql(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MODULE_LINES, path.name
    for banned in BANNED:
        assert banned not in text, (path.name, banned)
    assert "requests" not in {m.split(".")[0] for m in imports(path)}, path.name


def test_the_only_streamlit_modules_are_pages_and_ui() -> None:
    assert not (ROOT / "ui.py").exists()
    top_level = {
        p.name for p in ROOT.glob("*.py")
        if any(m.split(".")[0] == "streamlit" for m in imports(p))
    }
    assert top_level == {"dashboard.py"}


def test_pure_helpers_load_without_streamlit() -> None:
    for name in PURE:
        assert "streamlit" not in {m.split(".")[0] for m in imports(ROOT / "ui" / f"{name}.py")}
    modules = ", ".join(f"ui.{name}" for name in PURE)
    code = f"import sys, {modules}; sys.exit('streamlit' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_the_package_states_the_rule() -> None:
    doc = " ".join((ui.__doc__ or "").split())
    assert "the ONLY Streamlit code" in doc
    assert "import from `ui` and from `doku` only" in doc
    assert "ever build HTTP requests or SQL" in doc
