"""The bottom layer: models, settings, domain errors, contract constants and JSON rules.
Imports nothing else of the package."""
