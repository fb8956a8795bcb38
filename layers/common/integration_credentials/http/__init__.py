"""The HTTP edge shared by the functions: responses, the resolver, authentication before
routing, the Lambda handler factory, the domain-error -> HTTP table and the OpenAPI models."""
