"""The embedded AWS's region and fake credentials, in a module that imports nothing: the admin CLI
and provisioning name them without importing moto (a second of every CLI run's start)."""

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
}
