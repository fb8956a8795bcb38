"""The process's cache of CRM credentials for `CrmAuth`, and its single flight: one read or one
refresh of a credential at a time in the process, whichever threads, asyncio tasks or `CrmAuth`
instances need it. A flight is a `concurrent.futures.Future`: threads wait on it, tasks await it
through `asyncio.wrap_future`, and the leader (a thread or a task) completes it."""

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from .models import Credentials

# A credential read from the service is used until this long before its expires_at ...
REFRESH_MARGIN_SECONDS = 60.0
# ... but read again at most this often while the service has nothing fresher.
MIN_RECHECK_SECONDS = 30.0


@dataclass
class Slot:
    """One credential as `CrmAuth` instances of one service, caller and selector see it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    credentials: Credentials | None = None
    valid_until: float = 0.0
    flight: "Future[Credentials] | None" = None
    flight_refreshes: bool = False


_SLOTS: dict[tuple[str, str, str, str], Slot] = {}
_SLOTS_LOCK = threading.Lock()


def slot_for(base_url: str, principal: str | None, kind: str, value: str) -> Slot:
    """The process's slot of a credential named by id or provider, for one caller (the key or
    token is part of the name, hashed: a cached token is never served to another caller)."""
    caller = hashlib.sha256((principal or "").encode()).hexdigest()
    key = (base_url, caller, kind, value)
    with _SLOTS_LOCK:
        return _SLOTS.setdefault(key, Slot())


@dataclass(frozen=True)
class Ready:
    credentials: Credentials


@dataclass(frozen=True)
class Wait:
    flight: "Future[Credentials]"
    # The caller leads the flight: it reads (`refresh` False) or refreshes, then calls `land`.
    leader: bool
    # A refresh's outcome is final for everyone on it (the same token again included: asking
    # again would not change it); after a read, a caller that needed a refresh boards again.
    refresh: bool


def board(slot: Slot, stale_token: str | None, now: float) -> Ready | Wait:
    """What a caller does next. `stale_token`: the token the CRM just refused (None: the caller
    only wants a token). A token other than the refused one, or a fresh one, is ready; else the
    caller joins the flight in the air, or leads a new one (a refresh after a refusal, else a
    read)."""
    with slot.lock:
        current = slot.credentials
        if current is not None:
            if stale_token is not None and current.access_token != stale_token:
                return Ready(current)
            if stale_token is None and now < slot.valid_until:
                return Ready(current)
        if slot.flight is not None:
            return Wait(slot.flight, leader=False, refresh=slot.flight_refreshes)
        slot.flight = Future()
        slot.flight_refreshes = stale_token is not None and current is not None
        return Wait(slot.flight, leader=True, refresh=slot.flight_refreshes)


def land(
    slot: Slot,
    flight: "Future[Credentials]",
    outcome: Credentials | BaseException,
    now: float,
    margin: float = REFRESH_MARGIN_SECONDS,
) -> None:
    """The leader's outcome: kept (a result) and handed to everyone waiting on the flight."""
    with slot.lock:
        if isinstance(outcome, Credentials):
            slot.credentials = outcome
            slot.valid_until = valid_until(outcome, now, margin)
        slot.flight = None
    if isinstance(outcome, Credentials):
        flight.set_result(outcome)
    else:
        flight.set_exception(outcome)


def valid_until(credentials: Credentials, now: float, margin: float) -> float:
    """Until when (epoch seconds) a credential is used without asking the service again."""
    expires = credentials.expires
    if expires is None:
        return float("inf")
    return max(expires.timestamp() - margin, now + MIN_RECHECK_SECONDS)


Clock = Callable[[], float]
wall_clock: Clock = time.time
