"""`python -m doku`: dispatch to one module per subcommand.

Each module in `doku.cli` exposes `register(subparsers)`, which adds its parser
and sets `func(args) -> int`. A failure exits non-zero with exactly one line on
stderr naming what went wrong; the secret key is never part of that line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from doku.errors import DokuError

COMMANDS = ("tokens", "audit", "runs", "export", "report", "compare", "sandbox")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line on stderr too (`--help` still shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m doku", description="Audit DOKU card and direct-debit tokens."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"doku.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"doku.cli.{name}":
                raise
            continue  # command not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except DokuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
