"""`doku queue [--json]`: queued and running audits, who fetches them, and the workers."""

from __future__ import annotations

import argparse

from doku.cli import render
from doku.engine.queue_state import QueueState, queue_state, to_dict
from doku.engine.store import Store

DESCRIPTION = ("Runs waiting for a worker, runs being fetched (with the fetchers holding "
               "their customers), the live workers and the last runs finished.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def format_state(state: QueueState) -> str:
    lines = [f"queued: {len(state.queued)}"]
    lines += [f"  run {r.id}: {r.customers:,} customers ({r.name or r.input_name})"
              for r in state.queued]
    lines.append(f"running: {len(state.running)}")
    for x in state.running:
        who = ", ".join(f"{w} ({n})" for w, n in x.holders.items()) or "one process"
        lines.append(f"  run {x.run.id}: {x.run.pending:,} of {x.run.customers:,} "
                     f"pending; fetched by {who}")
    lines.append(f"workers alive: {len(state.workers)}")
    lines += [f"  {w.id} ({w.kind}, concurrency {w.concurrency}"
              + (f", run {w.run_id})" if w.run_id is not None else ", idle)")
              for w in state.workers]
    lines.append("finished: " + (", ".join(f"run {r.id} {r.status}" for r in state.finished)
                                 or "none yet"))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    with Store() as store:
        state = queue_state(store)
    if args.json:
        render.emit_json(to_dict(state))
    else:
        for line in format_state(state).splitlines():
            render.emit(render.printable(line))
    return 0
