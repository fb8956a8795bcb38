"""The local stack of `make run`: the embedded AWS (moto) provisioned from template.yaml, a Lambda
runtime that runs each function in its own process with the template's environment and Timeout,
API Gateway routing and events, the schedule and queue sources, and the recorder of IAM accesses.
Never shipped in a Lambda; it never imports the bench, the smoke suite or the tests."""
