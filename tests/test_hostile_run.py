"""A bulk run through a server that poisons some customers still finishes: only the
poisoned customers fail, with a typed error each; everyone else is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from doku.engine.bulk import AuditOptions
from doku.engine.inputs import parse_text
from doku.engine.service import start_audit
from doku.engine.store import Store
from doku.settings import SecretKey, Settings
from tests.hostile_doku import JSON_CASES, HostileDoku
from tests.scripted_doku import Answer, ScriptedDoku

CLIENT, SECRET = "MCH-HOSTILE-1", "SK-hostile-test-0001"


class PoisonedDoku(HostileDoku):
    """Answers by customer: POISON-* get the attack, CUST-0001 the guide, others []."""

    def __init__(self, attack: str) -> None:
        super().__init__(CLIENT, SECRET, attack)

    def reply(self, h: Any, a: Answer) -> None:
        customer = json.loads(h.seen_request.body)["customer"]["id"]
        if customer.startswith("POISON"):
            return super().reply(h, a)
        body = JSON_CASES["guide"]() if customer == "CUST-0001" else []
        return ScriptedDoku.reply(self, h, Answer(200, body))


def _run(tmp_path: Path, attack: str) -> tuple[Store, int, dict[str, tuple[Any, ...]]]:
    server = PoisonedDoku(attack)
    try:
        settings = Settings("sandbox", CLIENT, SecretKey(SECRET), server.url, "test")
        store = Store(tmp_path / f"{attack}.sqlite3")
        ids = ["CUST-0001", "POISON-1", "OK-2", "POISON-3", "OK-4"]
        job = start_audit(store, parse_text("\n".join(ids)), settings,
                          AuditOptions(concurrency=2, max_attempts=2, read_timeout_s=2))
        snap = job.wait(60)
    finally:
        server.close()
    assert snap.state == "done"
    rows = {r[0]: r for r in store.customer_rows(job.run_id)}
    return store, job.run_id, rows


def test_nested_json_poisons_only_its_customers(tmp_path: Path) -> None:
    store, run_id, rows = _run(tmp_path, "nested_200")
    info = store.get_run(run_id)
    assert info is not None
    assert (info.status, info.fetched, info.failed, info.pending, info.tokens) == (
        "done", 3, 2, 0, 3)
    assert {c: (r[1], r[6]) for c, r in rows.items()} == {
        "CUST-0001": ("fetched", None), "OK-2": ("fetched", None), "OK-4": ("fetched", None),
        "POISON-1": ("failed", "malformed_response"), "POISON-3": ("failed", "malformed_response"),
    }
    assert rows["POISON-1"][7] == "response JSON is nested deeper than 64 levels"


def test_a_gzip_bomb_fails_its_customer_not_the_run(tmp_path: Path) -> None:
    store, run_id, rows = _run(tmp_path, "gzip_bomb")
    assert [c for c, r in rows.items() if r[1] == "failed"] == ["POISON-1", "POISON-3"]
    assert {rows[c][6] for c in ("POISON-1", "POISON-3")} == {"response_too_large"}
    assert store.get_run(run_id).tokens == 3  # type: ignore[union-attr]


def test_tokens_listed_twice_are_stored_once_and_counted(tmp_path: Path) -> None:
    server = HostileDoku(CLIENT, SECRET, "duplicates")
    try:
        settings = Settings("sandbox", CLIENT, SecretKey(SECRET), server.url, "test")
        store = Store(tmp_path / "d.sqlite3")
        job = start_audit(store, parse_text("CUST-0001"), settings, AuditOptions())
        snap = job.wait(30)
    finally:
        server.close()
    assert (snap.state, snap.fetched, snap.tokens, snap.duplicate_tokens) == ("done", 1, 3, 3)
    assert len(store.token_rows(job.run_id)) == 3
