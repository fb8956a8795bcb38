"""`python -m fake_crms`: serve the fake CRMs (PORT, else a free port) until Ctrl-C."""

import sys

from .crms import main

sys.exit(main())
