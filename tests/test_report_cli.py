"""CLI report/compare/runs/export: the report's JSON numbers equal a recount from the
exported CSVs (hand fixture and hypothesis-generated runs), and failures are one line."""

from __future__ import annotations

import csv
import io
import json
import runpy
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from doku.analysis.exports import FORMULA_PREFIXES
from doku.analysis.labels import BLANK, DIRECT_DEBIT_BRAND, UNKNOWN_BRAND
from doku.cli.main import main
from doku.engine.schema import DB_NAME
from doku.models import CREDIT_CARD, DIRECT_DEBIT
from doku.settings import DATABASE_URL_KEY
from tests.backend_support import SQLITE, backend_url, both_backends, open_store, store_where
from tests.generated_runs import GenCustomer, gen_run, store_run
from tests.test_frames import build_small_store


@pytest.fixture
def data_dir(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: ARG001
    """The small store on each backend (`backend` parametrizes the tests using it), as
    the CLI opens it with DOKU_DATA_DIR=tmp_path."""
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path))
    store, _, _ = build_small_store(backend_url(tmp_path))
    store.close()
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def unescape(value: str) -> str:
    """Undo the export's formula neutralisation to get the stored value back."""
    if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [{k: unescape(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def recount(tokens: list[dict[str, str]], customers: list[dict[str, str]],
            by: str | None = None) -> dict[str, Any]:
    """The report's numbers, recomputed from exported CSV rows with plain Python."""
    fetched = [c for c in customers if c["status"] == "fetched"]
    holders = [c for c in fetched if int(c["n_tokens"]) > 0]

    def brand(t: dict[str, str]) -> str:
        if t["type"] == DIRECT_DEBIT:
            return DIRECT_DEBIT_BRAND
        return t["brand"] or UNKNOWN_BRAND

    out: dict[str, Any] = {
        "customers": len(customers),
        "fetched": len(fetched),
        "failed": sum(c["status"] == "failed" for c in customers),
        "pending": sum(c["status"] == "pending" for c in customers),
        "with_tokens": len(holders),
        "uptake": len(holders) / len(fetched) if fetched else None,
        "tokens": len(tokens),
        "by_type": {k: v for k, v in Counter(t["type"] for t in tokens).items()},
        "by_issuer": dict(Counter(t["issuer"] for t in tokens)),
        "by_brand": dict(Counter(brand(t) for t in tokens)),
    }
    for t in (DIRECT_DEBIT, CREDIT_CARD):
        out["by_type"].setdefault(t, 0)
    if by is not None:
        values: dict[str, dict[str, int]] = {}
        for c in customers:
            key = c[by].strip() or BLANK
            v = values.setdefault(key, {"customers": 0, "fetched": 0, "with_tokens": 0})
            v["customers"] += 1
            if c["status"] == "fetched":
                v["fetched"] += 1
                v["with_tokens"] += int(c["n_tokens"]) > 0
        out["uptake_by"] = values
    return out


def check_report_against_csv(report: dict[str, Any], tokens_csv: Path,
                             customers_csv: Path, by: str | None) -> None:
    want = recount(read_csv(tokens_csv), read_csv(customers_csv), by)
    for key in ("customers", "fetched", "failed", "pending", "with_tokens", "tokens",
                "by_type", "by_issuer", "by_brand"):
        assert report[key] == want[key], key
    assert report["uptake"] == want["uptake"]
    assert sum(report["by_issuer"].values()) == report["tokens"]
    assert report["direct_debit"] == want["by_type"][DIRECT_DEBIT]
    assert report["credit_card"] == want["by_type"][CREDIT_CARD]
    if by is not None:
        got = report["uptake_by"][by]
        assert set(got) == set(want["uptake_by"])
        for value, counts in want["uptake_by"].items():
            for k, n in counts.items():
                assert got[value][k] == n, (value, k)
            expected = counts["with_tokens"] / counts["fetched"] if counts["fetched"] else None
            assert got[value]["uptake"] == expected


def test_report_json_equals_recount_from_exported_csvs(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for run in ("1", "2"):
        tokens_csv, customers_csv = data_dir / f"t{run}.csv", data_dir / f"c{run}.csv"
        assert cli(capsys, "export", run, "--what", "tokens", "--format", "csv",
                   "-o", str(tokens_csv))[0] == 0
        assert cli(capsys, "export", run, "--what", "customers", "-o", str(customers_csv))[0] == 0
        for by in ("segment", "city"):
            code, out, err = cli(capsys, "report", run, "--json", "--by", by)
            assert code == 0
            assert err == ""
            check_report_against_csv(json.loads(out), tokens_csv, customers_csv, by)


@pytest.mark.usefixtures("data_dir")
def test_report_hand_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "report", "1", "--json", "--by", "segment")
    r = json.loads(out)
    assert code == 0
    assert (r["customers"], r["fetched"], r["failed"], r["pending"]) == (8, 6, 1, 1)
    assert (r["with_tokens"], r["tokens"]) == (4, 7)
    assert r["uptake"] == 4 / 6
    assert r["by_brand"] == {DIRECT_DEBIT_BRAND: 4, UNKNOWN_BRAND: 1, "mastercard": 1,
                             "visa": 1}
    assert r["uptake_by"]["segment"]["gold"] == {
        "customers": 3, "fetched": 2, "failed": 1, "pending": 0, "with_tokens": 2,
        "uptake": 1.0, "small": True,
    }
    assert r["uptake_by"]["segment"][BLANK]["uptake"] is None
    assert r["tokens_per_customer"] == {"0": 2, "1": 2, "2": 1, "3": 1, "4": 0, "5+": 0}
    latest = json.loads(cli(capsys, "report", "latest", "--json")[1])
    assert latest["run_id"] == 2
    assert latest["with_tokens"] == 6


@pytest.mark.usefixtures("data_dir")
def test_report_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "report", "1", "--by", "segment")
    assert code == 0
    assert "Uptake     66.7%  (4 of 6 fetched customers hold at least one token)" in out
    assert "failed   1  (excluded from uptake)" in out
    assert "Direct debit (no brand)       4" in out
    assert "Uptake by segment" in out


def test_errors_are_one_line(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = store_where(data_dir)
    for argv, line in (
        (("report", "42"), f"error: no such run: run 42 is not in {db}"),
        (("report", "first"),
         "error: invalid input: run id must be a number or 'latest', not 'first'"),
        (("report", "1", "--by", "region"), "error: invalid input: no attribute column "
                                            "'region' (available: 'segment', 'city')"),
        (("compare", "1", "9"), f"error: no such run: run 9 is not in {db}"),
        (("export", "1", "--what", "tokens", "--format", "xlsx", "-o", "-"),
         "error: invalid input: xlsx is binary: give a file path with -o, not -"),
    ):
        code, out, err = cli(capsys, *argv)
        assert (code, out, err) == (1, "", line + "\n")


@both_backends
def test_latest_on_empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOKU_DATA_DIR", str(tmp_path))
    code, out, err = cli(capsys, "report", "latest")
    assert (code, out) == (1, "")
    assert err == f"error: no such run: there are no runs yet in {store_where(tmp_path)}\n"
    assert cli(capsys, "runs")[1] == "no runs yet\n"


@pytest.mark.usefixtures("data_dir")
def test_compare_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "compare", "1", "2", "--json")
    c = json.loads(out)
    assert code == 0
    assert (c["in_both"], c["only_in_a"], c["only_in_b"]) == (6, 2, 1)
    assert (c["fetched_in_both"], c["not_comparable"]) == (4, 2)
    assert (c["gained"], c["lost"], c["unchanged"]) == (2, 1, 1)
    assert (c["tokens_added"], c["tokens_removed"]) == (2, 1)
    assert c["uptake_change"] == pytest.approx(1 - 4 / 6)
    text = cli(capsys, "compare", "1", "latest")[1]
    assert "gained tokens 2: C2, C3" in text
    assert "+33.3 pp" in text


@pytest.mark.usefixtures("data_dir")
def test_runs(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads(cli(capsys, "runs", "--json")[1])
    assert [r["id"] for r in rows] == [2, 1]
    assert {k: rows[1][k] for k in ("customers", "fetched", "failed", "pending", "tokens",
                                    "rejected", "duplicates")} == {
        "customers": 8, "fetched": 6, "failed": 1, "pending": 1, "tokens": 7, "rejected": 0,
        "duplicates": 0,
    }
    assert "client" not in json.dumps(rows)
    text = cli(capsys, "runs")[1].splitlines()
    assert text[0].split()[:5] == ["id", "created", "status", "name", "input"]
    assert len(text) == 3


def test_export_stdout_and_files(data_dir: Path, capsysbinary: pytest.CaptureFixture[bytes]
                                 ) -> None:
    assert main(["export", "1", "--what", "errors", "-o", "-"]) == 0
    out = capsysbinary.readouterr().out.decode()
    assert out.splitlines()[1].startswith("C5,server_error,server error,upstream 503,503,3")
    for fmt in ("xlsx", "parquet"):
        path = data_dir / f"c.{fmt}"
        assert main(["export", "latest", "--what", "customers", "-o", str(path)]) == 0
        assert path.stat().st_size > 0
        assert not list(data_dir.glob("*.part"))
    assert b"wrote 7 customers rows of run 2" in capsysbinary.readouterr().out


def test_python_dash_m_entry_point(data_dir: Path, backend: str,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m doku` runs the same dispatcher and exits with its status."""
    monkeypatch.setattr("sys.argv", ["doku", "report", "latest", "--json"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("doku", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert json.loads(out)["tokens"] == 8
    assert (data_dir / DB_NAME).is_file() is (backend == SQLITE)  # PostgreSQL: no file


def check_random_run(customers: list[GenCustomer], monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's report of a generated run equals a recount of its exported CSVs."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        monkeypatch.setenv("DOKU_DATA_DIR", tmp)
        store = open_store(folder)  # PostgreSQL: one database for every example
        run = store_run(store, customers).run.id
        store.close()
        capsys.readouterr()
        assert main(["export", str(run), "--what", "tokens", "-o", str(folder / "t.csv")]) == 0
        assert main(["export", str(run), "--what", "customers",
                     "-o", str(folder / "c.csv")]) == 0
        capsys.readouterr()
        assert main(["report", str(run), "--json", "--by", "segment"]) == 0
        report = json.loads(capsys.readouterr().out)
        check_report_against_csv(report, folder / "t.csv", folder / "c.csv", "segment")
        assert report["with_tokens"] == sum(
            c.status == "fetched" and bool(c.tokens) for c in customers
        )


GENERATED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                           HealthCheck.function_scoped_fixture])


@settings(GENERATED, max_examples=25)
@given(customers=gen_run())
def test_random_runs_report_equals_csv_recount(
    customers: list[GenCustomer], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    check_random_run(customers, monkeypatch, capsys)


# Fewer examples: every CLI call opens the store anew, several times slower on PostgreSQL
# (the frames, and with them the report, are shown equal on both in test_frames).
@settings(GENERATED, max_examples=6)
@given(customers=gen_run())
def test_random_runs_report_equals_csv_recount_on_postgresql(
    customers: list[GenCustomer], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], pg_store_url: str,
) -> None:
    monkeypatch.setenv(DATABASE_URL_KEY, pg_store_url)
    check_random_run(customers, monkeypatch, capsys)


def test_csv_is_plain_rfc4180(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data_dir / "x.csv"
    cli(capsys, "export", "1", "--what", "tokens", "-o", str(path))
    raw = path.read_bytes()
    assert raw.startswith(b"customer_id,")
    assert b"\r\n" in raw
    assert next(iter(csv.reader(io.StringIO(raw.decode(), newline=""))))[0] == "customer_id"
