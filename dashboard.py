"""Home page of the DOKU token audit dashboard: `make run` or `streamlit run dashboard.py`."""

from __future__ import annotations

import streamlit as st

from doku.errors import ConfigurationError
from doku.settings import load_settings

st.set_page_config(page_title="DOKU token audit", layout="wide")
st.title("DOKU token audit")
st.write(
    "Audit stored DOKU payment tokens (cards and direct debit): look tokens up one by "
    "one or in bulk, see which are active, expired or revoked, and export the results. "
    "Every request is signed with your DOKU client ID and secret key; the key is never "
    "shown or logged."
)

try:
    settings = load_settings()
except ConfigurationError as exc:
    st.error(f"Configuration problem: {exc.message}")
    st.stop()

if settings.uses_simulator:
    st.info(
        "Running on the built-in simulator: no DOKU credentials are configured, so "
        "requests go to a local stand-in with demo data. See README, *Configuration*."
    )
else:
    st.caption(
        f"DOKU {settings.env} at {settings.base_url} as client {settings.masked_client_id}"
    )
