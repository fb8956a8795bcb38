"""The SnapStart runtime hooks at init, in a fresh interpreter as Lambda loads each function
(tests/infrastructure/fresh_interpreter.py):
every API function registers them, the before-snapshot hook makes no AWS client, credentials or
call; and the runtime's module never ships in the layer."""

import pytest
from local_stack.template import function_directories

from tests.infrastructure.fresh_interpreter import loaded
from tests.infrastructure.test_layer_requirements import canonical, layer_packages

API_FUNCTIONS = function_directories()

# One worker runs both fresh-interpreter modules, which share their reports (`loaded`).
pytestmark = pytest.mark.xdist_group("fresh_interpreters")


def test_every_api_function_registers_the_hooks_and_makes_nothing_aws_before_the_snapshot():
    assert len(API_FUNCTIONS) == 10
    for function, found in loaded(API_FUNCTIONS).items():
        assert found["before"] == ["integration_credentials.adapters.snapstart.before_snapshot"], function
        assert found["after"] == ["integration_credentials.adapters.snapstart.after_restore"], function
        # Nothing the snapshot would carry to every restored instance: no client, no credentials.
        assert found["clients"] == [], function
        assert found["credentials"] is False, function
        # What it did prepare: pyjwt, Powertools parameters (both loaded on demand off SnapStart),
        # and the models of the clients the first request makes.
        assert found["jwt"] is True, function
        assert found["parameters"] is True, function
        # Priming never loads the Encryption SDK where the function does not (delete).
        assert found["esdk"] is (function != "delete_credentials"), function


def test_the_runtime_module_never_ships_in_the_layer():
    # The managed runtime provides it; a copy in /opt would shadow the runtime's registry.
    assert canonical("snapshot-restore-py") not in layer_packages()
