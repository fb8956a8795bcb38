"""The seed's example integration script, written with the client: read the org's Salesforce
credential from the integration-credentials service, query the open leads through `CrmAuth` (when
Salesforce answers 401 because the session expired, it refreshes the token through the service
once and sends the query again), turn them into the SDR agent's contacts, and print them, one
JSON object a line (or POST them where CONTACTS_BULK_URL says, the platform's /contacts/bulk).

Environment:
  CREDENTIALS_API_URL  the service (default http://127.0.0.1:3000, `make run`'s)
  CREDENTIALS_API_KEY  a key of the org: credentials:read + credentials:refresh are enough
  CONTACTS_BULK_URL    optional: where to upload the contacts (with the same key)

Locally, against the fake Salesforce (its query resource answers for the tokens it issued):
  1. Serve the fakes (port 8900 here; they print the settings `make run` needs to use them):
       PORT=8900 uv run python -m fake_crms
  2. In another shell, paste the `export OAUTH_*_SALESFORCE=...` and
     `export LOCAL_OAUTH_CLIENT_*_SALESFORCE=...` lines it printed, then `make run`; note the
     demo org's API key from its banner: `export CREDENTIALS_API_KEY=sk_live_...`
  3. Connect Salesforce for the demo org, as a platform user would:
       curl -s -X POST http://127.0.0.1:3000/integration-credentials/connect \\
         -H "X-API-Key: $CREDENTIALS_API_KEY" -H "Content-Type: application/json" \\
         -d '{"provider": "salesforce", "return_url": "http://127.0.0.1:3000/done"}'
     Open its `connect_url` in a browser and press Allow on the fake's consent page (the last
     page, on /done, does not exist: the credential is stored by then; its `instance_url` is
     the fake's Salesforce org).
  4. uv run python clients/python/examples/sync_contacts.py
"""

import json
import logging
import os
import sys

import httpx
from integration_credentials_client import Client, CrmAuth, IntegrationCredentialsError, ReconnectRequired

QUERY = "SELECT Name, Email, Company FROM Lead WHERE IsConverted = false"


def main() -> int:
    # The client logs a refresh (the credentials id, never a token) at INFO.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    api = os.environ.get("CREDENTIALS_API_URL", "http://127.0.0.1:3000")
    api_key = os.environ["CREDENTIALS_API_KEY"]
    with Client(api, api_key=api_key) as client:
        # 1. The Salesforce credentials, as an auth object that keeps the token valid
        auth = CrmAuth(client, provider="salesforce")
        try:
            instance_url = auth.credentials().metadata["instance_url"]
            # 2. Fetch the leads (a 401 for an expired session is refreshed and retried once)
            response = httpx.get(
                f"{instance_url}/services/data/v58.0/query", params={"q": QUERY}, auth=auth, timeout=30
            )
        except ReconnectRequired as error:
            print(error, file=sys.stderr)  # the customer must reconnect Salesforce: tell them
            return 2
        except IntegrationCredentialsError as error:
            print(f"integration-credentials: {error}", file=sys.stderr)
            return 1
        response.raise_for_status()
        leads = response.json()["records"]

    # 3. Transform to the SDR Agent format
    contacts = [
        {
            "full_name": lead["Name"],
            "email": lead["Email"],
            "company": lead["Company"],
            "linkedin_profile": f"https://linkedin.com/in/{lead['Email'].split('@')[0]}",
        }
        for lead in leads
    ]

    # 4. Bulk upload (another part of the platform), else show them
    bulk_url = os.environ.get("CONTACTS_BULK_URL")
    if bulk_url:
        httpx.post(bulk_url, headers={"X-API-Key": api_key}, json=contacts, timeout=30).raise_for_status()
        print(f"{len(contacts)} contacts uploaded")
    else:
        for contact in contacts:
            print(json.dumps(contact))
    return 0


if __name__ == "__main__":
    sys.exit(main())
