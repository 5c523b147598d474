"""AppTest of the Customer lookup page, on the built-in simulator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from doku.settings import SIMULATOR_CLIENT_ID, SIMULATOR_SECRET_KEY
from doku.simulator.world import GUIDE_CUSTOMER_ID, GUIDE_CUSTOMER_NAME, tokens_for
from tests.apptest_support import isolate, open_page, shown
from tests.backend_support import both_backends
from tests.simulator_fixtures import MakeSimulator
from ui.advice import ADVICE, TITLES

LOOKUP = "pages/1_Customer_lookup.py"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path / "data")


def open_lookup() -> AppTest:
    return open_page(LOOKUP)


def look_up(at: AppTest, customer_id: str, token_type: str | None = None) -> AppTest:
    at.text_input(key="lookup_customer_id").set_value(customer_id)
    if token_type is not None:
        at.selectbox(key="lookup_type").select(token_type)
    at.button(key="lookup_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def token_ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["token_id"])


@both_backends  # the page reads no runs: its sidebar names the store
def test_lookup_guide_customer_masked_then_revealed() -> None:
    at = look_up(open_lookup(), GUIDE_CUSTOMER_ID)
    assert any("built-in simulator" in i.value for i in at.info)
    assert not at.error
    assert [shown(s.value) for s in at.subheader] == [GUIDE_CUSTOMER_NAME]
    table = at.dataframe[0].value
    assert len(table) == 3
    assert sorted(table["type"]) == ["Credit card", "Direct debit", "Direct debit"]
    masked = token_ids(at)
    assert all("*" in t and len(t) == 32 for t in masked)
    assert any("Response signature verified" in m.value for m in at.markdown)  # st.badge
    captions = shown(" ".join(c.value for c in at.caption))
    assert "Request-Id" in captions
    assert " ms" in captions

    at.toggle(key="lookup_reveal").set_value(True).run()
    revealed = token_ids(at)
    assert all("*" not in t and len(t) == 32 for t in revealed)
    assert [(m[:4], m[-4:]) for m in masked] == [(r[:4], r[-4:]) for r in revealed]


def test_lookup_no_tokens_says_unknown_and_empty_look_the_same() -> None:
    # About a third of the simulator's customers hold no token: take the first one.
    nobody = next(f"NOBODY-{i}" for i in range(100) if not tokens_for(f"NOBODY-{i}"))
    at = look_up(open_lookup(), nobody)
    assert at.warning
    assert f"No tokens for {nobody}." in shown(at.warning[0].value)
    assert "unknown customer ID" in shown(at.warning[0].value)
    assert not at.dataframe


def test_lookup_filters_by_type() -> None:
    at = look_up(open_lookup(), GUIDE_CUSTOMER_ID, "CREDIT_CARD")
    table = at.dataframe[0].value
    assert list(table["type"]) == ["Credit card"]


def test_lookup_empty_id_asks_for_one() -> None:
    at = look_up(open_lookup(), "   ")
    assert not at.error
    assert "Enter a customer ID" in shown(at.warning[0].value)


def test_lookup_invalid_id_is_an_input_error_not_a_traceback() -> None:
    at = look_up(open_lookup(), "bad\x07id")
    assert at.error
    assert "control character" in shown(at.error[0].value)
    assert "Check the input" in shown(at.error[0].value)


@both_backends  # the page reads no runs: its sidebar names the store
def test_lookup_with_wrong_secret_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded simulator knows the demo key only: another key is rejected."""
    import doku.engine.connection

    sim_url = doku.engine.connection.embedded_simulator_url(doku.settings.load_settings(secrets={}))
    monkeypatch.setenv("DOKU_ENV", "sandbox")
    monkeypatch.setenv("DOKU_BASE_URL", sim_url)
    monkeypatch.setenv("DOKU_CLIENT_ID", doku.settings.SIMULATOR_CLIENT_ID)
    monkeypatch.setenv("DOKU_SECRET_KEY", "SK-wrong-key")
    at = look_up(open_lookup(), GUIDE_CUSTOMER_ID)
    assert not at.info  # no simulator banner: this is "sandbox"
    assert at.error
    text = shown(at.error[0].value)
    assert "DOKU_CLIENT_ID" in text
    assert "DOKU_SECRET_KEY" in text
    assert "SK-wrong-key" not in text


def test_an_untrusted_answer_is_titled_and_advised_by_its_error_code(
    monkeypatch: pytest.MonkeyPatch, make_simulator: MakeSimulator
) -> None:
    """Every answer of this simulator has a wrong signature: never retried, never shown."""
    sim = make_simulator(bad_signature_rate=1.0)
    monkeypatch.setenv("DOKU_ENV", "sandbox")
    monkeypatch.setenv("DOKU_BASE_URL", sim.url)
    monkeypatch.setenv("DOKU_CLIENT_ID", SIMULATOR_CLIENT_ID)
    monkeypatch.setenv("DOKU_SECRET_KEY", SIMULATOR_SECRET_KEY)
    at = look_up(open_lookup(), GUIDE_CUSTOMER_ID)
    assert len(at.error) == 1
    error = at.error[0]
    assert error.proto.title == TITLES["signature_mismatch"] == "Response signature mismatch"
    assert ADVICE["signature_mismatch"] in error.value
    assert re.search(r"Request-Id [0-9a-f-]{36}$", shown(error.value))
    assert not at.dataframe
    assert not at.subheader  # nothing from the untrusted answer


def test_lookup_with_bad_configuration_shows_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOKU_ENV", "staging")
    at = open_lookup()
    assert at.error
    assert "DOKU_ENV" in shown(at.error[0].value)
    assert not at.text_input
