import sys

from doku.cli.main import main

sys.exit(main())
