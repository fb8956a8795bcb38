"""`python -m smoke`, what `make smoke` runs."""

import sys

from .cli import main

sys.exit(main())
