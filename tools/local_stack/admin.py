"""`credentials-local-admin`: the operator CLI against the local stack of `make run`.

It points `credentials-admin` at the embedded AWS on 127.0.0.1:<PORT+1> (PORT defaults to 3000,
AWS_ENDPOINT_URL overrides it) and at the local API keys table, with the embedded AWS's fake
credentials; the arguments are the operator CLI's.
"""

import os
import sys
from collections.abc import Sequence

from credentials_admin.cli import main as admin_main

from .fake_aws import FAKE_CREDENTIALS
from .provisioning import API_KEYS_TABLE, local_table_name


def local_stack_endpoint() -> str:
    """The embedded AWS endpoint of the local stack on PORT (default 3000)."""
    return f"http://127.0.0.1:{int(os.environ.get('PORT', '3000')) + 1}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    for name, value in FAKE_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_ENDPOINT_URL", local_stack_endpoint())
    os.environ["API_KEYS_TABLE_NAME"] = local_table_name(API_KEYS_TABLE)
    return admin_main(argv)


if __name__ == "__main__":
    sys.exit(main())
