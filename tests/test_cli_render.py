"""`doku.cli.render`: control characters from the server or the user never reach the
terminal as such (shown escaped; JSON stays valid and parses back to the same values)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from doku.cli import render
from doku.cli.main import main
from doku.engine.schema import DB_NAME
from doku.engine.store import Store
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.scripted_doku import Answer, ScriptedDoku

ESC = "\x1b[31m"  # "red" on an ANSI terminal
SHOWN = "\\x1b[31m"  # what the analyst sees instead
CLIENT_ID, SECRET = "MCH-RENDER-TEST", "SK-render-test"


@pytest.mark.parametrize(("raw", "shown"), [
    ("Anton Budiman", "Anton Budiman"),
    ("Budi Śantoso 漢字", "Budi Śantoso 漢字"),  # letters of any script stay as they are
    (f"{ESC}Evil\x1b[0m", f"{SHOWN}Evil\\x1b[0m"),
    ("two\nlines\tand\rreturn", "two\\nlines\\tand\\rreturn"),
    ("c1 csi \x9b2J del \x7f", "c1 csi \\x9b2J del \\x7f"),
    ("bidi \u202eevil", "bidi \\u202eevil"),
    ("nul \x00 sep \u2028", "nul \\x00 sep \\u2028"),
    ("tag \U000e0001", "tag \\U000e0001"),
    (None, "None"),
    (42, "42"),
])
def test_printable(raw: object, shown: str) -> None:
    assert render.printable(raw) == shown
    assert render.printable(shown) == shown  # escaping twice changes nothing


def test_json_escapes_what_a_terminal_acts_on_and_parses_back() -> None:
    data = [{"name": f"{ESC}Evil", "c1": "\x9b", "del": "\x7f", "bidi": "\u202e",
             "tag": "\U000e0001", "nl": "a\nb", "ok": "Śantoso 漢字", "n": 1, "none": None}]
    text = render.to_json(data)
    assert json.loads(text) == data
    assert all(line.isprintable() for line in text.splitlines())
    assert '"name": "\\u001b[31mEvil"' in text
    assert '"c1": "\\u009b"' in text
    assert '"del": "\\u007f"' in text
    assert '"bidi": "\\u202e"' in text
    assert '"tag": "\\udb40\\udc01"' in text
    assert '"nl": "a\\nb"' in text
    assert '"ok": "Śantoso 漢字"' in text
    assert render.to_json({"a": [1, 2]}, indent=None) == '{"a": [1, 2]}'


def test_format_table_aligns_escaped_cells() -> None:
    lines = render.format_table(
        ("name", "n"), [(f"{ESC}x", 5), (None, 12345)], right={"n"}, indent="  "
    )
    assert lines == [
        "  name           n",
        f"  {SHOWN}x      5",
        "  -          12345",
    ]


def test_pct_and_pp() -> None:
    assert [render.pct(v) for v in (None, math.nan, 0.5, 2 / 3)] == ["n/a", "n/a", "50.0%",
                                                                     "66.7%"]
    assert [render.pp(v) for v in (None, math.nan, 1 / 3, -0.05)] == ["n/a", "n/a", "+33.3 pp",
                                                                     "-5.0 pp"]


def test_emit_escapes_each_line(capsys: pytest.CaptureFixture[str]) -> None:
    render.emit(f"one {ESC}\ntwo\t2")
    render.error(f"bad\n{ESC}")
    render.note("fine")
    assert capsys.readouterr() == (f"one {SHOWN}\ntwo\\t2\n",
                                   f"error: bad\\n{SHOWN}\nnote: fine\n")


# -- through the commands ----------------------------------------------------------------
@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ScriptedDoku]:
    """A DOKU stand-in whose answers carry control characters; settings point at it."""
    for key in ("DOKU_ENV", "DOKU_BASE_URL", "DOKU_CLIENT_ID", "DOKU_SECRET_KEY"):
        monkeypatch.delenv(key, raising=False)
    s = ScriptedDoku(CLIENT_ID, SECRET)
    monkeypatch.setenv("DOKU_ENV", "sandbox")
    monkeypatch.setenv("DOKU_BASE_URL", s.url)
    monkeypatch.setenv("DOKU_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("DOKU_SECRET_KEY", SECRET)
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield s
    s.close()


EVIL_TOKEN = [{
    "token_data": {"type": "CREDIT_CARD"},
    "customer": {"id": "CUST-0001", "name": f"{ESC}Evil\x1b[0m"},
    "credit_card": {"issuer": "BCA\x07", "token_id": "4bc187a24c60fc88977604d170eea4a5",
                    "masked_card": "4096****5464", "brand": "visa"},
}]


def test_tokens_shows_a_hostile_customer_name_escaped(
    server: ScriptedDoku, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script = [Answer(body=EVIL_TOKEN)]
    assert main(["tokens", "CUST-0001"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[:2] == [
        "customer_id  customer_name        type         issuer   brand  masked_card   "
        "token_id",
        f"CUST-0001    {SHOWN}Evil\\x1b[0m  CREDIT_CARD  BCA\\x07  visa   4096****5464  "
        "4bc1************************a4a5",
    ]
    server.script = [Answer(body=EVIL_TOKEN)]
    assert main(["tokens", "CUST-0001", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out
    assert "\x07" not in out
    assert json.loads(out)[0]["customer_name"] == f"{ESC}Evil\x1b[0m"
    assert json.loads(out)[0]["issuer"] == "BCA\x07"


def test_a_hostile_server_error_is_one_escaped_line(
    server: ScriptedDoku, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script = [Answer(status=400, body={"error": {"message": f"bad\n{ESC}id"}})]
    assert main(["tokens", "CUST-0001"]) == 1
    assert capsys.readouterr() == ("", f"error: bad request (400): bad\\n{SHOWN}id\n")


@pytest.fixture
def hostile_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two runs whose input name, customer IDs, attribute values and issuer hold escapes."""
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path))
    with Store(tmp_path / DB_NAME) as store:
        for ids in ([f"A{ESC}1", "B-2"], ["B-2"]):
            run = store.create_run(
                ids=ids, attributes={cid: {"segment": f"gold{ESC}"} for cid in ids},
                attribute_columns=["segment"], env="simulator", base_url=None,
                client_id="MCH-TEST", input_name=f"{ESC}evil.csv",
            )
            for cid in ids:
                store.record_fetched(run, cid, [
                    Token(cid, f"{ESC}name", CREDIT_CARD, f"BR{ESC}I", "visa", "4096****0001",
                          f"tok-{cid}-cc"),
                    Token(cid, None, DIRECT_DEBIT, "BRI", None, "****0002", f"tok-{cid}-dd"),
                ], attempts=1)
            store.set_status(run, "done")
    return tmp_path


@pytest.mark.usefixtures("hostile_store")
@pytest.mark.parametrize(("argv", "shown"), [
    (["runs"], f"{SHOWN}evil.csv"),
    (["report", "1", "--by", "segment"], f"Run 1 (done) - input {SHOWN}evil.csv"),
    (["report", "1", "--by", "segment"], f"  gold{SHOWN}"),
    (["report", "1"], f"  BR{SHOWN}I"),
    (["compare", "1", "2"], f"  only in A 1: A{SHOWN}1"),
    (["compare", "1", "2"], f"  BR{SHOWN}I"),
])
def test_stored_text_is_shown_escaped(argv: list[str], shown: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert all(line.isprintable() for line in out.splitlines())
    assert any(shown in line for line in out.splitlines()), out


@pytest.mark.usefixtures("hostile_store")
@pytest.mark.parametrize("argv", [["runs", "--json"], ["report", "1", "--json", "--by", "segment"],
                                  ["compare", "1", "2", "--json"]])
def test_json_of_stored_text_is_escaped_and_exact(argv: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    out, _ = capsys.readouterr()
    assert "\x1b" not in out
    data = json.loads(out)
    assert json.loads(render.to_json(data)) == data
    assert any(ESC in text for text in strings(data))  # the values themselves are intact


def strings(data: object) -> Iterator[str]:
    """Every string in parsed JSON, keys included."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from strings(value)
