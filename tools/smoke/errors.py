"""How a check or the setup stops; no message holds a secret."""


class CheckFailedError(Exception):
    """A check's assertion failed; the message never holds a secret."""


class SkippedError(Exception):
    """A check could not run here (no table to scan, a prerequisite failed)."""


class SetupError(Exception):
    """The target cannot be set up (a missing output, keys without a base URL...)."""
