"""The shared package of the integration-credentials functions, in one-way layers.

Each layer imports only the layers below it (import-linter holds this in `make test`):

    http       resolver, auth before validation, handler factory, error -> HTTP table, OpenAPI models
    logic      credentials service, token refresh, scheduler, idempotent create, queue worker
    policy     pure rules, no I/O: refresh schedule, merge patch, cursors
    adapters   storage, crypto, auth, events, audit, AWS clients, parameters, OAuth providers
    core       models, settings, domain errors, constants, JSON rules
"""
