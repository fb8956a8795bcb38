"""DynamoDB access, one module per kind of item: keys (layout), items (marshalling), credentials
rows and their id mirrors, refresh leases, the refresh index, API keys."""
