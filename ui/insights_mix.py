"""Insights' issuer mix, the figure a PM asks for first: per token type, each issuer's
share of that type's tokens and of its token holders, with the change in points
against the previous comparable run (`comparison.previous_comparable`); beside it, the
credit-card brands.

Filters: the type, brand and segment filters narrow the mix, and the earlier run
alike (like is compared with like); the issuer filter does not (a mix of one issuer is
always 100 %). The card-brand chart applies every filter. Issuers and brands are shown
literally in charts and table cells; run names go through `escape_md` in captions."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from doku.analysis import chart_specs
from doku.analysis.filters import Filters
from doku.engine.schema import RunInfo
from doku.engine.store import Store
from doku.models import CREDIT_CARD
from ui import data
from ui.insights_charts import chart_card, chart_label
from ui.insights_drill import BRAND, MIX, drill
from ui.keys import RunRef, make_filters
from ui.present import NOT_REQUESTED, escape_md, in_scope, md_list, run_label, spelled, type_name

READING = ("Each bar is an issuer's share of that token type's tokens, with its change "
           "in percentage points. The table adds the share of the type's token holders "
           "(customers holding at least one such token).")
FILTER_NOTE = ("Filters: the token type, brand and segment filters apply to both runs "
               "alike; the issuer filter does not (a mix of one issuer is always "
               "100\u00a0%). The credit-card brand chart applies every filter.")
_text = st.column_config.TextColumn
_number = st.column_config.NumberColumn
_CHANGE_HELP = ("Change in percentage points against the earlier run; blank when there "
                "is none, or it held no token of this type.")
TABLE_COLUMNS = {
    "type": _text("Type"),
    "issuer": _text("Issuer"),
    "tokens": _number("Tokens", format="localized"),
    "token_share": _number("Share of type's tokens", format="%.1f %%"),
    "token_share_change_pp": _number("Change, pp", format="%+.1f", help=_CHANGE_HELP),
    "holders": _number("Customers holding", format="localized"),
    "holder_share": _number("Share of type's holders", format="%.1f %%"),
    "holder_share_change_pp": _number("Holders change, pp", format="%+.1f", help=_CHANGE_HELP),
}
TABLE_ORDER = ("type", "issuer", "tokens", "token_share", "token_share_change_pp", "holders",
               "holder_share", "holder_share_change_pp")


@dataclass(frozen=True)
class Baseline:
    """What the mix's change is measured against: the earlier comparable run, and
    the filtered columns it lacks. `ref` is None when no change can be shown."""

    run: RunInfo | None
    ref: RunRef | None
    missing: tuple[str, ...] = ()


def mix_filters(filters: Filters) -> Filters:
    """The page's filters without the issuer filter."""
    return make_filters(filters.types, (), filters.brands, filters.attributes)


def baseline(store: Store, run: RunInfo, filters: Filters) -> Baseline:
    previous = data.previous_run(store, run)
    if previous is None:
        return Baseline(None, None)
    ref = data.ref(store, previous)
    missing = tuple(a for a in filters.attributes if a not in data.attributes_of(ref))
    return Baseline(previous, None if missing else ref, missing)


def phrase(base: Baseline) -> str:
    """What the change is against, for a chart subtitle (plain text)."""
    if base.run is None:
        return "no earlier comparable run"
    if base.ref is None:
        return f"no change: run #{base.run.id:d} lacks a filtered column"
    return f"change in points vs run #{base.run.id:d}"


def caption(base: Baseline) -> str:
    """What the change is against, and why there is none (Markdown)."""
    if base.run is None:
        return ("No earlier comparable run (the same name, or the same input file, token "
                "types and environment): no change in points is shown.")
    label = escape_md(run_label(base.run))
    if base.ref is None:
        return (f"No change in points: the earlier comparable run {label} has no column "
                f"{md_list(base.missing)} to apply the same filters to.")
    return (f"Change in points against {label}, the previous run of this series (same "
            "name, or same input file, token types and environment), with the same filters.")


def no_change_note(mix: pd.DataFrame, base: Baseline) -> str | None:
    """Which types have no change although there is an earlier run, and why (Markdown)."""
    if base.run is None or base.ref is None:
        return None
    notes = []
    for token_type in dict.fromkeys(mix["type"]):
        rows = mix[mix["type"] == token_type]
        if rows["token_share_change_pp"].isna().all():
            why = ("did not request them" if not in_scope(base.run, token_type)
                   else "had none (with these filters)")
            notes.append(f"{escape_md(type_name(token_type))}: run #{base.run.id:d} {why}")
    return ("No change for " + "; ".join(notes) + ".") if notes else None


def section(store: Store, run: RunInfo, ref: RunRef, filters: Filters) -> None:
    """The issuer mix charts (one per token type), the card brands and a note on how
    to read them, two to a row; then the mix as a table."""
    st.subheader(":material/donut_large: Issuer mix")
    narrowed = mix_filters(filters)
    base = baseline(store, run, narrowed)
    mix = data.issuer_mix(ref, base.ref, narrowed)
    cards = [("mix", t) for t in dict.fromkeys(mix["type"])] + [("brands", ""), ("about", "")]
    for row in range(0, len(cards), 2):
        for cell, (card, token_type) in zip(st.columns(2), cards[row:row + 2], strict=False):
            with cell:
                if card == "mix":
                    mix_card(mix, token_type, ref, narrowed, base)
                elif card == "brands":
                    card_brands(run, ref, filters)
                else:
                    about(mix, base)
    if mix.empty:
        return
    table = spelled(mix).assign(token_share=mix["token_share"] * 100,
                                holder_share=mix["holder_share"] * 100)
    st.dataframe(table, hide_index=True, column_config=TABLE_COLUMNS,
                 column_order=TABLE_ORDER, height=min(38 + 35 * len(table), 600),
                 alt="Issuer mix per token type")


def mix_card(mix: pd.DataFrame, token_type: str, ref: RunRef, filters: Filters,
             base: Baseline) -> None:
    chart = chart_specs.issuer_mix_spec(mix[mix["type"] == token_type], token_type,
                                    chart_label(ref, filters), phrase(base), pick=True)
    chart_card(f"mix_{token_type.lower()}", chart,
               f"Issuer mix of {type_name(token_type).lower()} tokens", ref, filters,
               variant=repr(base.ref), pick=drill(ref, MIX))


def about(mix: pd.DataFrame, base: Baseline) -> None:
    """How to read the mix: against which run, and what the filters do."""
    with st.container(border=True, height="stretch"):
        st.markdown("**:material/info: Reading the issuer mix**")
        if mix.empty:
            st.caption("No tokens (with these filters): there is no issuer mix to show.")
        st.caption(READING)
        st.caption(caption(base))
        note = no_change_note(mix, base)
        if note:
            st.caption(note)
        st.caption(FILTER_NOTE)


def card_brands(run: RunInfo, ref: RunRef, filters: Filters) -> None:
    """Credit-card tokens by brand; "not requested" when the run did not ask for them."""
    if not in_scope(run, CREDIT_CARD):
        st.info(f"Credit-card brands: {NOT_REQUESTED}. This run did not ask DOKU for "
                "credit cards.", icon=":material/credit_card_off:")
        return
    brands = data.card_brands(ref, filters)
    if brands.empty:
        st.info("Credit-card brands: no credit-card token matches the filters.",
                icon=":material/filter_alt_off:")
        return
    chart = chart_specs.brand_spec(
        brands, chart_label(ref, filters), pick=True, title_text="Credit-card tokens by brand",
        subtitle="Credit cards only (direct debit has no brand); share of credit-card tokens")
    chart_card("card_brands", chart, "Credit-card tokens by brand", ref, filters,
               pick=drill(ref, BRAND))
