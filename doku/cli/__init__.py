"""The `doku` command line: a dispatcher, one module per command, one renderer.

Rule: the top layer; may import analysis, the engine and below. Subcommands are
imported lazily, so `doku --help` and `doku tokens` never import pandas.
"""
