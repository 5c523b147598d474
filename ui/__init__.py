"""The dashboard's Streamlit helpers: the ONLY Streamlit code besides the page scripts
(the `doku` library never imports Streamlit).

The rule: pages (`dashboard.py`, `pages/*.py`) import from `ui` and from `doku` only,
and hold widgets and layout; everything else a page needs lives here, one job per
module. Neither pages nor `ui` ever build HTTP requests or SQL: DOKU is reached
through `doku.engine.connection`, stored runs through `doku.engine.store`.

Pure (no Streamlit import; unit-tested on their own):
  present     numbers, shares, times, run labels, badges, page paths and links
  advice      what each error code means to an analyst: title and what to do
  keys        RunRef (run + version) and canonical Filters: the cache identities
  downloads   deferred, LRU-cached download bytes (built on click, never raise)
  bulk_input  the Bulk audit page's input state: paste / upload / sample, sheet,
              ID column, and its parse

Streamlit:
  chrome      page config, sidebar connection summary, simulator banner, `guard()`
              and error messages, run status badge
  state       process-wide state: one Store per data folder, background jobs
  data        cached typed accessors: runs, frames, filtered views, one function
              per aggregate, run comparison
  columns     column configurations of the tables
  run_panel   the live run panel (progress fragment, Cancel / Resume / Retry failed)
  lookup_view, bulk_view, insights_view, runs_view
              read-only sections and widget groups of one page each
"""
