"""The dispatcher `doku.cli.main`: its static command table, lazy imports, exit statuses.

(That `doku --help` and `doku tokens` import no pandas in a fresh interpreter is checked
in `test_cli_smoke.py`.)
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from doku.cli import main as dispatcher
from doku.cli.main import COMMANDS, Command, main, requested_command
from doku.errors import ServerError


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the commands the dispatcher imports, in order."""
    loaded: list[str] = []
    real = dispatcher.load_command

    def spy(name: str) -> Command:
        loaded.append(name)
        return real(name)

    monkeypatch.setattr(dispatcher, "load_command", spy)
    return loaded


def test_help_lists_every_command_from_the_table_without_importing_any(
    loads: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--help"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("usage: doku [-h] COMMAND ...\n")
    listed = [line.split(None, 1) for line in out.splitlines() if line.startswith("    ")]
    assert listed == [[name, spec.help] for name, spec in COMMANDS.items()]
    assert loads == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_help_imports_only_that_command(
    name: str, loads: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([name, "--help"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(f"usage: doku {name} [-h]")
    module = importlib.import_module(COMMANDS[name].module)
    assert " ".join(module.DESCRIPTION.split()) in " ".join(out.split())
    assert loads == [name]


def test_table_matches_the_command_modules() -> None:
    folder = Path(dispatcher.__file__).parent
    helpers = {"__init__", "main", "render", "interrupts"}
    modules = {p.stem for p in folder.glob("*.py")} - helpers
    assert set(COMMANDS) == modules
    for name, spec in COMMANDS.items():
        assert spec.module == f"doku.cli.{name}"
        module = importlib.import_module(spec.module)
        assert isinstance(module.DESCRIPTION, str)
        assert callable(module.add_arguments)
        assert callable(module.run)
        assert spec.help == spec.help.strip()
        assert "\n" not in spec.help


@pytest.mark.parametrize(("argv", "command"), [
    ([], None),
    (["--help"], None),
    (["-h", "tokens"], "tokens"),
    (["tokens", "runs"], "tokens"),
    (["report", "latest", "--json"], "report"),
    (["bogus", "tokens"], None),
])
def test_requested_command(argv: Sequence[str], command: str | None) -> None:
    assert requested_command(argv) == command


@pytest.mark.parametrize(("raised", "code", "err"), [
    (ServerError("upstream\n\x1b[2Jgone", status=503), 1,
     "error: server error (503): upstream\\n\\x1b[2Jgone\n"),
    (FileNotFoundError(2, "No such file or directory", "in\x1bput.csv"), 1,
     "error: No such file or directory: in\\x1bput.csv\n"),
    (OSError("disk on fire"), 1, "error: disk on fire\n"),
    (KeyboardInterrupt(), 130, "error: interrupted\n"),
    (BrokenPipeError(), 1, ""),
])
def test_failures_are_one_escaped_line(
    raised: BaseException, code: int, err: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fail(_args: argparse.Namespace) -> int:
        raise raised

    monkeypatch.setattr("doku.cli.runs.run", fail)
    assert main(["runs"]) == code
    assert capsys.readouterr() == ("", err)


def test_unexpected_errors_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(_args: argparse.Namespace) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("doku.cli.runs.run", bug)
    with pytest.raises(ZeroDivisionError):
        main(["runs"])
