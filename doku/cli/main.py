"""`doku COMMAND ...` (also `python -m doku`): dispatch to one module per command.

The commands are a static table, so `doku --help` lists them without importing any,
and a run imports only the module of its own command: `doku tokens` never pays for
pandas. Each command module has `DESCRIPTION`, `add_arguments(parser)` and
`run(args) -> int`; everything it prints goes through `doku.cli.render`.

A failure exits non-zero with exactly one line on stderr naming what went wrong (the
secret key is never part of it); a usage mistake exits 2 with one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn, Protocol, cast

from doku.cli import render
from doku.errors import DokuError

PROG = "doku"


@dataclass(frozen=True)
class CommandSpec:
    module: str
    help: str


# name -> where it lives and its line in `doku --help`, in the order listed there.
COMMANDS: dict[str, CommandSpec] = {
    "tokens": CommandSpec("doku.cli.tokens", "list one customer's stored tokens"),
    "audit": CommandSpec("doku.cli.audit", "fetch the tokens of every customer in a file"),
    "runs": CommandSpec("doku.cli.runs", "list stored runs"),
    "export": CommandSpec("doku.cli.export", "export a run's tokens, customers or errors"),
    "report": CommandSpec("doku.cli.report", "headline numbers of a stored run"),
    "compare": CommandSpec("doku.cli.compare", "compare two stored runs"),
    "sandbox": CommandSpec("doku.cli.sandbox", "run the local DOKU simulator"),
    "db": CommandSpec("doku.cli.db", "the store's schema version; upgrade it"),
    "saved": CommandSpec("doku.cli.saved", "customer lists kept to audit again"),
    "schedule": CommandSpec("doku.cli.schedule", "run saved audits on a cron schedule"),
    "worker": CommandSpec("doku.cli.worker", "fetch queued audits from a PostgreSQL store"),
    "queue": CommandSpec("doku.cli.queue", "queued and running audits, and their workers"),
    "trail": CommandSpec("doku.cli.trail", "who did what: the append-only audit trail"),
}


class Command(Protocol):
    """What a command module provides."""

    DESCRIPTION: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line on stderr too (`--help` still shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {render.printable(f'{self.prog}: {message}')} (see --help)\n")


def load_command(name: str) -> Command:
    """Import the module of one command (and nothing else)."""
    return cast(Command, importlib.import_module(COMMANDS[name].module))


def requested_command(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first word that is not an option;
    the top-level parser has no option taking a value), if it is a known one."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def build_parser(
    command: str | None = None,
) -> tuple[argparse.ArgumentParser, Command | None]:
    """The parser with every command listed; only `command` (if any) is imported and
    gets its real arguments."""
    parser = _Parser(prog=PROG, description="Audit DOKU card and direct-debit tokens.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    loaded: Command | None = None
    for name, spec in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=spec.help, add_help=False)  # listed, never parsed
            continue
        loaded = load_command(name)
        loaded.add_arguments(
            sub.add_parser(name, help=spec.help, description=loaded.DESCRIPTION)
        )
    return parser, loaded


def _run(command: Command, args: argparse.Namespace) -> int:
    try:
        return command.run(args)
    except DokuError as exc:
        render.error(str(exc))
        return 1
    except KeyboardInterrupt:
        render.error("interrupted")
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        render.error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (`--help` 0, usage mistakes 2)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, command = build_parser(requested_command(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage mistake already reported
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    assert command is not None  # parse_args only succeeds with a known command
    return _run(command, args)
