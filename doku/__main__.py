"""`python -m doku COMMAND ...`: the same as the `doku` console command."""

import sys

from doku.cli.main import main

sys.exit(main())
