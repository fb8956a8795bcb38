"""After a SnapStart restore the handlers trust nothing cached before it: the hooks registered
with the runtime (`snapshot_restore_py`, run here as the runtime runs them) empty the API key
cache, the JWT secret's SSM cache and the cipher's data keys and plaintexts, so the next request
reads each of them again; the answers are the same."""

import snapshot_restore_py
from integration_credentials.adapters import snapstart

from tests.conftest import SEED_BODIES
from tests.integration.conftest import bearer


def after_restore() -> None:
    hooks = snapshot_restore_py.get_after_restore()
    assert (snapstart.after_restore, (), {}) in hooks
    for func, args, kwargs in hooks:
        func(*args, **kwargs)


def calls(stack, service, operation):
    return stack.aws.calls().get((service, operation), 0)


def test_a_warm_read_after_restore_reads_its_key_and_decrypts_again(stack, api, org_headers):
    created = api.create(org_headers, SEED_BODIES["salesforce"])
    assert created.status == 201
    credentials_id = created.json["id"]
    first = api.get(org_headers, credentials_id)
    stack.aws.reset_calls()
    # Warm: the key's answer, the id's row key and the plaintext are cached: one GetItem (the
    # row), no KMS.
    assert api.get(org_headers, credentials_id).json == first.json
    assert (calls(stack, "dynamodb", "GetItem"), calls(stack, "kms", "Decrypt")) == (1, 0)
    after_restore()
    stack.aws.reset_calls()
    assert api.get(org_headers, credentials_id).json == first.json
    # The key record and the row read again (an id's row key is no time-bound cache: it is kept),
    # and the message decrypted through KMS.
    assert (calls(stack, "dynamodb", "GetItem"), calls(stack, "kms", "Decrypt")) == (2, 1)


def test_a_bearer_token_after_restore_reads_the_jwt_secret_again(stack, api, org_id):
    headers = bearer(org_id)
    assert api.list(headers).status == 200
    stack.aws.reset_calls()
    assert api.list(headers).status == 200
    assert calls(stack, "ssm", "GetParameter") == 0
    after_restore()
    stack.aws.reset_calls()
    assert api.list(headers).status == 200
    assert calls(stack, "ssm", "GetParameter") == 1
