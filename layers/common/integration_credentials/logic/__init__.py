"""What the service does, in domain terms: the credentials service, token refresh under a lease,
the refresh scheduler and worker, idempotent create. Raises domain errors; knows nothing of HTTP."""
