"""`python -m bench` (what `make bench` runs)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
