"""What every page's AppTest needs: an isolated environment, runs seeded straight into
the store (no HTTP), the CLI's JSON in process, and a page opened cleanly."""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import doku.settings
from doku.cli.main import main as doku_cli
from doku.engine import jobs
from doku.engine.inputs import ParsedInput
from doku.engine.schema import Reject
from doku.errors import error_label
from doku.models import CREDIT_CARD, Token, parse_tokens
from doku.simulator.world import tokens_for
from tests.backend_support import open_store

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = str(ROOT / "dashboard.py")
TokensOf = Callable[[str], Sequence[Token]]
SEED_WRITERS = 8


def isolate(mp: pytest.MonkeyPatch, folder: Path) -> Path:
    """No DOKU_* credentials from the shell, no developer secrets.toml (so the simulator
    default) and a private data dir. DOKU_DATABASE_URL is not in `KEYS`: it stays as
    the `backend` fixture set it (tests.backend_support)."""
    for key in doku.settings.KEYS:
        mp.delenv(key, raising=False)
    mp.setattr(doku.settings, "read_secrets_table", lambda path=None: {})  # noqa: ARG005
    mp.setenv("DOKU_DATA_DIR", str(folder))
    return folder


# -- runs written straight into the store --------------------------------------------------
def world_tokens(epoch: int = 0) -> TokensOf:
    """What the simulator's world holds for a customer at `epoch` (no request made)."""
    return lambda customer_id: parse_tokens(tokens_for(customer_id, epoch=epoch))


def token(customer_id: str, n: int, token_type: str = CREDIT_CARD, *, issuer: str = "BCA",
          brand: str | None = "visa") -> Token:
    """The n-th made-up token of a customer."""
    return Token(
        customer_id=customer_id,
        customer_name=f"Customer {customer_id}",
        type=token_type,
        issuer=issuer,
        brand=brand if token_type == CREDIT_CARD else None,
        masked_card=f"4111****{n:04d}" if token_type == CREDIT_CARD else f"*********{n:04d}",
        token_id=f"tok-{customer_id}-{n:04d}-{token_type}",
    )


def seed_run(
    folder: Path,
    customers: ParsedInput | Sequence[str],
    tokens_of: TokensOf | Mapping[str, Sequence[Token]],
    *,
    failed: Mapping[str, str] | None = None,
    pending: Collection[str] = (),
    status: str | None = "done",
    input_name: str = "seeded.csv",
    error: str | None = None,
    error_messages: Mapping[str, str] | None = None,
    token_type: str | None = None,
    name: str | None = None,
    options: Mapping[str, Any] | None = None,
    rejects: Sequence[Reject] = (),
    env: str = "simulator",
) -> int:
    """A run written with Store.create_run / record_fetched / record_failed: every
    customer fetched with `tokens_of(id)`, except `failed` (id -> error code; message
    from `error_messages`, else the code's label) and `pending` ones. `status=None`
    leaves it 'running' with no owner, as a dead process would; `error` is the run's
    own error (why it stopped). Failed customers get Request-Id "req-<id>"; `token_type`,
    `name`, `options`, `rejects` and `env` are the run's own. The store is the test's
    backend's (`open_store`): `folder`'s SQLite file, or DOKU_DATABASE_URL's database."""
    failed = failed or {}
    lookup = tokens_of.get if isinstance(tokens_of, Mapping) else tokens_of
    folder.mkdir(parents=True, exist_ok=True)
    with open_store(folder) as store:
        if isinstance(customers, ParsedInput):
            ids = customers.ids
            run_id = store.create_run(
                ids=ids, attribute_values=customers.attributes,
                attribute_columns=customers.attribute_columns,
                rejects=[Reject(r.row, r.value, r.reason) for r in customers.rejected],
                duplicates=customers.duplicates, blank_rows=customers.blank_rows,
                env="simulator", base_url=None, client_id=doku.settings.SIMULATOR_CLIENT_ID,
                input_name=customers.source,
            )
        else:
            ids = list(customers)
            run_id = store.create_run(
                ids=ids, env=env, base_url=None, rejects=rejects,
                client_id=doku.settings.SIMULATOR_CLIENT_ID, input_name=input_name,
                token_type=token_type, name=name, options=options,
            )

        def record(cid: str) -> None:
            if cid in failed:
                code = failed[cid]
                message = (error_messages or {}).get(cid, f"{error_label(code)} (seeded)")
                store.record_failed(run_id, cid, error_code=code, error_message=message,
                                    attempts=1, request_id=f"req-{cid}")
            elif cid not in pending:
                store.record_fetched(run_id, cid, lookup(cid) or [], attempts=1)

        # From several threads, as a bulk audit writes: on PostgreSQL a result costs a few
        # round trips, which overlap (SQLite takes its writes one at a time either way).
        with ThreadPoolExecutor(SEED_WRITERS) as writers:
            for done in [writers.submit(record, cid) for cid in ids]:
                done.result()
        if status is not None:
            store.set_status(run_id, status, error=error)
    return run_id


def cli_json(*args: str) -> dict[str, Any]:
    """`python -m doku ARGS --json` run in this process, on $DOKU_DATA_DIR."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert doku_cli([*args, "--json"]) == 0
    result: dict[str, Any] = json.loads(out.getvalue())
    return result



# -- pages --------------------------------------------------------------------------------------
def ok(at: AppTest, *, no_errors: bool = False) -> AppTest:
    """No exception reached the page (and, with no_errors, no st.error either)."""
    assert not at.exception, [e.value for e in at.exception]
    if no_errors:
        assert not at.error, [e.value for e in at.error]
    return at


def open_page(page: str | None = None, *, timeout: float = 30, no_errors: bool = False,
              **query: str) -> AppTest:
    """The home page, then (optionally) `page` with query parameters, both run cleanly."""
    at = ok(AppTest.from_file(DASHBOARD, default_timeout=timeout).run(), no_errors=no_errors)
    if page is None:
        return at
    for k, v in query.items():
        at.query_params[k] = v
    return ok(at.switch_page(page).run(), no_errors=no_errors)


def wait_finished(at: AppTest, timeout: float = 60.0, *, no_errors: bool = False) -> AppTest:
    """Block on the page's background jobs, then rerun until the progress bar is gone
    (run_every fragments do not tick in AppTest; the jobs run in this process)."""
    deadline = time.monotonic() + timeout
    while at.get("progress"):
        left = deadline - time.monotonic()
        assert left > 0, "run did not finish in time"
        for job in jobs.running():
            job.wait(left)
        ok(at.run(), no_errors=no_errors)
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {shown(m.label): shown(m.value) for m in at.metric}


# -- what the reader sees of Markdown ------------------------------------------------------
# Proto fields Streamlit renders as Markdown (element bodies, labels, tooltips, alert
# titles, metric deltas, progress and spinner texts). Options, placeholders, keys,
# table cells and chart specs are not: they are never collected.
MARKDOWN_FIELDS = frozenset(
    {"body", "label", "help", "title", "text", "delta", "delta_description"}
)


def markdown_sources(at: AppTest) -> list[str]:
    """Every Markdown source of the page (main area and sidebar), as sent to the
    browser."""
    found: list[str] = []

    def collect(message: Any) -> None:
        for fd, value in message.ListFields():
            if fd.message_type is not None:
                for item in [value] if hasattr(value, "ListFields") else list(value):
                    if hasattr(item, "ListFields"):
                        collect(item)
            elif fd.name in MARKDOWN_FIELDS and isinstance(value, str):
                found.append(value)

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields"):
            collect(proto)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return found


def shown(markdown: str) -> str:
    """The text a reader sees of Markdown built with `ui.present.escape_md`: its
    backslash escapes read and its (invisible) word joiners dropped. Compare page text
    with this, so a leak is not hidden by its escaping."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")
