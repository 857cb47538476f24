"""`python -m zoozl`: the command line (zoozl/cli)."""

import sys

from zoozl.cli import main

if __name__ == "__main__":
    sys.exit(main())
