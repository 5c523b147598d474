"""The audit engine: from customer input to stored results.

Holds input parsing (`inputs`), the store (`store`, with `reads` and `results`; its
tables in `tables`, where it lives in `database`, its schema versions in
`versioning`, `upgrade` and `migrations/`, the run lease in `lease`, the team's shared
request schedule in `slots`), the bulk engine (`bulk`, paced by `ratelimit` when
DOKU_RATE_LIMIT is set; its customers from `sources`: a fixed list, or batches claimed
under a lease in `claims` when the queue's fetchers share a run), the service
functions that start, resume and retry runs (`service`), the process-wide job
registry (`jobs`), the workers' queue on PostgreSQL (`queue`, Procrastinate; `worker`
is `doku worker`; `queue_state` what the dashboard shows of it), saved audits and
their schedules (`saved`, `schedules`, `firing`) and turning settings into a client
(`connection`); the heap kept out of garbage collection while jobs fetch (`heap`).

Rule: imports the client layer and the shared vocabulary, never analysis, the CLI
or streamlit. Only `connection` may start the embedded simulator (the opt-in used
when nothing is configured).
"""
