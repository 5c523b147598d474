"""One module per `python -m doku` subcommand, each with `register(subparsers)`."""
