import sys

from doku.cli import main

sys.exit(main())
