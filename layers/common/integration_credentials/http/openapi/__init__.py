"""The HTTP contract as OpenAPI: response bodies, error examples, headers and security schemes.

Documentation only: the routes attach `responses(...)` to their decorators and the generator
(`make openapi`, tools/generators/openapi.py) merges the six functions' documents. Nothing
here takes part in handling a request. Every error body is `{"detail": <string>}`; the examples
are the texts the service really sends (the seed's texts where the seed defines one).

- security.py: the two schemes (API key, bearer JWT) and each route's scope;
- examples.py: stored credentials, a started connection, the seed's request bodies;
- models.py: the response bodies (the document's schemas), imported by the generator only;
- responses.py: each route's `responses=` (success bodies, error statuses, headers).
"""

from typing import Final

from .examples import (
    CONNECT_EXAMPLE,
    EXAMPLE_ID,
    EXAMPLE_ORG_ID,
    HUBSPOT_EXAMPLE,
    REQUEST_EXAMPLES,
    SALESFORCE_EXAMPLE,
    VERIFIED_EXAMPLE,
)
from .responses import (
    COMMON_ERROR_EXAMPLES,
    ERROR_DESCRIPTIONS,
    JSON,
    callback_responses,
    connect_ok,
    credentials_list_ok,
    credentials_ok,
    deleted_ok,
    error_response,
    responses,
    schema_ref,
)
from .security import API_KEY_SCHEME, BEARER_SCHEME, SECURITY, security, security_schemes

TAG: Final = "Integration credentials"

__all__ = [
    "API_KEY_SCHEME",
    "BEARER_SCHEME",
    "COMMON_ERROR_EXAMPLES",
    "CONNECT_EXAMPLE",
    "ERROR_DESCRIPTIONS",
    "EXAMPLE_ID",
    "EXAMPLE_ORG_ID",
    "HUBSPOT_EXAMPLE",
    "JSON",
    "REQUEST_EXAMPLES",
    "SALESFORCE_EXAMPLE",
    "SECURITY",
    "TAG",
    "VERIFIED_EXAMPLE",
    "callback_responses",
    "connect_ok",
    "credentials_list_ok",
    "credentials_ok",
    "deleted_ok",
    "error_response",
    "responses",
    "schema_ref",
    "security",
    "security_schemes",
]
