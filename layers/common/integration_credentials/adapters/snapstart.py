"""Lambda SnapStart runtime hooks of the API functions: what to do before the snapshot is taken
and after an execution environment is restored from it.

With SnapStart, Lambda runs a function's init once, when a version is published, snapshots the
memory, and resumes every new execution environment of that version from the snapshot, minutes
or days later and many times over. What init left in memory is then shared by every restored
instance and is as old as the snapshot, so:

- after restore, `random` is re-seeded: the module seeds itself once, at import, so every instance
  would draw the same jitter (retry backoff, refresh scheduling) and retry in step. `secrets`,
  `os.urandom` and `uuid.uuid4` read the kernel at each call and keep no state of ours: nothing to
  re-seed for them;
- after restore, every time-bound cache is emptied: API keys and unknown keys (`time.monotonic`
  deadlines), the JWKS key set and its cooldown (`jwks.JwksKeys`: `time.monotonic`), SSM parameters
  (Powertools: wall clock), the cipher's data keys (ESDK: wall clock) and remembered plaintexts
  (`time.monotonic`). No request runs before a snapshot, so these are empty at that point today;
  the hooks keep it so whatever is cached during init later, and a clock that jumps across the
  restore (a monotonic clock counts from a boot that is not this instance's) cannot make a stale
  entry look fresh;
- before the snapshot, only what needs no credentials and no network is prepared: the botocore
  service models the functions' clients parse, pyjwt and Powertools parameters (loaded on demand
  off SnapStart, so an API key request's cold start does without them). No AWS client, credentials or
  connection is made before the snapshot (making a client resolves credentials, and the
  Encryption SDK makes its KMS client when the cipher is built), so none is restored: clients are
  made by the first request after restore, with the credentials Lambda gives that instance.

The managed Python runtimes (3.12+) provide `snapshot_restore_py` and run what is registered
with it. Where it is missing (another runtime, a local install without it) a registry of the same
shape stands in, so the hooks are still registered and tests can run them as the runtime does.
"""

import importlib
import random
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from . import auth, aws, parameters

Hook = Callable[..., Any]
RegisteredHook = tuple[Hook, tuple[Any, ...], dict[str, Any]]

# What every API function's clients call (API keys, the JWT secret, the HMAC key).
_SERVICES = ("dynamodb", "ssm")
_CIPHER_MODULE = "integration_credentials.adapters.crypto.cipher"


def _stand_in() -> Any:
    """A registry with `snapshot_restore_py`'s functions and storage, for where it is missing."""
    before: list[RegisteredHook] = []
    after: list[RegisteredHook] = []

    def register(registry: list[RegisteredHook]) -> Callable[..., Hook]:
        def add(func: Hook, *args: Any, **kwargs: Any) -> Hook:
            registry.append((func, args, kwargs))
            return func

        return add

    return SimpleNamespace(
        register_before_snapshot=register(before),
        register_after_restore=register(after),
        get_before_snapshot=lambda: before,
        get_after_restore=lambda: after,
    )


_STAND_IN = _stand_in()


def runtime_hooks() -> Any:
    """The runtime's hook registry (`snapshot_restore_py`), or the stand-in where it is missing."""
    try:
        return importlib.import_module("snapshot_restore_py")
    except ImportError:
        return _STAND_IN


def _cipher_loaded() -> Any:
    # A function that never imported the Encryption SDK (delete) has no data keys to forget;
    # importing the cipher here would put the SDK into its cold start.
    return sys.modules.get(_CIPHER_MODULE)


def before_snapshot() -> None:
    """Parse the service models and import pyjwt and Powertools parameters, so the first request
    after a restore does not; no credentials are resolved, nothing is sent."""
    services = _SERVICES + (("kms",) if _cipher_loaded() is not None else ())
    aws.preload_service_models(services)
    importlib.import_module("jwt")
    importlib.import_module("aws_lambda_powertools.utilities.parameters")


def after_restore() -> None:
    """Re-seed `random` and forget every time-bound cache (see the module's docstring)."""
    random.seed()  # from os.urandom
    auth.clear_authentication_caches()
    parameters.clear_parameter_cache()
    cipher = _cipher_loaded()
    if cipher is not None:
        cipher.clear_data_key_caches()


def register_hooks() -> None:
    """Register both hooks with the runtime, once per process (every API function's handler
    factory calls this at init; a process that loads several handlers registers them once)."""
    registry = runtime_hooks()
    if not any(func is before_snapshot for func, _args, _kwargs in registry.get_before_snapshot()):
        registry.register_before_snapshot(before_snapshot)
    if not any(func is after_restore for func, _args, _kwargs in registry.get_after_restore()):
        registry.register_after_restore(after_restore)
