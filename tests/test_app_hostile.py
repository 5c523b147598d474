"""Hostile text through every page (AppTest). Customer IDs and names, issuers and brands
from DOKU, DOKU's (unsigned) error messages, an input file's name, its column names and
cell values, duplicate IDs, a run's error: all written as the Markdown an attacker
would send. Every Markdown source a page sends to the browser must carry them escaped
(`ui.present.escape_md`), never as live Markdown, and still show them.
tests/e2e/test_hostile_browser.py checks the same in a real browser's DOM."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from doku.analysis import exports
from doku.analysis.frames import load_run_frames
from doku.client.tokens import TokenResult
from doku.engine.inputs import MAX_BYTES, parse_file
from doku.errors import BadRequestError
from doku.models import CREDIT_CARD, DIRECT_DEBIT, Token
from tests.apptest_support import isolate, markdown_sources, ok, open_page, seed_run, shown
from tests.backend_support import open_store, sqlite_only
from ui.bulk_view import PREVIEW_COLUMNS
from ui.insights_view import MAX_SEGMENT_ATTRIBUTES, attribute_keys
from ui.present import ERROR_CHARS, escape_md

HOME, LOOKUP, BULK, INSIGHTS, RUNS = (
    None, "pages/1_Customer_lookup.py", "pages/2_Bulk_audit.py", "pages/3_Insights.py",
    "pages/4_Runs.py",
)
HOSTILE = (
    "**bold** [link](http://x.test) ![img](http://127.0.0.1:1/pixel.png) :red[red] "
    "<b>html</b> # heading"
)
SHORT = "**b** [l](http://x.test) :red[r] <b>h</b> # id"  # a customer ID: <= 50 chars
FILE_NAME = f"{HOSTILE} file.csv"
COLUMN = f"{HOSTILE} col"
VALUE = f"{HOSTILE} val"
NAME = f"{HOSTILE} name"
RUN_ERROR = f"{HOSTILE} run error"
ISSUER = "[iss](http://x.test) :red[BCA]"
BRAND = "**visa** <b>x</b>"
IDS = [f"{SHORT}{i}" for i in range(3)]
# Live Markdown of the strings above: an unescaped marker, or an autolink without the
# word joiner escape_md puts in it.
LIVE = re.compile(
    r"(?<!\\)(?:\*\*b|\[l(?:ink|s)?\]|\[iss\]|!\[img|:red\[|<b>|# (?:heading|id))"
    r"|https?(?::|\\:(?!\u2060))"
)


def hostile_csv(ids: list[str] = IDS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["customer_id", COLUMN, "region"])
    for i, cid in enumerate([*ids, ids[0], "x" * 60 + SHORT]):  # a duplicate, a reject
        writer.writerow([cid, VALUE, "Jawa" if i % 2 else "Bali"])
    return out.getvalue().encode()


def hostile_token(cid: str, n: int) -> Token:
    return Token(customer_id=cid, customer_name=NAME, type=CREDIT_CARD if n else DIRECT_DEBIT,
                 issuer=ISSUER, brand=BRAND if n else None, masked_card=f"4111****{n:04d}",
                 token_id=f"tok-{n}-{cid}")


def assert_inert(at: AppTest, *values: str) -> list[str]:
    """No Markdown source of the page is live, and each value is shown (escaped)."""
    sources = markdown_sources(at)
    live = [s for s in sources if LIVE.search(s)]
    assert not live, live
    text = "\n".join(sources)
    for value in values:
        assert escape_md(value, ERROR_CHARS) in text, (value, text)
    return sources


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory,
             module_backend: str) -> Path:  # noqa: ARG001  (seeded on each backend)
    """One stopped run of the hostile file: hostile IDs, names, issuers, brands, column
    and values, one failed customer with a hostile message, and a hostile run error."""
    folder = tmp_path_factory.mktemp("hostile") / "data"
    parsed = parse_file(hostile_csv(), FILE_NAME)
    assert parsed.attribute_columns == [COLUMN, "region"]
    assert parsed.ids == IDS
    seed_run(folder, parsed, {cid: [hostile_token(cid, 0), hostile_token(cid, 1)]
                              for cid in IDS},
             failed={IDS[2]: "bad_request"}, error_messages={IDS[2]: f"{HOSTILE} doku"},
             status="aborted", error=RUN_ERROR)
    return folder


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    isolate(monkeypatch, data_dir)


@sqlite_only("the page's other tests cover it on PostgreSQL")
def test_home_shows_the_hostile_file_name_escaped() -> None:
    assert_inert(open_page(HOME, no_errors=True), FILE_NAME)


def test_runs_shows_the_file_name_and_run_error_escaped() -> None:
    at = open_page(RUNS, no_errors=True)
    assert_inert(at, FILE_NAME, RUN_ERROR)
    assert RUN_ERROR in shown(at.warning[0].value)
    assert FILE_NAME in at.selectbox(key="runs_pick").options[0]  # options: literal text


def test_insights_filters_captions_and_segments_are_escaped() -> None:
    at = open_page(INSIGHTS, no_errors=True)
    (filter_key,) = attribute_keys([COLUMN]).values()  # letters and digits: no markup
    assert re.fullmatch(r"insights_filter_attr_\w+", filter_key)
    assert at.multiselect(key=filter_key).label == escape_md(COLUMN)
    assert at.multiselect(key=filter_key).options == [VALUE]  # literal, like the data
    assert_inert(at, COLUMN)
    ok(at.multiselect(key=filter_key).set_value([VALUE]).run(), no_errors=True)
    ok(at.multiselect(key="insights_filter_issuer").set_value([ISSUER]).run(), no_errors=True)
    sources = assert_inert(at, COLUMN, VALUE, ISSUER)
    filtered = f"Filtered: issuer: {ISSUER}; {COLUMN}: {VALUE}. "
    assert any(shown(s).startswith(filtered) for s in sources), sources
    ok(at.selectbox(key="insights_by").set_value(COLUMN).run(), no_errors=True)
    assert_inert(at, COLUMN, VALUE)
    table = next(d.value for d in at.dataframe if "masked_card" in d.value.columns)
    assert NAME in set(table["customer_name"])  # cells: literal


@sqlite_only("input preview: nothing is stored")
def test_bulk_preview_of_a_hostile_file_is_escaped() -> None:
    at = open_page(BULK, no_errors=True)
    assert_inert(at, RUN_ERROR, FILE_NAME)  # the latest run's panel
    upload = at.file_uploader(key="bulk_file").upload(FILE_NAME, hostile_csv(), "text/csv")
    ok(upload.run(), no_errors=True)
    assert_inert(at, FILE_NAME, COLUMN, IDS[0])
    text = shown("\n".join(markdown_sources(at)))
    assert f"{FILE_NAME} · 5 rows · ID column customer_id · attributes {COLUMN}, region" in text
    assert f"Duplicates, e.g. {IDS[0]}" in text
    assert list(at.dataframe[0].value.columns) == ["customer_id", COLUMN, "region"]


@pytest.mark.parametrize(("content", "says"), [
    (b"", "the file is empty"),
    (f"{SHORT},:red[region]\nACC-1,Bali\nACC-2,Jawa\n".encode(), "none of the columns is named"),
    (b"x" * (MAX_BYTES + 1), "over the 50 MB upload limit"),
])
@sqlite_only("input preview: nothing is stored")
def test_bulk_input_errors_naming_hostile_names_are_escaped(content: bytes, says: str) -> None:
    at = open_page(BULK)
    ok(at.file_uploader(key="bulk_file").upload(FILE_NAME, content, "text/csv").run())
    messages = [*at.error, *at.warning]
    assert any(says in shown(m.value) for m in messages), [m.value for m in messages]
    assert any(FILE_NAME in shown(m.value) for m in messages)
    assert_inert(at, FILE_NAME)
    if b"region" in content:  # the ID column picker: names as literal options
        assert at.selectbox(key="bulk_column").options == [SHORT, ":red[region]"]


def lookup_with(outcome: object) -> AppTest:
    at = open_page(LOOKUP, no_errors=True)
    at.session_state["lookup_outcome"] = outcome
    return ok(at.run())


@sqlite_only("the lookup page reads no runs")
def test_lookup_result_from_a_hostile_server_is_escaped() -> None:
    tokens = [hostile_token(IDS[0], 0), hostile_token(IDS[0], 1)]
    result = TokenResult(customer_id=IDS[0], token_type=CREDIT_CARD, tokens=tokens,
                         request_id=SHORT, attempts=2, latency_ms=12.0,
                         signature_verified=False, status=200)
    at = lookup_with(result)
    assert [s.value for s in at.subheader] == [escape_md(NAME)]
    assert_inert(at, NAME, IDS[0], SHORT)
    assert set(at.dataframe[0].value["issuer"]) == {ISSUER}  # cells: literal

    empty = TokenResult(customer_id=IDS[1], token_type=None, tokens=[], request_id="r-1",
                        attempts=1, latency_ms=5.0, signature_verified=False, status=200)
    at = lookup_with(empty)
    assert [s.value for s in at.subheader] == [escape_md(IDS[1])]
    assert f"No tokens for {IDS[1]}." in shown(at.warning[0].value)
    assert_inert(at, IDS[1])


@sqlite_only("the lookup page reads no runs")
def test_lookup_error_from_a_hostile_server_is_escaped() -> None:
    exc = BadRequestError(f"{HOSTILE} message", status=400,
                          doku_message=f"{HOSTILE} from DOKU", request_id=SHORT)
    at = lookup_with(exc)
    assert len(at.error) == 1
    assert_inert(at, f"{HOSTILE} message", f"{HOSTILE} from DOKU", SHORT)
    assert f"DOKU said: {HOSTILE} from DOKU" in shown(at.error[0].value)


# -- inputs with very many columns ------------------------------------------------------------
def wide_csv(n_columns: int) -> tuple[list[str], bytes]:
    columns = [f"{SHORT} c{i}" for i in range(n_columns)]
    rows = [["customer_id", *columns],
            *([f"W-{r}", *(f"v{r % 2}" for _ in columns)] for r in range(3))]
    return columns, "".join(",".join(row) + "\n" for row in rows).encode()


def seed_wide(monkeypatch: pytest.MonkeyPatch, folder: Path, n_columns: int) -> list[str]:
    columns, content = wide_csv(n_columns)
    parsed = parse_file(content, "wide.csv")
    assert parsed.attribute_columns == columns
    seed_run(isolate(monkeypatch, folder), parsed, {})
    return columns


def attribute_filters(at: AppTest) -> list[str]:
    return [m.label for m in at.multiselect
            if (m.key or "").startswith("insights_filter_attr_")]


@pytest.mark.slow  # doku.analysis.frames builds one categorical column per attribute
@sqlite_only("slow: on PostgreSQL the 30-column case")
def test_two_thousand_attribute_columns_offer_a_bounded_number_of_filters(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The bound is the same at 10,000 columns (measured); 2,000 keeps the suite quick.
    columns = seed_wide(monkeypatch, tmp_path / "wide", 2_000)
    at = open_page(INSIGHTS, timeout=120, no_errors=True)
    assert attribute_filters(at) == [escape_md(c) for c in columns[:MAX_SEGMENT_ATTRIBUTES]]
    assert MAX_SEGMENT_ATTRIBUTES == 20
    note = shown(" ".join(c.value for c in at.caption))
    assert "1,980 more attribute columns (only the first 20 are offered)" in note
    assert "Every column is kept in the run and its downloads" in note
    assert len(at.selectbox(key="insights_by").options) == 20 + 2  # + token type, issuer
    table = next(d.value for d in at.dataframe if "masked_card" in d.value.columns)
    assert set(columns[:20]) <= set(table.columns)  # the token table
    assert not set(columns[20:]) & set(table.columns)
    assert_inert(at)


@pytest.mark.usefixtures("backend")  # a store of its own
def test_attribute_columns_left_out_of_filters_stay_in_the_exports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "thirty"
    columns = seed_wide(monkeypatch, folder, 30)
    at = open_page(INSIGHTS, no_errors=True)
    assert len(attribute_filters(at)) == 20
    assert "10 more attribute columns (only the first 20 are offered)" in shown(
        " ".join(c.value for c in at.caption))
    with open_store(folder) as store:
        frames = load_run_frames(store, 1)
    header = next(csv.reader(io.StringIO(
        exports.export_bytes(frames, "customers", "csv").decode("utf-8-sig"))))
    assert set(columns) <= set(header)


@sqlite_only("input preview: nothing is stored")
def test_bulk_preview_of_ten_thousand_columns_is_bounded() -> None:
    _, content = wide_csv(10_000)
    at = open_page(BULK, no_errors=True)
    ok(at.file_uploader(key="bulk_file").upload("wide.csv", content, "text/csv").run(),
       no_errors=True)
    assert len(at.dataframe[0].value.columns) == 1 + PREVIEW_COLUMNS
    text = shown(" ".join(m.value for m in [*at.markdown, *at.caption]))
    assert "and 9,990 more" in text
    assert f"Showing {PREVIEW_COLUMNS} of 10,000 attribute columns; all are kept" in text
    assert_inert(at)
