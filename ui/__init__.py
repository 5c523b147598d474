"""The dashboard's Streamlit helpers: the ONLY Streamlit code besides the page scripts
(the `doku` library never imports Streamlit).

The rule: pages (`dashboard.py`, `pages/*.py`) import from `ui` and from `doku` only,
and hold widgets and layout; everything else a page needs lives here, one job per
module. Neither pages nor `ui` ever build HTTP requests or SQL: DOKU is reached
through `doku.engine.connection`, stored runs through `doku.engine.store`.

Untrusted text: customer IDs, names, issuers and brands from DOKU, DOKU's (unsigned)
error messages and any error text, file, sheet and column names, cell values, run input
names. Streamlit renders Markdown in st.markdown / caption / info / warning / error /
success / toast / write, st.table cells, titles and headers, every widget label, tab
and expander titles, metric labels and values, progress and spinner texts, and `help=`
tooltips. Such a value reaches those ONLY through `ui.present.escape_md` (numbers only
with a numeric format, e.g. `{run.id:d}`, `{n:,}`), or through a helper here whose
every return is built that way; never `unsafe_allow_html`, never `st.html`. Where no
Markdown is rendered - st.dataframe cells and headers, st.text, st.code, selectbox and
multiselect options and their `format_func`, placeholders, chart text, `alt` - the value
goes as it is (`present.shorten` to cut it), since an escape would show. The rule is
enforced by tests/test_ui_escaping.py (an AST check of every such call) and by page
tests that feed hostile text through every page (tests/test_app_hostile.py and
tests/e2e/test_hostile_browser.py).

Pure (no Streamlit import; unit-tested on their own):
  present     escape_md (untrusted text made inert Markdown), numbers, shares, times,
              run labels, badges, page paths and links
  advice      what each error code means to an analyst: title and what to do
  keys        RunRef (run + version) and canonical Filters: the cache identities
  downloads   deferred, LRU-cached download bytes (built on click, never raise)
  bulk_input  the Bulk audit page's input state: paste / upload / sample, sheet,
              ID column, and its parse

Streamlit:
  chrome      page config, the sign-in gate, sidebar (who, the role's pages,
              connection summary), simulator banner, `guard()` and error messages,
              run status badge
  auth        single-user mode or OIDC sign-in, the actor and its role, the page
              and action refusals (`acting`: every sensitive handler asks it)
  trail_events  the trail entries the dashboard records itself (downloads)
  state       process-wide state: one Store per data folder, background jobs
  data        cached typed accessors: runs, frames, filtered views, one function
              per aggregate, run comparison
  columns     column configurations of the tables
  run_panel   the live run panel (progress fragment, Cancel / Resume / Retry failed)
  queue_view  the workers' queue: who fetches a queued run, the Queue and workers
              section (PostgreSQL; one caption on SQLite)
  links       Insights in the URL: widgets bound to query parameters, what a link
              asks for that is not here reported, the share link
  lookup_view, bulk_view, insights_view, customers_view, runs_view, manage_view,
  home_view, saved_view, trail_view
              sections and widget groups of one page each (customers_view: the
              Insights customer search; manage_view: name, note, archive, delete of
              a run; home_view: the simulator's world control; saved_view: saved
              audits, their runs on demand and their schedules; trail_view: the
              admins' Audit trail page)
"""
