"""`make smoke`: an end-to-end smoke suite over HTTP, for any stage of the service.

Targets (README "Deploying to AWS"):
- a deployed stack, `--stack-name` (SMOKE_STACK_NAME): the API URL, the tables and the audit bucket
  come from its CloudFormation outputs (boto3's usual configuration: AWS_PROFILE, AWS_REGION...);
  two API keys are minted for two fresh orgs (`smoke-<uuid>`) and revoked afterwards, whatever
  happens;
- any base URL (SMOKE_BASE_URL) with the keys of two orgs that hold no credentials
  (SMOKE_API_KEY, SMOKE_OTHER_API_KEY; keys only from the environment, never argv); the table
  scan and the audit check need `--table-name` / `--audit-bucket` or `--audit-file`, else skip;
- the local stack (`make run`), the default: a loopback base URL (http://127.0.0.1:$PORT) implies
  its embedded AWS on PORT+1, the table `integration-credentials-local` and the audit file
  `.local/audit-<PORT>.jsonl` (AUDIT_LOG_FILE); without keys it mints and revokes them there.

Every check prints one PASS/FAIL/SKIP line; the exit status is 1 when any check failed, 2 when
the target could not be set up. Nothing it prints holds a token, key or secret: failures name
statuses, fields and `detail` texts, never values sent or received.
"""

from integration_credentials.adapters.audit import MARKER as AUDIT_MARKER

from .audit import parse_records
from .cli import main
from .expect import difference
from .plaintext import attribute_bytes, encoded_forms, scan_items
from .run import CHECKS, CLEANUP

__all__ = [
    "AUDIT_MARKER",
    "CHECKS",
    "CLEANUP",
    "attribute_bytes",
    "difference",
    "encoded_forms",
    "main",
    "parse_records",
    "scan_items",
]
