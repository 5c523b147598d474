"""`doku db status|upgrade [--json]`: the store's schema version, and upgrading it.

The store is the configured one (`DOKU_DATABASE_URL`, or the SQLite file under
`DOKU_DATA_DIR`); it is shown as its file or as its URL without the password. Opening
a store with any other command upgrades it too; `upgrade` does it explicitly (say
before several app instances start on a shared PostgreSQL) and says what it did,
including where the backup of an upgraded SQLite file is.
"""

from __future__ import annotations

import argparse
from typing import Any

from doku.cli import render
from doku.engine.database import resolve
from doku.engine.upgrade import store_state, upgrade_store
from doku.engine.versioning import HEAD, TOO_NEW

DESCRIPTION = "The store's schema version (status) and upgrading it (upgrade)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in (
        ("status", "backend, store, schema revision and whether an upgrade is pending"),
        ("upgrade", "upgrade the store's schema to this version's (backing up SQLite)"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("--json", action="store_true", help="one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    return _upgrade(args.json) if args.action == "upgrade" else _status(args.json)


def _status(as_json: bool) -> int:
    location = resolve()
    state = store_state(location)
    row: dict[str, Any] = {
        "backend": location.backend,
        "store": location.where,
        "revision": state.revision,
        "head": HEAD,
        "state": state.kind,
        "upgrade_pending": state.upgrade_pending,
    }
    if as_json:
        render.emit_json(row)
        return 0
    pending = "yes (`doku db upgrade`, or any command, upgrades it)" if state.upgrade_pending \
        else "no"
    lines = [
        f"backend: {location.backend}",
        f"store: {render.printable(location.where)}",
        f"revision: {state.label}",
        f"head: {HEAD}",
        f"upgrade pending: {pending}",
    ]
    if state.kind == TOO_NEW:
        lines.append("this store was written by a newer doku: upgrade doku to use it")
    render.emit_lines(lines)
    return 0


def _upgrade(as_json: bool) -> int:
    location = resolve()
    report = upgrade_store(location)
    if as_json:
        render.emit_json({
            "backend": location.backend,
            "store": location.where,
            "from": report.before.revision,
            "from_state": report.before.kind,
            "to": HEAD,
            "changed": report.changed,
            "backup": None if report.backup is None else str(report.backup),
        })
    else:
        render.emit(render.printable(report.describe(location.where)))
    return 0
