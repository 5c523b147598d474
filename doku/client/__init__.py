"""The HTTP client layer: talking to DOKU's token API, byte-exact and verified.

Holds request signing (`signing`), the request/response auth flow (`auth`), the
token client (`tokens`), its lean bulk transport (`lean`) and the same on an event loop
(`aio`, `aio_wire`: what the bulk engine uses, on the event loop `loops` picks), the
pure retry policy
(`retry`), shared pacing (`pacing`), bounded reading of untrusted answers (`bounded`:
body caps, gzip, JSON shape) and the
per-attempt deadline watchdog (`deadline`).

Rule: imports only the shared vocabulary (`doku.errors`, `doku.models`,
`doku.settings`, `doku.masking`) and third-party HTTP libraries. It knows nothing of
stores, runs, frames, the simulator or the CLI.
"""
