"""Body of `POST /integration-credentials/`."""

from pydantic import BaseModel, ConfigDict, Field

from . import AccessToken, Dsn, Metadata, ProviderId


class CredentialsCreate(BaseModel):
    """Body of `POST /integration-credentials/`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    provider: ProviderId
    dsn: Dsn
    access_token: AccessToken
    metadata: Metadata = Field(default_factory=dict)
