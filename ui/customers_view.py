"""Insights: the customers of the whole run (those holding no token included), searched
by customer ID or name on the server (`Store.find_customers`), and a link to look one
customer up live on Customer lookup (its ID prefilled through `?customer=`).

IDs and names are shown literally in the table; in the link's label they are
`escape_md`'d."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from doku.access import LOOKUP as LOOKS_UP
from doku.analysis.frames import RunFrames, customers_frame
from doku.engine.schema import RunInfo
from doku.engine.store import Store
from ui import columns
from ui.chrome import current_actor
from ui.present import LOOKUP, escape_md

SEARCH_LIMIT = 100
TABLE_ROWS = 2_000
LOOKUP_PARAM = "customer"
SHOWN = ["customer_id", "customer_name", "status", "n_tokens", "n_direct_debit",
         "n_credit_card", "error_kind"]


def search(store: Store, run: RunInfo, query: str) -> pd.DataFrame:
    """Up to SEARCH_LIMIT customers of the whole run whose ID or name contains `query`
    (case-insensitive), searched by the store, not in the page."""
    rows = store.find_customers(run.id, query, limit=SEARCH_LIMIT)
    return customers_frame(rows, run.attribute_columns)


def section(store: Store, run: RunInfo, frames: RunFrames) -> None:
    """The search box, the customers table (one row selectable) and the lookup link
    (for roles that include Customer lookup)."""
    looks_up = current_actor().allowed(LOOKS_UP)
    query = st.text_input("Find a customer by ID or name", key="insights_customer_q",
                          placeholder="e.g. CUST-0001 or a name", max_chars=100, width=360)
    query = (query or "").strip()
    found = search(store, run, query) if query else frames.customers.head(TABLE_ROWS)
    shown = found[[c for c in SHOWN if c in found.columns]].reset_index(drop=True)
    event = st.dataframe(shown, hide_index=True, height=300, key="insights_customers",
                         on_select="rerun" if looks_up else "ignore",
                         selection_mode="single-row",
                         column_config=columns.CUSTOMERS, alt=f"Customers of run {run.id}")
    pick = " Pick a row to look that customer up live." if looks_up else ""
    total = len(frames.customers)
    if query:
        more = " (the first ones: narrow the search)" if len(found) >= SEARCH_LIMIT else ""
        st.caption(f"{len(found):,} customers of {total:,} match{more}.{pick}")
    else:
        st.caption(f"Showing {len(shown):,} of {total:,} customers of the whole run (the "
                   "filters above do not apply here), those holding no token included; "
                   f"search to find any of them.{pick}")
    selection = getattr(event, "selection", None) if looks_up else None
    rows = list(selection.rows) if selection is not None else []
    if rows:
        customer_id = str(shown["customer_id"].iloc[rows[0]])
        st.page_link(LOOKUP, label=f"Look up {escape_md(customer_id)} live",
                     icon=":material/person_search:",
                     query_params={LOOKUP_PARAM: customer_id})
