"""Home: the embedded simulator's world control (simulator mode only), so a second demo
audit finds different tokens and a comparison shows real change."""

from __future__ import annotations

import streamlit as st

from doku.access import AUDIT
from doku.engine.connection import embedded_world_epoch, move_embedded_world_on
from ui import auth


def _move_on() -> None:
    if auth.callback_actor(AUDIT) is None:  # offered to analysts only
        return
    epoch = move_embedded_world_on()
    st.toast(f"The simulator's world is now at month {epoch:d}: audit again to see the "
             "change.", icon=":material/update:")


def simulator_controls() -> None:
    """A button moving the simulator's world on a month, and where it stands."""
    epoch = embedded_world_epoch()
    if epoch is None:
        st.caption("The built-in simulator starts with the first request.")
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button("Move the simulator's world on a month", key="home_move_world",
                  icon=":material/update:", on_click=_move_on,
                  help="Customers gain and lose tokens as they would over a month; "
                  "audit the same customers again, then compare the runs.")
        st.caption(f"Simulator world: month {epoch:d}.")
