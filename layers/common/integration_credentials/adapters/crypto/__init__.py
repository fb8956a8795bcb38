"""Envelope encryption of credentials with the AWS Encryption SDK (`cipher`), and the cache of
plaintexts this process has verified (`verified`)."""
