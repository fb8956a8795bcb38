"""Two local stacks side by side share nothing, and each stops cleanly on Ctrl-C."""

import uuid
from pathlib import Path

import pytest
import requests

from tests.plaintext import leaks_in_bytes

from .conftest import (
    BASE,
    SEED_EXAMPLES,
    UNAUTHORIZED,
    Api,
    RunningStack,
    SecretLedger,
    free_port,
    make_jwt,
    mint_api_key,
    start_stack,
)


def test_second_stack_is_isolated_and_stops_with_exit_code_0(
    api: Api, stack: RunningStack, ledger: SecretLedger, tmp_path: Path
) -> None:
    # Given a second stack on other free ports (embedded AWS not at PORT+1)
    port, aws_port = free_port(), free_port()
    while aws_port in {port, port + 1}:
        aws_port = free_port()
    second = start_stack(tmp_path / "second.log", port, aws_port)
    try:
        # (both register the one local-only demo key, each in its own embedded AWS)
        assert second.demo_api_key == stack.demo_api_key
        other = Api(second.base_url, ledger)
        org_id = str(uuid.uuid4())
        key = mint_api_key(second, org_id, via="endpoint")
        token = f"second-stack-token-{uuid.uuid4()}"

        # When credentials are created on the second stack
        created = other.create({"X-API-Key": key}, {**SEED_EXAMPLES["salesforce"], "access_token": token})

        # Then the second stack serves them
        assert other.get(f"{BASE}/provider/salesforce", {"X-API-Key": key}).json() == created

        # And the first stack knows neither the key nor the credentials
        bearer = {"Authorization": f"Bearer {make_jwt(org_id)}"}
        unknown_key = api.get(BASE, {"X-API-Key": key})
        assert (unknown_key.status_code, unknown_key.json()) == (401, UNAUTHORIZED)
        assert api.get(BASE, bearer).json() == []
        assert api.get(f"{BASE}/provider/salesforce", bearer).status_code == 404
        assert api.get(f"{BASE}/{created['id']}", bearer).status_code == 404

        # And the second stack's log does not hold the token or the key
        log = second.log_text()
        assert leaks_in_bytes(log, (token, key)) == []
    finally:
        # When the second stack gets Ctrl-C
        code = second.stop()

    # Then it exits 0 and its port is closed, while the first stack keeps serving
    assert code == 0, second.log_tail()
    with pytest.raises(requests.ConnectionError):
        requests.get(second.base_url + BASE, timeout=5)
    assert api.get(BASE, {"Authorization": f"Bearer {make_jwt(org_id)}"}).status_code == 200
