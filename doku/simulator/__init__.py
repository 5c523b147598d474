"""A local DOKU for demos, tests and benchmarks: server, fault config, world, processes.

Rule: imports the client layer's signing and the shared vocabulary only. Nothing
else in `doku` imports it except the CLI's `sandbox` command and the engine's
embedded-simulator opt-in (`doku.engine.connection`).
"""
