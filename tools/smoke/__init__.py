"""`make smoke`: an end-to-end smoke suite over HTTP, for any stage of the service.

The checks are pytest tests in `smoke/suite` (`pytest tools/smoke/suite --base-url ...`; its
conftest.py says which targets it takes); this package is their library: the targets
(targets.py), the one HTTP client of the suites (http.py), assertions that never show a value
(expect.py), the run's state (state.py), the base64-aware plaintext scanner (plaintext.py), the
audit records (audit.py) and the seed's examples (seed.py).
"""

from pathlib import Path

from integration_credentials.adapters.audit import MARKER as AUDIT_MARKER

from .audit import parse_records
from .expect import difference
from .http import Http, Reply
from .plaintext import attribute_bytes, encoded_forms, scan_items

SUITE = Path(__file__).parent / "suite"

__all__ = [
    "AUDIT_MARKER",
    "SUITE",
    "Http",
    "Reply",
    "attribute_bytes",
    "difference",
    "encoded_forms",
    "parse_records",
    "scan_items",
]
