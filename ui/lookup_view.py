"""Customer lookup: fetch one customer's tokens, and the card that shows them.

The customer ID is typed by the analyst and the name, issuers and brands come from
DOKU: in Markdown they go through `escape_md`; the token table shows them as cells.

Every lookup is in the audit trail (`doku.engine.lookups` records it), and so is every
reveal of token IDs: a lookup made while "Reveal token IDs" is on records both, and
turning it on records one REVEAL for the result shown. Only admins are offered the
toggle; full IDs are drawn only for a result whose reveal is on record (`REVEALED`),
so a forged toggle value shows nothing more."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from doku.access import LOOKUP, REVEAL
from doku.client.tokens import TokenResult
from doku.engine import trail
from doku.engine.lookups import lookup_tokens
from doku.errors import DokuError
from doku.settings import Settings
from ui import auth, columns, state
from ui.chrome import current_actor
from ui.present import escape_md, plural, shorten, spelled

TOKEN_TABLE = ["type", "issuer", "brand", "masked_card", "token_id"]
OUTCOME = "lookup_outcome"  # session_state: the last TokenResult or DokuError
TOGGLE = "lookup_reveal"  # the admin's "Reveal token IDs" toggle
REVEALED = "lookup_revealed"  # session_state: Request-Id of the result revealed on record


def look_up(
    settings: Settings, customer_id: str, token_type: str | None
) -> TokenResult | DokuError:
    """One signed request for the customer's tokens, recorded in the audit trail (with
    a REVEAL when the toggle is on: the result is then shown revealed). A DokuError
    (a refusal too) is returned, not raised, so the page can keep it in the session
    and show it until the next lookup."""
    try:
        actor = auth.acting(LOOKUP)
        reveal = bool(st.session_state.get(TOGGLE)) and actor.allowed(REVEAL)
        result = lookup_tokens(customer_id, token_type, settings=settings, reveal=reveal,
                               store=state.get_store(), actor=actor,
                               raw_ids=auth.policy().raw_customer_ids, pool_size=1)
    except DokuError as exc:
        return exc
    if reveal and result.tokens:
        st.session_state[REVEALED] = result.request_id
    return result


def _on_reveal() -> None:
    """The toggle turned on: one REVEAL entry for the result shown, or (refused, or the
    trail cannot be written) the toggle back off."""
    outcome = st.session_state.get(OUTCOME)
    if not st.session_state.get(TOGGLE) or not isinstance(outcome, TokenResult):
        return
    actor = auth.callback_actor(REVEAL)
    if actor is not None:
        try:
            state.get_store().record_event(
                actor, trail.REVEAL,
                trail.customer_ref(outcome.customer_id, raw=auth.policy().raw_customer_ids),
                {"token_type": outcome.token_type, "tokens": len(outcome.tokens),
                 "what": "token IDs"})
        except DokuError as exc:
            auth.keep_problem(exc)
        else:
            st.session_state[REVEALED] = outcome.request_id
            return
    st.session_state[TOGGLE] = False


def revealed(result: TokenResult) -> bool:
    """Whether to draw full token IDs: asked for, allowed, and on record."""
    if not st.session_state.get(TOGGLE):
        return False
    if not current_actor().allowed(REVEAL):
        st.error("Your role does not include revealing token IDs: they stay masked.",
                 title="Not allowed", icon=":material/block:")
        return False
    return bool(st.session_state.get(REVEALED) == result.request_id)


def result_caption(result: TokenResult) -> str:
    """Who was asked, how long it took and the Request-Id (Markdown, values escaped)."""
    return (
        f"Customer ID {escape_md(result.customer_id)} · {result.latency_ms:,.0f} ms · "
        f"Request-Id {escape_md(result.request_id)}"
        + (f" · {result.attempts:d} attempts" if result.attempts > 1 else "")
    )


def scope_text(token_type: str | None) -> str:
    """' of type CREDIT_CARD' when the lookup asked for one type (Markdown)."""
    return f" of type {escape_md(token_type)}" if token_type else ""


def show_result(result: TokenResult) -> None:
    """Who the customer is, whether the answer was signed, and their tokens (IDs masked
    unless an admin reveals them with the `lookup_reveal` toggle)."""
    with st.container(border=True):
        name = next((t.customer_name for t in result.tokens if t.customer_name), None)
        with st.container(horizontal=True, vertical_alignment="center"):
            st.subheader(escape_md(name or result.customer_id) or "(no name)")
            if result.signature_verified:
                st.badge("Response signature verified", icon=":material/verified:",
                         color="green")
            else:
                st.badge("Response not signed (simulator)", icon=":material/info:",
                         color="gray")
        st.caption(result_caption(result))
        if not result.tokens:
            st.warning(
                f"No tokens{scope_text(result.token_type)} for "
                f"{escape_md(result.customer_id)}. DOKU answers the same for "
                "a customer without tokens and for an unknown customer ID, so this does "
                "not prove the customer exists.",
                icon=":material/search_off:",
            )
            return
        if current_actor().allowed(REVEAL):
            st.toggle(
                "Reveal token IDs",
                key=TOGGLE,
                on_change=_on_reveal,
                help="Token IDs are payment credentials: they stay masked (first and "
                "last 4 characters) unless you reveal them. Each reveal is recorded in "
                "the audit trail.",
            )
        reveal = revealed(result)
        rows = [t.to_dict(reveal=reveal) for t in result.tokens]
        st.markdown(f"**{plural(len(rows), 'token')}{scope_text(result.token_type)}**")
        st.dataframe(
            spelled(pd.DataFrame(rows)[TOKEN_TABLE]),
            hide_index=True,
            column_config=columns.lookup_tokens(revealed=reveal),
            alt=f"Stored tokens of customer {shorten(result.customer_id)}",
        )


def prefill(param: str = "customer") -> None:
    """A link's `?customer=ID` fills the Customer ID box once (the analyst may then
    type another; a new link fills it again)."""
    wanted = st.query_params.get(param)
    if wanted and st.session_state.get("lookup_prefilled") != wanted:
        st.session_state["lookup_prefilled"] = wanted
        st.session_state["lookup_customer_id"] = wanted[:50]
        st.session_state.pop(OUTCOME, None)
