"""Plaintexts this process has encrypted or verified, so that warm reads skip the Encryption SDK.

An entry is keyed by the SHA-256 of the ciphertext *and* the row's encryption context: another
ciphertext, or the same one read from another row, is a miss and goes through the SDK and its
context check. Entries live as long as the data keys that would decrypt them (the same TTL), so
the plaintext is in memory no longer than the cached keys already make it recoverable.
"""

import hashlib
import threading
import time
from collections import OrderedDict

_Key = tuple[bytes, tuple[tuple[str, str], ...]]


class VerifiedPlaintexts:
    """A bounded, expiring, thread-safe map (ciphertext, context) -> plaintext, least recently
    used first out."""

    def __init__(self, ttl_seconds: float, capacity: int) -> None:
        self._entries: OrderedDict[_Key, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._ttl = ttl_seconds
        self._capacity = capacity

    @staticmethod
    def _key(ciphertext: bytes, context: dict[str, str]) -> _Key:
        return hashlib.sha256(ciphertext).digest(), tuple(sorted(context.items()))

    def remember(self, ciphertext: bytes, context: dict[str, str], plaintext: bytes) -> None:
        """Keep the plaintext of a ciphertext verified (or written) under `context`."""
        key = self._key(ciphertext, context)
        with self._lock:
            self._entries[key] = (time.monotonic() + self._ttl, plaintext)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def recall(self, ciphertext: bytes, context: dict[str, str]) -> bytes | None:
        """The plaintext remembered for this ciphertext under this context, if still fresh."""
        key = self._key(ciphertext, context)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def clear(self) -> None:
        """Forget every remembered plaintext."""
        with self._lock:
            self._entries.clear()
