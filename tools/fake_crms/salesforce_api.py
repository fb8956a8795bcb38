"""The fake Salesforce's REST API, as much of it as a sync job's read needs: the Query resource,
`GET /services/data/vXX.X/query?q=<SOQL>` (at `/salesforce/services/data/...` under `FakeCrms`).

As Salesforce documents it: `Authorization: Bearer <access token>`; the answer is `totalSize`,
`done` and `records`, each record with its `attributes` (`type`, `url`) and the fields selected;
errors are a list of `{"message", "errorCode"}`: 401 `INVALID_SESSION_ID` ("Session expired or
invalid") for a token that is not a live session of this fake (unknown, expired, or of a revoked
grant), 400 `MALFORMED_QUERY`, `INVALID_TYPE` or `INVALID_FIELD` for a query it cannot answer.

The SOQL understood: `SELECT f1, f2 FROM Object [WHERE f = value [AND ...]] [LIMIT n]` over a few
fixed Lead and Contact records (`RECORDS`), values `'text'`, `true`, `false` or `null`.
"""

import re
from typing import TYPE_CHECKING, Any

from .http import Received, Reply

if TYPE_CHECKING:
    from .crm import Crm

QUERY_PATH = re.compile(r"^(?:/salesforce)?/services/data/v(?P<version>\d+\.\d)/query/?$")
_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(r"^\s*(?P<field>\w+)\s*=\s*(?P<value>'[^']*'|true|false|null)\s*$", re.IGNORECASE)
_SESSION_EXPIRED = {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}

RECORDS: dict[str, list[dict[str, Any]]] = {
    "Lead": [
        {
            "Id": "00Q000000000001FAK",
            "Name": "Ada Lovelace",
            "Email": "ada@analytical.example",
            "Company": "Analytical Engines",
            "IsConverted": False,
        },
        {
            "Id": "00Q000000000002FAK",
            "Name": "Grace Hopper",
            "Email": "grace@cobol.example",
            "Company": "Compilers Inc",
            "IsConverted": False,
        },
        {
            "Id": "00Q000000000003FAK",
            "Name": "Alan Turing",
            "Email": "alan@bletchley.example",
            "Company": "Bletchley Park",
            "IsConverted": True,
        },
    ],
    "Contact": [
        {
            "Id": "003000000000001FAK",
            "Name": "Katherine Johnson",
            "Email": "katherine@orbits.example",
            "Title": "Mathematician",
        },
        {
            "Id": "003000000000002FAK",
            "Name": "Margaret Hamilton",
            "Email": "margaret@apollo.example",
            "Title": "Director of Software Engineering",
        },
    ],
}


class _RefusedError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.reply = Reply(status, [{"message": message, "errorCode": code}])


def is_api_path(path: str) -> bool:
    return QUERY_PATH.match(path) is not None


def api_reply(crm: "Crm", received: Received) -> Reply:
    """The Query resource's answer to `received` (its status recorded in the CRM's api_calls)."""
    reply = _answer(crm, received)
    with crm.ledger.lock:
        crm.ledger.api_calls.append(reply.status)
    return reply


def _answer(crm: "Crm", received: Received) -> Reply:
    scheme, _, token = received.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("bearer", "oauth") or not crm.ledger.live(token.strip()):
        return Reply(401, [_SESSION_EXPIRED])
    if received.method != "GET":
        return Reply(
            405,
            [
                {
                    "message": f"HTTP Method '{received.method}' not allowed. Allowed are GET,HEAD",
                    "errorCode": "METHOD_NOT_ALLOWED",
                }
            ],
        )
    version = QUERY_PATH.sub(r"\g<version>", received.path)
    try:
        records = _query(received.query.get("q", [""])[-1], version)
    except _RefusedError as refused:
        return refused.reply
    return Reply(200, {"totalSize": len(records), "done": True, "records": records})


def _query(soql: str, version: str) -> list[dict[str, Any]]:
    parsed = _SOQL.match(soql)
    if parsed is None:
        raise _RefusedError(400, "MALFORMED_QUERY", "unexpected token: the query is not SELECT ... FROM ...")
    sobject = next((name for name in RECORDS if name.lower() == parsed["object"].lower()), None)
    if sobject is None:
        raise _RefusedError(400, "INVALID_TYPE", f"sObject type '{parsed['object']}' is not supported.")
    rows = RECORDS[sobject]
    fields = [_field(sobject, name.strip()) for name in parsed["fields"].split(",")]
    where = parsed["where"]
    for condition in re.split(r"\s+AND\s+", where, flags=re.IGNORECASE) if where else []:
        test = _CONDITION.match(condition)
        if test is None:
            raise _RefusedError(400, "MALFORMED_QUERY", "unexpected token in the WHERE clause")
        field, value = _field(sobject, test["field"]), _value(test["value"])
        rows = [row for row in rows if row.get(field) == value]
    if parsed["limit"] is not None:
        rows = rows[: int(parsed["limit"])]
    sobjects = f"/services/data/v{version}/sobjects/{sobject}"
    return [
        {
            "attributes": {"type": sobject, "url": f"{sobjects}/{row['Id']}"},
            **{field: row.get(field) for field in fields},
        }
        for row in rows
    ]


def _field(sobject: str, name: str) -> str:
    known = next((field for field in RECORDS[sobject][0] if field.lower() == name.lower()), None)
    if known is None:
        raise _RefusedError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'.")
    return known


def _value(literal: str) -> Any:
    lowered = literal.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    return literal[1:-1]
