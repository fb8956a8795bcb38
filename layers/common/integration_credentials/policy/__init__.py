"""Pure rules, no I/O: when to refresh a token and for how long it lives, backoff, JSON Merge
Patch, list cursors."""
