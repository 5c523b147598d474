"""The audit engine: from customer input to stored results.

Holds input parsing (`inputs`), the store (`store`, with `reads` and `results`; its
tables in `tables`, where it lives in `database`, its schema versions in
`versioning`, `upgrade` and `migrations/`, the run lease in `lease`, the team's shared
request schedule in `slots`), the bulk engine (`bulk`, paced by `ratelimit` when
DOKU_RATE_LIMIT is set), the service functions that start, resume and retry runs
(`service`), the process-wide job registry (`jobs`) and turning settings into a client
(`connection`).

Rule: imports the client layer and the shared vocabulary, never analysis, the CLI
or streamlit. Only `connection` may start the embedded simulator (the opt-in used
when nothing is configured).
"""
