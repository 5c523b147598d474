"""The analysts' Python API (`doku.fetch_tokens`, `audit`, `resume`, `load_run`, `compare`)
against the project's simulator, README's "From Python" examples run as doctests, and
`import doku` staying light."""

from __future__ import annotations

import doctest
import hashlib
import inspect
import re
import types
from pathlib import Path

import pandas as pd
import pytest

import doku
import doku.analysis.frames
import doku.api
import doku.engine.connection
from doku.engine.bulk import AuditOptions
from doku.engine.inputs import AmbiguousColumnError
from doku.engine.store import Store
from doku.errors import InvalidInputError, NoSuchRunError
from doku.models import parse_tokens
from doku.settings import (
    SIMULATOR_CLIENT_ID,
    SIMULATOR_SECRET_KEY,
    SecretKey,
    Settings,
)
from doku.simulator import world
from tests.backend_support import both_backends
from tests.guide import GUIDE_TOKENS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Nothing configured (the embedded simulator), runs stored under tmp_path, and no
    secrets file (the working directory is tmp_path)."""
    for key in ("DOKU_CLIENT_ID", "DOKU_SECRET_KEY", "DOKU_ENV", "DOKU_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def masked(token_id: str) -> str:
    return token_id[:4] + "*" * (len(token_id) - 8) + token_id[-4:]


def truth(cid: str) -> list[tuple[str, str, str | None, str]]:
    return [(t.type, t.issuer, t.brand, t.fingerprint) for t in parse_tokens(world.tokens_for(cid))]


def settings_for(url: str, secret: str = SIMULATOR_SECRET_KEY) -> Settings:
    return Settings("simulator", SIMULATOR_CLIENT_ID, SecretKey(secret), url)


# -- README and docstrings ---------------------------------------------------------------
def readme_section(title: str) -> tuple[str, int]:
    """The text of README's `## title` section and its first line number (0-based)."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.M | re.S)
    assert match is not None, f"README has no '## {title}' section"
    return match.group(1), text[: match.start(1)].count("\n")


def run_doctest(test: doctest.DocTest) -> None:
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test, out=report.append)
    assert result.attempted > 0
    assert result.failed == 0, "".join(report)


def test_readme_from_python_examples_run() -> None:
    section, lineno = readme_section("From Python")
    # A code fence right below an output would read as part of the expected output.
    section = re.sub(r"^```.*$", "", section, flags=re.M)
    test = doctest.DocTestParser().get_doctest(
        section, {}, "README.md: From Python", str(README), lineno
    )
    assert len(test.examples) >= 10
    run_doctest(test)


@pytest.mark.parametrize(
    "module", [doku, doku.api, doku.analysis.frames, doku.engine.connection],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_run(module: types.ModuleType) -> None:
    tests = doctest.DocTestFinder().find(module)
    assert any(t.examples for t in tests)
    for test in tests:
        if test.examples:
            run_doctest(test)


# -- fetch_tokens ------------------------------------------------------------------------
def test_fetch_tokens_returns_the_guide_tokens_masked() -> None:
    frame = doku.fetch_tokens("CUST-0001")
    rows = frame[["customer_id", "customer_name", "type", "issuer", "brand", "masked_card",
                  "fingerprint", "token_id"]].astype(object).where(frame.notna(), None)
    expected = []
    for item in GUIDE_TOKENS:
        card = item.get("debit_card") or item["credit_card"]
        expected.append([
            "CUST-0001", "Anton Budiman", item["token_data"]["type"], card["issuer"],
            card.get("brand"), card["masked_card"],
            hashlib.sha256(card["token_id"].encode()).hexdigest(), masked(card["token_id"]),
        ])
    assert rows.values.tolist() == expected
    assert frame["token_id"].tolist() == [
        "2435************************ef82",
        "05fc************************1590",
        "4bc1************************a4a5",
    ]
    assert frame.attrs["request_id"]
    assert frame.attrs["signature_verified"] is True


def test_fetch_tokens_reveal_and_type() -> None:
    raw = [(t.get("debit_card") or t["credit_card"])["token_id"] for t in GUIDE_TOKENS]
    assert doku.fetch_tokens("CUST-0001", reveal=True)["token_id"].tolist() == raw
    cards = doku.fetch_tokens("CUST-0001", "CREDIT_CARD")
    assert cards["type"].tolist() == ["CREDIT_CARD"]
    assert cards["brand"].tolist() == ["visa"]
    assert doku.fetch_tokens("NO-SUCH-CUSTOMER-0").empty
    with pytest.raises(InvalidInputError):
        doku.fetch_tokens("CUST-0001", "PAYPAL")


# -- audit -------------------------------------------------------------------------------
IDS = ["CUST-0001", "CUST-0002", "CUST-0006", "CUST-0011", "CUST-0021"]


@both_backends
def test_audit_a_list_matches_the_simulator_world() -> None:
    frames = doku.audit([*IDS[:3], "CUST-0002", "", "bad\x00id", *IDS[3:]], progress=False)
    run = frames.run
    assert (run.status, run.input_name) == ("done", "list of IDs")
    assert (run.customers, run.fetched, run.failed, run.pending) == (5, 5, 0, 0)
    assert (run.duplicates, run.rejected, run.blank_rows) == (1, 1, 1)
    assert run.tokens == sum(len(world.tokens_for(c)) for c in IDS) == len(frames.tokens)
    assert run.with_tokens == sum(1 for c in IDS if world.tokens_for(c))
    customers = frames.customers.set_index("customer_id")
    assert list(customers.index) == IDS
    for cid in IDS:
        tokens = truth(cid)
        assert customers.loc[cid, "n_tokens"] == len(tokens)
        assert customers.loc[cid, "n_direct_debit"] == sum(t[0] == "DIRECT_DEBIT" for t in tokens)
        got = frames.tokens[frames.tokens["customer_id"] == cid]
        assert sorted(got["fingerprint"]) == sorted(t[3] for t in tokens)
    assert "token_id" not in frames.tokens.columns  # fingerprints only by default
    assert frames.errors.empty


@both_backends
def test_audit_a_series_and_token_type() -> None:
    frames = doku.audit(pd.Series(IDS[:3], name="ids"), token_type="CREDIT_CARD", progress=False)
    assert frames.run.input_name == "Series ids"
    assert frames.run.token_type == "CREDIT_CARD"
    assert set(frames.tokens["type"]) == {"CREDIT_CARD"}
    assert len(frames.tokens) == sum(t[0] == "CREDIT_CARD" for c in IDS[:3] for t in truth(c))


@both_backends
def test_stored_token_ids_are_masked_unless_revealed() -> None:
    frames = doku.audit(["CUST-0001"], store_token_ids=True, progress=False)
    raw = [(t.get("debit_card") or t["credit_card"])["token_id"] for t in GUIDE_TOKENS]
    assert frames.tokens["token_id"].tolist() == [masked(t) for t in raw]
    assert doku.load_run("latest", reveal=True).tokens["token_id"].tolist() == raw
    assert doku.load_run("latest").tokens["token_id"].tolist() == [masked(t) for t in raw]


@both_backends
def test_audit_a_dataframe_keeps_other_columns_as_attributes() -> None:
    frame = pd.DataFrame({
        "region": ["Jawa", "Bali", None, "Jawa"],
        "Customer ID": ["CUST-0001", "CUST-0006", "CUST-0011", "CUST-0001"],
        "score": [1.0, float("nan"), 3.0, 4.0],
    })
    frames = doku.audit(frame, progress=False)
    assert frames.run.input_name == "DataFrame"
    assert frames.run.duplicates == 1
    assert frames.attributes == ("region", "score")
    c = frames.customers
    assert c["customer_id"].tolist() == ["CUST-0001", "CUST-0006", "CUST-0011"]
    assert c["region"].tolist()[:2] == ["Jawa", "Bali"]
    assert pd.isna(c["region"][2])
    assert c["score"].tolist()[0] == "1"  # integral floats are not "1.0"
    assert c["n_tokens"].tolist() == [len(world.tokens_for(x)) for x in c["customer_id"]]


@both_backends
def test_dataframe_id_column_choice() -> None:
    frame = pd.DataFrame({"cust": ["CUST-0001", "CUST-0002"], "plan": ["basic", "plus"]})
    with pytest.raises(AmbiguousColumnError, match="pass column="):
        doku.audit(frame, progress=False)
    with pytest.raises(InvalidInputError, match="no column named 'nope'"):
        doku.audit(frame, column="nope", progress=False)
    frames = doku.audit(frame, column="cust", progress=False)
    assert frames.customers["customer_id"].tolist() == ["CUST-0001", "CUST-0002"]
    assert frames.attributes == ("plan",)
    indexed = doku.audit(frame.rename(columns={"cust": "customer_id"}).set_index("customer_id"),
                         progress=False)
    assert indexed.customers["plan"].tolist() == ["basic", "plus"]
    single = doku.audit(pd.DataFrame({"who": ["ABC", "DEF"]}), progress=False)
    assert single.customers["customer_id"].tolist() == ["ABC", "DEF"]  # header kept as header
    with pytest.raises(InvalidInputError, match="no rows"):
        doku.audit(frame.iloc[:0], progress=False)


@both_backends
def test_audit_a_file_path(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,plan\nCUST-0001,basic\nCUST-0006,plus\n", encoding="utf-8")
    for source in (path, str(path)):
        frames = doku.audit(source, progress=False)
        assert frames.run.input_name == str(path)
        assert frames.customers["plan"].tolist() == ["basic", "plus"]
        assert frames.run.tokens == len(world.tokens_for("CUST-0001"))
    with pytest.raises(InvalidInputError, match=r"pass a list: doku.audit\(\['CUST-0001'\]\)"):
        doku.audit("CUST-0001", progress=False)


@both_backends
def test_bad_sources_and_options() -> None:
    with pytest.raises(TypeError, match="not bytes"):
        doku.audit(b"CUST-0001", progress=False)
    with pytest.raises(TypeError, match="not int"):
        doku.audit(42, progress=False)
    with pytest.raises(InvalidInputError, match="concurrency"):
        doku.audit(IDS, concurrency=0, progress=False)
    with pytest.raises(InvalidInputError, match=r"token_data\.type"):
        doku.audit(IDS, token_type="PAYPAL", progress=False)
    with pytest.raises(InvalidInputError, match="no customer IDs"):
        doku.audit(["", " "], progress=False)
    with pytest.raises(InvalidInputError, match="no valid customer IDs"):
        doku.audit(["bad\x00"], progress=False)
    with pytest.raises(InvalidInputError, match="column="):
        doku.audit(IDS, column="x", progress=False)
    assert Store().list_runs() == []  # none of them recorded a run


def test_audit_options_mirror_audit_options() -> None:
    params = inspect.signature(doku.audit).parameters
    for name, field in AuditOptions.__dataclass_fields__.items():
        assert name in params, name
        assert params[name].default == field.default, name


# -- stores, load_run, compare -----------------------------------------------------------
@both_backends
def test_load_run_latest_and_by_id() -> None:
    with pytest.raises(NoSuchRunError):
        doku.load_run()
    first = doku.audit(IDS[:2], progress=False)
    second = doku.audit(IDS[2:], progress=False)
    assert doku.load_run().run.id == doku.load_run("latest").run.id == second.run.id
    again = doku.load_run(first.run.id)
    assert again.run == first.run
    pd.testing.assert_frame_equal(again.customers, first.customers)
    pd.testing.assert_frame_equal(again.tokens, first.tokens)
    with pytest.raises(NoSuchRunError):
        doku.load_run(999)


def test_store_and_data_dir_options(tmp_path: Path) -> None:
    # SQLite only: data_dir= and store=<folder> name a SQLite file.
    other = tmp_path / "elsewhere"
    frames = doku.audit(IDS[:1], data_dir=other, progress=False)
    assert (other / "doku-audit.sqlite3").is_file()
    assert doku.load_run(data_dir=other).run.id == frames.run.id
    assert doku.load_run(store=other).run.id == frames.run.id  # a folder works too
    with Store(other / "doku-audit.sqlite3") as store:
        assert doku.load_run(store=store).run.id == frames.run.id
        assert store.get_run(frames.run.id) is not None  # the caller's store stays open
    with pytest.raises(NoSuchRunError):
        doku.load_run()  # the default store ($DOKU_DATA_DIR) has none
    with pytest.raises(InvalidInputError, match="not both"):
        doku.load_run(store=other, data_dir=other)


@both_backends
def test_compare_ids_latest_and_frames() -> None:
    a = doku.audit(["CUST-0001", "CUST-0002", "CUST-0006"], progress=False)
    b = doku.audit(["CUST-0002", "CUST-0006", "CUST-0011"], progress=False)
    diff = doku.compare(a.run.id, "latest")
    assert (diff.run_a, diff.run_b) == (a.run.id, b.run.id)
    assert (diff.in_both, diff.only_in_a, diff.only_in_b) == (2, ["CUST-0001"], ["CUST-0011"])
    assert (diff.tokens_added, diff.tokens_removed, diff.gained, diff.lost) == (0, 0, [], [])
    assert doku.compare(a, b).to_dict() == diff.to_dict()
    assert doku.compare(a, "latest").to_dict() == diff.to_dict()
    assert isinstance(diff, doku.Comparison)
