"""An identity provider for RS256 tests: signing keys by `kid`, a JWKS on 127.0.0.1 whose keys an
operator adds and removes, and which can be down or hold its answers."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fake_crms as fake
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests import tokens

ISSUER, AUDIENCE = "https://idp.example", "integration-credentials"


class IdentityProvider:
    """Keys `kid` -> RSA private key; `published` is what the JWKS serves."""

    def __init__(self, *kids: str) -> None:
        self._keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in kids}
        self.published = list(kids)
        self.down = False  # answers 503
        self.hold = threading.Event()  # while clear (and held), answers wait for it
        self.hold.set()
        self.endpoint: fake.FakeEndpoint | None = None

    @property
    def jwks_url(self) -> str:
        assert self.endpoint is not None
        return self.endpoint.url("/.well-known/jwks.json")

    @property
    def fetches(self) -> int:
        assert self.endpoint is not None
        return len(self.endpoint.received)

    def add(self, kid: str) -> None:
        self._keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published.append(kid)

    def private_key(self, kid: str) -> rsa.RSAPrivateKey:
        return self._keys[kid]

    def token(self, kid: str, **claims: Any) -> str:
        """A token signed with `kid` (published or not); `claims` add or (None) remove claims."""
        key = self._keys.get(kid) or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        base = {"org_id": "org-rs", "sub": "svc", "iss": ISSUER, "aud": AUDIENCE}
        return tokens.token(key, algorithm="RS256", kid=kid, **{**base, **claims})

    def bearer(self, kid: str, **claims: Any) -> dict[str, str]:
        return tokens.bearer(self.token(kid, **claims))

    def _jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._keys[kid].public_key()))
            keys.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def _answer(self, received: fake.Received) -> fake.Reply:
        self.hold.wait(timeout=30)
        if self.down:
            return fake.Reply(503, {"error": "unavailable"})
        return fake.Reply(200, self._jwks())

    @contextmanager
    def serving(self) -> Iterator["IdentityProvider"]:
        """Serve the JWKS on 127.0.0.1 for the block."""
        with fake.serve(self._answer) as endpoint:
            self.endpoint = endpoint
            try:
                yield self
            finally:
                self.hold.set()
