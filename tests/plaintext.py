"""Looking for sent values in what the service stored or logged, with the one scanner (smoke's,
`smoke.plaintext`: UTF-8, JSON-escaped, and base64 of either, inside every attribute)."""

from collections.abc import Iterable, Mapping
from typing import Any

from smoke import attribute_bytes, encoded_forms

__all__ = ["encoded_forms", "leaks_in_bytes", "leaks_in_items"]


def leaks_in_items(items: Iterable[Mapping[str, Any]], secrets: Iterable[str]) -> list[tuple[str, str]]:
    """(attribute name, secret's first 40 characters) for every secret found in any attribute of
    any DynamoDB item (low-level form), in any encoding."""
    forms = {secret: encoded_forms(secret) for secret in secrets}
    leaks = []
    for item in items:
        for name, value in item.items():
            for blob in attribute_bytes(value):
                leaks += [
                    (name, secret[:40]) for secret, found in forms.items() if any(f in blob for f in found)
                ]
    return leaks


def leaks_in_bytes(blob: bytes | str, secrets: Iterable[str]) -> list[str]:
    """The first 40 characters of every secret found in `blob` (log text, a URL...), in any encoding."""
    data = blob.encode() if isinstance(blob, str) else blob
    return [secret[:40] for secret in secrets if any(form in data for form in encoded_forms(secret))]
