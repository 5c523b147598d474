"""The pure ui helpers: formatting (present), error advice (advice), cache identities
(keys) and deferred downloads (downloads)."""

from __future__ import annotations

import math
import threading

import pytest

from doku.engine.schema import RunInfo
from doku.errors import (
    ERROR_CODES,
    AuthenticationError,
    DokuError,
    NoSuchRunError,
    RateLimitedError,
    SignatureMismatchError,
    TransportError,
)
from ui import advice, present
from ui.downloads import BytesCache, deferred_bytes
from ui.keys import RUNNING_REFRESH_S, RunRef, filters_identity, make_filters, run_ref, run_version


def run_info(**changes: object) -> RunInfo:
    values: dict[str, object] = dict(
        id=7, created_at="2026-11-02T09:15:42+00:00", started_at=None,
        finished_at="2026-11-02T09:20:00+00:00", status="done", env="simulator",
        base_url=None, client_id="MCH-1", input_name="customers.csv", token_type=None,
        options={}, attribute_columns=[], customers=1200, rejected=2, duplicates=3,
        blank_rows=0, store_token_ids=False, error=None, fetched=1000, failed=150,
        pending=50, with_tokens=640, tokens=1500,
    )
    values.update(changes)
    return RunInfo(**values)  # type: ignore[arg-type]


# -- present ------------------------------------------------------------------------------
def test_numbers_and_shares() -> None:
    assert (present.fmt_int(None), present.fmt_int(0), present.fmt_int(1234567)) == (
        "-", "0", "1,234,567"
    )
    assert present.fmt_share(None) == "-"
    assert present.fmt_share(math.nan) == "-"
    assert present.fmt_share(0.0) == "0.0 %"
    assert present.fmt_share(2 / 3) == "66.7 %"
    assert present.fmt_share(0.5, digits=0) == "50 %"
    assert (present.plural(1, "token"), present.plural(3, "token")) == ("1 token", "3 tokens")


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (-3, "0 s"), (0.4, "0 s"), (59.4, "59 s"), (60, "1 min 00 s"),
    (125, "2 min 05 s"), (3600, "1 h 00 min"), (7322, "2 h 02 min"),
])
def test_durations(seconds: float | None, text: str) -> None:
    assert present.fmt_seconds(seconds) == text


def test_times_and_run_labels() -> None:
    assert present.fmt_time(None) == "-"
    assert present.fmt_time("2026-11-02T09:15:42+00:00") == "2026-11-02 09:15 UTC"
    run = run_info()
    assert present.run_label(run) == (
        "#7 · customers.csv · 1,200 customers · all types · 2026-11-02"
    )
    assert present.uptake_of(run) == pytest.approx(0.64)
    assert present.uptake_of(run_info(fetched=0, with_tokens=0)) is None


def test_badges() -> None:
    assert present.badge("aborted") == ("Stopped", "red", ":material/error:")
    assert present.badge("mystery") == ("mystery", "gray", None)
    assert set(present.RESUMABLE) <= set(present.STATUS_BADGE)


def test_history_frame() -> None:
    frame = present.history_frame([run_info(), run_info(id=6, fetched=0, with_tokens=0,
                                                        token_type="CREDIT_CARD")])
    assert list(frame["run"]) == [7, 6]
    assert frame["uptake"][0] == pytest.approx(64.0)
    assert frame["uptake"].isna()[1]  # nothing fetched: no uptake, not 0 %
    assert list(frame["type"]) == ["all types", "Credit card"]
    assert list(frame["created"]) == ["2026-11-02 09:15 UTC"] * 2


def test_run_from_query() -> None:
    assert present.run_from_query("6", [7, 6], 7) == 6
    for wanted in (None, "", "9", "six", "-6"):
        assert present.run_from_query(wanted, [7, 6], 7) == 7


# -- advice -------------------------------------------------------------------------------
def test_advice_is_keyed_on_known_codes() -> None:
    assert set(advice.ADVICE) <= set(ERROR_CODES)
    assert set(advice.TITLES) <= set(ERROR_CODES)
    missing = set(ERROR_CODES) - set(advice.ADVICE)
    assert missing <= {"no_such_run"}  # its message says it all: the fallback applies


def test_advice_follows_the_code_not_the_label() -> None:
    class Throttled(RateLimitedError):
        kind = "throttled by DOKU"  # a reworded label, same code

    exc = Throttled("slow down")
    assert advice.error_title(exc) == "Rate limited"
    assert "lower the requests per second" in advice.error_text(exc)


def test_a_subclass_with_its_own_code_gets_its_own_advice() -> None:
    class SlowAnswer(TransportError):
        code = "deadline_exceeded"
        kind = "deadline exceeded"

    exc = SlowAnswer("no answer within 35 s")
    assert advice.error_title(exc) == "DOKU too slow"
    assert advice.advice_for(exc.code) != advice.advice_for(TransportError.code)


def test_titles_fall_back_to_the_label() -> None:
    assert advice.error_title(TransportError("x")) == "DOKU unreachable"
    assert advice.error_title(NoSuchRunError("run 9 is not in x")) == "No such run"
    assert advice.error_title(DokuError("x")) == "Error"


def test_error_text_says_what_happened_what_to_do_and_the_details() -> None:
    exc = AuthenticationError("rejected the signature", status=401,
                              doku_message="Invalid signature", request_id="req-123")
    exc.attempts = 2
    text = advice.error_text(exc)
    parts = text.split("\n\n")
    assert parts[0] == "rejected the signature"
    assert parts[1] == "DOKU said: Invalid signature"
    assert parts[2] == advice.ADVICE["authentication"]
    assert parts[3] == r"HTTP 401 · Request-Id req\-123 · 2 attempts"
    plain = advice.error_text(SignatureMismatchError("bad signature"))
    assert plain == "bad signature\n\n" + advice.ADVICE["signature_mismatch"]
    assert advice.error_text(NoSuchRunError("run 9")).endswith(advice.FALLBACK_ADVICE)


HOSTILE = "**bold** [link](http://x.test) :red[red] <b>html</b>\n# heading"


def test_error_text_escapes_what_came_from_outside() -> None:
    exc = AuthenticationError(HOSTILE, status=401, doku_message=HOSTILE + " (DOKU)",
                              request_id="`req` *1*")
    parts = advice.error_text(exc).split("\n\n")
    assert parts[0] == present.escape_md(HOSTILE, present.ERROR_CHARS)
    assert parts[1] == "DOKU said: " + present.escape_md(HOSTILE + " (DOKU)",
                                                         present.ERROR_CHARS)
    assert parts[2] == advice.ADVICE["authentication"]  # ours: Markdown kept
    assert parts[3] == r"HTTP 401 · Request-Id \`req\` \*1\*"

    class Odd(DokuError):
        code = "odd"
        kind = "odd **kind**"

    assert advice.error_title(Odd("x")) == r"Odd \*\*kind\*\*"


def test_every_error_code_has_advice_or_its_message_says_it_all() -> None:
    assert set(ERROR_CODES) - set(advice.ADVICE) <= {"no_such_run"}
    for code in ERROR_CODES:
        assert advice.advice_for(code)


# -- keys ---------------------------------------------------------------------------------
def test_filters_are_canonical() -> None:
    one = make_filters(["CREDIT_CARD"], ["BNI", "BCA", "BCA"], [], {"region": ["Bali", "Aceh"],
                                                                  "plan": []})
    two = make_filters(("CREDIT_CARD",), ("BCA", "BNI"), (), {"region": ("Aceh", "Bali")})
    assert one == two
    assert one.issuers == ("BCA", "BNI")
    assert dict(one.attributes) == {"region": ("Aceh", "Bali")}  # empty selection dropped
    assert filters_identity(one) == filters_identity(two)
    assert hash(filters_identity(one)) == hash(filters_identity(two))
    assert filters_identity(one) != filters_identity(make_filters(["CREDIT_CARD"]))
    assert not make_filters().active


def test_filter_attributes_keep_their_order() -> None:
    f = make_filters(attributes={"region": ["Bali"], "plan": ["basic"]})
    assert f.describe() == "region: Bali; plan: basic"


def test_run_versions() -> None:
    done = run_info()
    assert run_version(done) == ("done", done.finished_at, 1000, 150, 50, 1500)
    assert run_version(run_info(failed=0)) != run_version(done)  # a retry changed it
    running = run_info(status="running")
    t = 1000 * RUNNING_REFRESH_S
    assert run_version(running, now=t) == run_version(running, now=t + RUNNING_REFRESH_S - 1)
    assert run_version(running, now=t) != run_version(running, now=t + RUNNING_REFRESH_S)
    ref = run_ref("/data", done)
    assert ref == RunRef("/data", 7, run_version(done))
    assert ref.name == "doku-run-7"


# -- downloads ------------------------------------------------------------------------------
def test_bytes_cache_is_a_small_lru() -> None:
    cache = BytesCache(max_entries=2)
    made: list[str] = []

    def maker(key: str) -> bytes:
        made.append(key)
        return key.encode()

    for key in ("a", "b", "a", "c", "b"):
        assert cache.get(key, lambda key=key: maker(key)) == key.encode()
    assert made == ["a", "b", "c", "b"]  # "b" was evicted by "c" ("a" was used more recently)


def test_deferred_bytes_encode_text_and_turn_errors_into_a_file() -> None:
    cache = BytesCache()
    assert deferred_bytes(("k", "text"), lambda: "é\n", cache)() == "é\n".encode()

    def refused() -> bytes:
        raise NoSuchRunError("run 9 is not in /data")

    assert deferred_bytes(("k", "doku"), refused, cache)() == (
        b"export failed: no such run: run 9 is not in /data\n"
    )


def test_deferred_bytes_work_from_server_threads() -> None:
    cache = BytesCache()
    build = deferred_bytes(("k", "threads"), lambda: b"x", cache)
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(build())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"x"] * 4
