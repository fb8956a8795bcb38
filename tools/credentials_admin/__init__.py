"""The operator CLI (`credentials-admin`): mint, list and revoke API keys with an operator's AWS
credentials. It never imports the local stack."""
