"""Everything that talks to the outside: DynamoDB (storage), KMS (crypto), SSM (parameters),
EventBridge (events), the audit sink, callers' credentials (auth) and the CRMs' token
endpoints (providers). Adapters know nothing of HTTP or of the service's rules."""
