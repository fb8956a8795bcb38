"""The pure rules behind hostile input: strict JSON, stored-time parsing, lifetimes a provider
states, and which AWS errors mean "retry later"."""

import math

import botocore.exceptions
import pytest
from integration_credentials.adapters.aws import dependency_error, dependency_error_of
from integration_credentials.core.errors import DependencyMisconfiguredError, DependencyUnavailableError
from integration_credentials.core.models import CredentialsSecret
from integration_credentials.core.settings import Settings
from integration_credentials.core.validation import JsonRuleError, metadata_problem, strict_json_loads
from integration_credentials.policy.schedule import (
    MIN_REFRESH_SPACING_SECONDS,
    moved_expiry,
    parse_time,
    scheduled_state,
)

SETTINGS = Settings(table_name="t", kms_key_arn="k")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"v": NaN}', "NaN is not a JSON number"),
        ('{"v": -Infinity}', "-Infinity is not a JSON number"),
        ('{"v": 1e400}', "overflows"),
        ('{"v": 1e-400}', "underflows"),
        ('{"v": ' + "1" * 4301 + "}", "more than 4300 digits"),
        ('{"a": 1, "a": 2}', "duplicate key"),
        ('{"\\ud800": 1}', "lone surrogate"),
        ('{"v": "x\\udfff"}', "lone surrogate"),
        ("[" * 5000 + "]" * 5000, "nests deeper than 64 levels"),
        ("[" * 65 + "]" * 65, "nests deeper than 64 levels"),
        ("{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_strict_json_names_what_is_wrong(text, problem):
    with pytest.raises(JsonRuleError) as refused:
        strict_json_loads(text)
    assert problem in str(refused.value)


def test_strict_json_keeps_what_json_can_hold():
    text = '{"big": ' + "9" * 4300 + ', "f": 1e308, "neg": -0.0, "tiny": 5e-324, "u": "Zo\\u00eb 🚀"}'
    value = strict_json_loads(text)
    assert value["big"] == int("9" * 4300) and value["f"] == 1e308 and value["tiny"] == 5e-324
    assert math.copysign(1, value["neg"]) == -1 and value["u"] == "Zoë 🚀"


def test_metadata_bounds():
    def nested(depth):
        value = {}
        for _ in range(depth - 1):
            value = {"k": value}
        return value

    assert metadata_problem(nested(32)) is None
    assert metadata_problem(nested(33)) == "metadata nests deeper than 32 levels"
    assert metadata_problem({f"k{i}": i for i in range(1000)}) is None
    assert metadata_problem({"a": {f"k{i}": i for i in range(1000)}}) == "metadata has more than 1000 keys"
    assert (
        metadata_problem({"v": float("nan")}) == "metadata has a number that is not finite (NaN or Infinity)"
    )
    assert metadata_problem({"v": 10**4300}) == "metadata has an integer of more than 4300 digits"


@pytest.mark.parametrize(
    ("stored", "seconds"),
    [
        (1733000000, 1733000000),
        (1733000000.5, 1733000000.5),
        (1733000000000, 1733000000),  # milliseconds
        ("1733000000000", 1733000000),
        ("2024-11-30T21:53:20+01:00", 1733000000),
        ("2024-11-30T20:53:20Z", 1733000000),
        ("2024-11-30T20:53:20", 1733000000),  # no offset: UTC
        ("0001-01-01T00:00:00+01:00", None),  # before 1970, and before year 1 in UTC
        ("9999-12-31T23:59:59-01:00", None),  # after 9999 in UTC
        (1e300, None),
        (1733000000000000000, None),
        (0, None),
        (-5, None),
        (True, None),
        ("tomorrow", None),
        ("", None),
        (None, None),
        ([1733000000], None),
    ],
)
def test_stored_times_are_read_or_ignored(stored, seconds):
    assert parse_time(stored) == seconds


def test_a_moved_expiry_keeps_the_clients_form():
    assert moved_expiry(1733000000, 1800000000.7) == 1800000000
    assert moved_expiry(1733000000000, 1800000000.7) == 1800000000700
    assert moved_expiry("2024-11-30T20:53:20Z", 1800000000) == "2027-01-15T08:00:00.000000Z"
    assert moved_expiry("soon", 1800000000) == "soon"  # not ours to rewrite


def test_after_a_refresh_the_next_is_never_at_once_whatever_the_lifetime():
    secret = CredentialsSecret("d", "t", {"refresh_token": "r"})
    now = 1_800_000_000.0
    for expires_in in (1, 60, 600):
        state = scheduled_state(
            "hubspot", secret, now=now, settings=SETTINGS, expires_in=expires_in, last_refreshed_at="x"
        )
        assert state.refresh_due is not None and state.refresh_due >= now + MIN_REFRESH_SPACING_SECONDS
    # A fresh store with an expired token is due at once (that is what a refresh is for)
    expired = CredentialsSecret("d", "t", {"refresh_token": "r", "expires_at": now - 3600})
    assert scheduled_state("hubspot", expired, now=now, settings=SETTINGS).refresh_due == math.floor(now)


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ThrottlingException", 400, DependencyUnavailableError),
        ("ProvisionedThroughputExceededException", 400, DependencyUnavailableError),
        ("TransactionConflictException", 400, DependencyUnavailableError),
        ("TransactionCanceled:TransactionConflict,None", None, DependencyUnavailableError),
        ("SomethingNew", 503, DependencyUnavailableError),
        ("AccessDeniedException", 400, DependencyMisconfiguredError),
        ("ResourceNotFoundException", 400, DependencyMisconfiguredError),
        ("ValidationException", 400, DependencyMisconfiguredError),
        ("ParameterNotFound", 400, DependencyMisconfiguredError),
        ("DisabledException", 400, DependencyMisconfiguredError),
        ("NotFoundException", 400, DependencyMisconfiguredError),
    ],
)
def test_aws_errors_in_two_classes(code, status, kind):
    assert type(dependency_error("DynamoDB", code, status)) is kind


def test_botocore_errors_by_kind():
    assert isinstance(
        dependency_error_of("KMS", botocore.exceptions.NoCredentialsError()), DependencyMisconfiguredError
    )
    assert isinstance(
        dependency_error_of("KMS", botocore.exceptions.EndpointConnectionError(endpoint_url="http://x")),
        DependencyUnavailableError,
    )
    assert isinstance(
        dependency_error_of("KMS", botocore.exceptions.ReadTimeoutError(endpoint_url="http://x")),
        DependencyUnavailableError,
    )
