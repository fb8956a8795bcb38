"""GET /integration-credentials/ — the caller's org's credentials, as a bare array; optional
`limit`/`cursor` pages, the next one announced in a `Link: <...>; rel="next"` header."""

from typing import Annotated
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from integration_credentials.api import create_resolver, current_org, json_response, make_handler
from integration_credentials.pagination import MAX_PAGE_SIZE, decode_cursor, encode_cursor
from integration_credentials.service import credentials_service

app = create_resolver()


@app.get("/integration-credentials/")
@app.get("/integration-credentials")
def list_credentials(
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response[str]:
    after = decode_cursor(cursor) if cursor is not None else None
    items, next_after = credentials_service().list(current_org(app), limit=limit, after_provider=after)
    headers = {}
    if next_after is not None and limit is not None:
        query = urlencode({"limit": limit, "cursor": encode_cursor(next_after)})
        headers["Link"] = f'<{app.current_event.path}?{query}>; rel="next"'
    return json_response(200, items, headers)


lambda_handler = make_handler(app, action="list")
