"""How a check or the setup stops; no message holds a secret."""


class CheckFailedError(AssertionError):
    """A check's assertion failed; the message names statuses and fields, never a value sent or received."""


class SetupError(Exception):
    """The target cannot be set up (a missing output, keys without a base URL...)."""
