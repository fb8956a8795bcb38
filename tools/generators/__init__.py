"""Files generated from the code, each with a staleness test: openapi.json."""
