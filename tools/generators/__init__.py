"""Files generated from the code, each with a staleness test:
- openapi.json (`make openapi`, `generators.openapi`): the API's OpenAPI document, from the functions;
- docs/configuration.md (`make configuration`, `generators.configuration`): every setting, from the model.
"""
