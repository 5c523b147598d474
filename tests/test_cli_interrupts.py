"""Ctrl+C while a command starts its runs is held until the command follows them
(`doku.cli.interrupts`): the run is cancelled like any Ctrl+C (exit 1, "resume with"),
never exit 130 with the run left running. The CI failure this guards: a SIGINT that
landed while `BulkJob.start` waited for its lease thread to start."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from doku.cli import audit as audit_cli
from doku.cli import saved as saved_cli
from doku.cli.interrupts import HeldInterrupts
from doku.engine import bulk
from tests.backend_support import open_store
from tests.simulator_fixtures import MakeSimulator
from tests.test_bulk import ids
from tests.test_cli import clean_env, doku
from tests.waiting import join_audit_threads

__all__ = ["clean_env"]  # the autouse fixture: no DOKU_* from the shell, store in tmp_path


@pytest.fixture(autouse=True)
def python_sigint() -> Iterator[None]:
    """Python's own SIGINT handler, as in a terminal: a suite started in the background
    inherits an ignored SIGINT, under which HeldInterrupts rightly changes nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_while_holding_is_raised_by_arm() -> None:
    with HeldInterrupts() as held:
        assert signal.getsignal(signal.SIGINT) == held._on_sigint
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt here
        assert held.held
        with pytest.raises(KeyboardInterrupt):
            held.arm()
        assert not held.held
        held.arm()  # raised once only
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_once_armed_a_ctrl_c_raises_at_once() -> None:
    with HeldInterrupts() as held:
        held.arm()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)


def test_disarmed_a_ctrl_c_is_ignored_until_armed_again() -> None:
    with HeldInterrupts() as held:
        held.arm()
        held.disarm()
        signal.raise_signal(signal.SIGINT)
        assert not held.held
        held.arm()  # the press while stopping is not raised later


def test_an_ignored_sigint_stays_ignored() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with HeldInterrupts() as held:
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        signal.raise_signal(signal.SIGINT)
        held.arm()
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_off_the_main_thread_nothing_is_installed() -> None:
    seen: list[Any] = []

    def enter() -> None:
        with HeldInterrupts() as held:
            seen.append((held.armed, signal.getsignal(signal.SIGINT)))

    t = threading.Thread(target=enter)
    t.start()
    t.join()
    assert seen == [(True, signal.default_int_handler)]


def _interrupted_after(start: Any) -> Any:
    """`start`, then a SIGINT before the caller gets the job back: the window the
    CI run hit (the run is already fetching when the command has no job to stop)."""
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        job = start(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)
        return job
    return wrapped


def _hanging(make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    sim = make_simulator(hang_rate=1.0, hang_s=60)
    monkeypatch.setenv("DOKU_ENV", "simulator")
    monkeypatch.setenv("DOKU_BASE_URL", sim.url)
    return sim


def _after(sim: Any) -> None:
    sim.stop()  # the abandoned requests end, and with them the job's thread
    assert not bulk._active  # the run was let go at once
    join_audit_threads(1)


def test_ctrl_c_while_the_audit_starts_cancels_the_run(
    tmp_path: Path, make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = _hanging(make_simulator, monkeypatch)
    (tmp_path / "ids.txt").write_text("\n".join(ids(20)) + "\n")
    monkeypatch.setattr(audit_cli, "start_audit", _interrupted_after(audit_cli.start_audit))
    try:
        r = doku(capsys, "audit", "ids.txt", "--quiet")
    finally:
        _after(sim)
    assert r.code == 1
    assert r.err.splitlines()[-1] == "error: run 1 cancelled; resume with `doku audit --resume 1`"
    assert r.out.startswith("run 1: cancelled; 20 customers, 0 fetched, 0 failed, 20 pending")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with open_store(tmp_path) as store:
        assert store.get_run(1).status == "cancelled"  # type: ignore[union-attr]


def test_ctrl_c_while_a_saved_audit_launches_cancels_its_run(
    tmp_path: Path, make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = _hanging(make_simulator, monkeypatch)
    (tmp_path / "ids.txt").write_text("\n".join(ids(5)) + "\n")
    assert doku(capsys, "saved", "add", "Monthly", "ids.txt").code == 0
    monkeypatch.setattr(saved_cli, "launch_run", _interrupted_after(saved_cli.launch_run))
    try:
        r = doku(capsys, "saved", "run", "Monthly", "--quiet")
    finally:
        _after(sim)
    assert r.code == 1
    assert r.out.startswith("run 1: cancelled; 5 customers, 0 fetched, 0 failed, 5 pending")
    assert r.err == "error: run 1 cancelled; resume it with `doku audit --resume 1`\n"
    with open_store(tmp_path) as store:
        assert store.get_run(1).status == "cancelled"  # type: ignore[union-attr]
