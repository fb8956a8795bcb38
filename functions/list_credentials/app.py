"""GET /integration-credentials/ — the caller's org's credentials, as a bare array; optional
`limit`/`cursor` pages, the next one announced in a `Link: <...>; rel="next"` header."""

from typing import Annotated
from urllib.parse import urlencode

# Loaded at init, not by the first request: every page decrypts.
import integration_credentials.adapters.crypto.cipher  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from integration_credentials.core.constants import SCOPE_READ
from integration_credentials.http.handler import make_handler
from integration_credentials.http.openapi import TAG, credentials_list_ok, responses, security
from integration_credentials.http.resolver import create_resolver, current_audit, current_org
from integration_credentials.http.responses import json_response
from integration_credentials.logic.credentials import credentials_service
from integration_credentials.policy.disclosure import DISCLOSED_SECRETS
from integration_credentials.policy.pagination import (
    CURSOR_PATTERN,
    MAX_PAGE_SIZE,
    decode_cursor,
    encode_cursor,
)

app = create_resolver()


@app.get(
    "/integration-credentials/",
    summary="List the organization's credentials",
    description=(
        "Every provider's credentials of the caller's organization, as a bare array ordered by "
        "provider. With `limit`, a page at a time: the next page is in the `Link` header (rel=next)."
    ),
    tags=[TAG],
    operation_id="listCredentials",
    security=security(SCOPE_READ),
    responses=responses(
        (200, credentials_list_ok("The credentials (an empty array when there are none)")),
        400,
        examples={
            400: {
                "bad_limit": "Validation error: limit must be at most 100",
                "bad_cursor": "Validation error: cursor is not valid",
            }
        },
    ),
)
@app.get("/integration-credentials", include_in_schema=False)
def list_credentials(
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="From the `Link` header of the previous page"),
    ] = None,
) -> Response[str]:
    org_id, audit = current_org(app), current_audit(app)
    after = decode_cursor(cursor) if cursor is not None else None
    items, next_after = credentials_service().list(org_id, limit=limit, after_provider=after)
    if audit is not None:
        # "Who read this credential?" finds list reads by the ids they returned.
        audit.extra["credentials_ids"] = [item["id"] for item in items]
        audit.extra["disclosed"] = DISCLOSED_SECRETS
    headers = {}
    if next_after is not None and limit is not None:
        query = urlencode({"limit": limit, "cursor": encode_cursor(next_after)})
        headers["Link"] = f'<{app.current_event.path}?{query}>; rel="next"'
    return json_response(200, items, headers)


lambda_handler = make_handler(app, action="list", scope=SCOPE_READ)
