"""`doku export RUN_ID --what tokens|customers|errors --format csv|xlsx|parquet -o PATH`:
one table of a stored run, written by `doku.analysis.exports` (the same bytes as the
dashboard's download buttons).

PATH `-` writes CSV to stdout (the file's bytes as they are: data, not terminal text).
A file is written to a temporary name and renamed, so an interrupted export never
leaves a truncated file behind. Token IDs are masked unless the run stored raw IDs and
--reveal-token-ids is given.

Each export is recorded in the audit trail (EXPORT: run, table, format, where; and
REVEAL when raw token IDs are written) before any byte leaves: when the trail cannot
be written, nothing is written.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from doku.access import Actor, process_actor
from doku.analysis.exports import EXPORT_KINDS, FORMATS, export_frame, frame_to_bytes
from doku.analysis.frames import load_run_frames
from doku.cli import render
from doku.engine.store import Store, resolve_run
from doku.engine.trail import EXPORT, REVEAL, Event
from doku.errors import InvalidInputError

DESCRIPTION = (
    "Write one table of a stored run as CSV, XLSX or Parquet. Text cells that a "
    "spreadsheet would run as a formula are prefixed with ' in CSV and XLSX. Recorded "
    "in the audit trail (`doku trail`); if the trail cannot be written nothing is written."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN_ID", help="run id, or 'latest'")
    parser.add_argument("--what", required=True, choices=EXPORT_KINDS, help="which table")
    parser.add_argument(
        "--format", dest="fmt", choices=FORMATS, default=None,
        help="file format (default: from the -o suffix, else csv)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="output file, or - for stdout (csv only)")
    parser.add_argument(
        "--reveal-token-ids", action="store_true",
        help="write raw token IDs (only if the run stored them; recorded in the audit "
        "trail); masked otherwise",
    )


def _format(args: argparse.Namespace) -> str:
    if args.fmt:
        return str(args.fmt)
    suffix = Path(args.output).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "csv"


def _write_atomic(path: Path, data: bytes) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_events(actor: Actor, run_id: int, what: str, fmt: str, rows: int, output: str,
                  revealed: bool) -> list[Event]:
    """The trail entries of one export: EXPORT, and REVEAL when raw token IDs go out."""
    detail = {"what": what, "format": fmt, "rows": rows, "output": output,
              "token_ids": "revealed" if revealed else "masked"}
    events = [Event(actor, EXPORT, f"run {run_id}", detail)]
    if revealed:
        events.append(Event(actor, REVEAL, f"run {run_id}",
                            {"what": f"token IDs in an export of {what}", "rows": rows}))
    return events


def run(args: argparse.Namespace) -> int:
    fmt = _format(args)
    if args.output == "-" and fmt != "csv":
        raise InvalidInputError(f"{fmt} is binary: give a file path with -o, not -")
    with Store() as store:
        info = resolve_run(store, args.run)
        frames = load_run_frames(store, info.id)
        if args.reveal_token_ids and not info.store_token_ids:
            render.note(f"run {info.id} stored only fingerprints; "
                        "there are no token IDs to reveal")
        table = export_frame(frames, args.what, reveal=args.reveal_token_ids)
        revealed = bool(args.reveal_token_ids and info.store_token_ids
                        and args.what == "tokens")
        data = frame_to_bytes(table, fmt, sheet_name=args.what, reveal_token_ids=revealed)
        output = "stdout" if args.output == "-" else str(args.output)
        store.record_events(export_events(process_actor("cli"), info.id, args.what, fmt,
                                          len(table), output, revealed))
    if args.output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    _write_atomic(Path(args.output), data)
    render.emit(f"wrote {len(table):,} {args.what} rows of run {info.id} to {args.output} ({fmt})")
    return 0
