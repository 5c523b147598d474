"""doku.audit from Python: progress, interrupts, aborted runs, the engine's root cause
of silently aborted runs, and a light `import doku`."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import doku
import doku.analysis.frames
import doku.api
import doku.engine.connection
from doku.engine.bulk import AuditOptions, Progress
from doku.engine.inputs import parse_text
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.errors import ConfigurationError, DokuError
from doku.settings import (
    SecretKey,
    Settings,
    load_settings,
)
from doku.simulator import world
from tests.backend_support import both_backends
from tests.simulator_fixtures import MakeSimulator
from tests.test_api import IDS, offline, settings_for  # noqa: F401  (offline: autouse fixture)

ROOT = Path(__file__).resolve().parent.parent


# -- progress, interrupts, aborted runs --------------------------------------------------
@both_backends
def test_progress_callback_sees_the_final_state() -> None:
    seen: list[Progress] = []
    frames = doku.audit(IDS, progress=seen.append)
    assert seen[-1].state == "done"
    assert (seen[-1].done, seen[-1].total, seen[-1].tokens) == (5, 5, frames.run.tokens)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_bar_is_one_line_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    frames = doku.audit(IDS)
    text = tty.getvalue()
    assert text.startswith("\r[")
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert f"run {frames.run.id} done: 5/5 customers, 0 failed" in text.rsplit("\r", 1)[-1]
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    doku.audit(IDS)
    assert pipe.getvalue() == ""  # not a terminal: no bar


def test_notebook_bar_updates_one_display(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[Any] = []

    class Handle:
        def update(self, obj: Any) -> None:
            shown.append(obj)

    def display(obj: Any, display_id: bool = False) -> Handle:
        assert display_id is True
        shown.append(obj)
        return Handle()

    class ZMQInteractiveShell:
        pass

    class ColabShell(ZMQInteractiveShell):
        pass

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = ColabShell  # type: ignore[attr-defined]
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.display = display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    frames = doku.audit(IDS)
    last = shown[-1]
    assert '<progress value="5" max="5"' in last._repr_html_()
    assert repr(last).startswith(f"run {frames.run.id} done: 5/5 customers")


@both_backends
def test_ctrl_c_cancels_the_run_and_resume_finishes_it(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(latency_ms=100)
    ids = [f"CUST-{i:04d}" for i in range(1, 31)]

    def interrupt(p: Progress) -> None:
        if p.state == "running":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as caught:
        doku.audit(ids, concurrency=2, settings=settings_for(sim.url), progress=interrupt)
    run = doku.load_run("latest").run
    assert run.status == "cancelled"
    assert 0 < run.pending < 30
    assert run.fetched + run.pending == 30
    assert f"doku.resume({run.id})" in "".join(getattr(caught.value, "__notes__", []))
    frames = doku.resume(run.id, concurrency=8, settings=settings_for(sim.url), progress=False)
    assert (frames.run.status, frames.run.fetched, frames.run.pending) == ("done", 30, 0)
    assert frames.run.tokens == sum(len(world.tokens_for(c)) for c in ids)


@both_backends
def test_a_failing_progress_callback_cancels_the_run(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(latency_ms=100)

    def broken(p: Progress) -> None:
        raise ValueError(f"callback bug at {p.done}")

    with pytest.raises(ValueError, match="callback bug"):
        doku.audit([f"CUST-{i:04d}" for i in range(1, 21)], concurrency=1,
                   settings=settings_for(sim.url), progress=broken)
    assert doku.load_run("latest").run.status == "cancelled"


@both_backends
def test_an_aborted_run_raises(make_simulator: MakeSimulator) -> None:
    sim = make_simulator()
    with pytest.raises(DokuError, match=r"run 1 stopped: authentication rejected") as caught:
        doku.audit(IDS, settings=settings_for(sim.url, secret="SK-wrong"), progress=False)
    assert "doku.resume(1)" in str(caught.value)
    assert doku.load_run(1).run.status == "aborted"


# -- the engine's root cause: no silently aborted run ------------------------------------
@both_backends
def test_service_resolves_the_embedded_simulator_itself() -> None:
    settings = load_settings({}, {})
    assert settings.base_url is None
    with Store() as store:
        job = start_audit(store, parse_text("CUST-0001 CUST-0006"), settings, AuditOptions())
        final = job.wait(30)
        info = store.get_run(job.run_id)
    assert final.state == "done"
    assert info is not None
    assert info.fetched == 2
    assert (info.base_url or "").startswith("http://127.0.0.1:")


@both_backends
def test_service_refuses_a_real_environment_without_base_url() -> None:
    settings = Settings("sandbox", "MCH-1", SecretKey("SK-1"), None)
    with Store() as store:
        with pytest.raises(ConfigurationError, match="DOKU_BASE_URL"):
            start_audit(store, parse_text("CUST-0001"), settings, AuditOptions())
        assert store.list_runs() == []
    with pytest.raises(ConfigurationError):
        doku.engine.connection.resolve(settings)


# -- import doku stays light -------------------------------------------------------------
def test_import_doku_is_light_and_lists_the_api() -> None:
    code = """
import json, sys
import doku
heavy = [m for m in ("pandas", "streamlit", "pyarrow", "numpy", "requests") if m in sys.modules]
listed = dir(doku)
try:
    doku.no_such_name
    missing = "no error"
except AttributeError as exc:
    missing = str(exc)
audit = doku.audit
print(json.dumps({"heavy": heavy, "dir": listed, "missing": missing,
                  "pandas_after": "pandas" in sys.modules, "audit": audit.__module__}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["heavy"] == []
    for name in ("fetch_tokens", "audit", "resume", "load_run", "compare", "RunFrames",
                 "Comparison", "__version__"):
        assert name in data["dir"]
    assert "importlib" not in data["dir"]
    assert data["missing"] == "module 'doku' has no attribute 'no_such_name'"
    assert data["pandas_after"] is True
    assert data["audit"] == "doku.api"


def test_public_names_are_the_api() -> None:
    assert set(doku.__all__) >= {"fetch_tokens", "audit", "resume", "load_run", "compare"}
    for name in doku.__all__:
        assert getattr(doku, name) is not None
    assert doku.RunFrames is doku.analysis.frames.RunFrames
    assert importlib.import_module("doku.api").audit is doku.audit
