"""The two ways of encrypting a credential that `bench.keyring` compares, built as a process
would build them at init.

`today_materials` mirrors `adapters/crypto/cipher.py` (a KMS master key provider behind the
Encryption SDK's caching materials manager: one data key per encryption context);
`hierarchical_keyring` is the AWS Cryptographic Material Providers Library's hierarchical
keyring over a DynamoDB key store, with one branch key per org (or one for everything). This
module imports nothing of the library at its top, so the cold-start counts can import it in a
process where the library is absent; it is not in the project's lock (run `bench.keyring` with
`uv run --with 'aws-encryption-sdk[MPL]==4.0.7'`).
"""

from typing import TYPE_CHECKING, Any

import aws_encryption_sdk
import botocore.session
from aws_encryption_sdk import Algorithm, CommitmentPolicy
from aws_encryption_sdk.caches.local import LocalCryptoMaterialsCache
from aws_encryption_sdk.materials_managers.caching import CachingCryptoMaterialsManager

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeDefinitionTypeDef, KeySchemaElementTypeDef

ALGORITHM = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
# The key store's table: the library names its key attributes.
KEY_STORE_KEY_SCHEMA: list["KeySchemaElementTypeDef"] = [
    {"AttributeName": "branch-key-id", "KeyType": "HASH"},
    {"AttributeName": "type", "KeyType": "RANGE"},
]
KEY_STORE_ATTRIBUTES: list["AttributeDefinitionTypeDef"] = [
    {"AttributeName": "branch-key-id", "AttributeType": "S"},
    {"AttributeName": "type", "AttributeType": "S"},
]
SHARED_BRANCH_KEY = "service"


def esdk_client() -> Any:
    """The Encryption SDK client as the cipher makes it (committing suites only)."""
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )


def today_materials(
    kms_key_arn: str,
    session: botocore.session.Session | None = None,
    *,
    cache_seconds: float = 300.0,
    cache_capacity: int = 1000,
) -> CachingCryptoMaterialsManager:
    """Today's materials manager, configured as `CredentialsCipher` configures it."""
    region = kms_key_arn.split(":")[3]
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[kms_key_arn], botocore_session=session or botocore.session.Session(), region_names=[region]
    )
    return CachingCryptoMaterialsManager(
        master_key_provider=provider,
        cache=LocalCryptoMaterialsCache(cache_capacity),
        max_age=cache_seconds,
        max_messages_encrypted=100,
    )


def key_store(kms: Any, dynamodb: Any, table: str, kms_key_arn: str) -> Any:
    """The key store: branch keys in `table`, each wrapped by `kms_key_arn`."""
    from aws_cryptographic_material_providers.keystore import KeyStore
    from aws_cryptographic_material_providers.keystore.config import KeyStoreConfig
    from aws_cryptographic_material_providers.keystore.models import KMSConfigurationKmsKeyArn

    return KeyStore(
        config=KeyStoreConfig(
            ddb_client=dynamodb,
            ddb_table_name=table,
            logical_key_store_name=table,
            kms_client=kms,
            kms_configuration=KMSConfigurationKmsKeyArn(value=kms_key_arn),
        )
    )


def create_branch_key(store: Any, branch_key_id: str) -> str:
    """A new branch key under `branch_key_id` (an org id, or the shared one)."""
    from aws_cryptographic_material_providers.keystore.models import CreateKeyInput

    created = store.create_key(
        input=CreateKeyInput(
            branch_key_identifier=branch_key_id, encryption_context={"service": "credentials"}
        )
    )
    return str(created.branch_key_identifier)


def hierarchical_keyring(store: Any, *, per_org: bool, ttl_seconds: int = 300, capacity: int = 1000) -> Any:
    """A hierarchical keyring with its own branch-key cache (one per Lambda instance): the
    branch key of the message's org (`per_org`) or the one shared branch key."""
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import (
        CacheTypeDefault,
        CreateAwsKmsHierarchicalKeyringInput,
        DefaultCache,
        GetBranchKeyIdOutput,
    )
    from aws_cryptographic_material_providers.mpl.references import IBranchKeyIdSupplier

    class OrgBranchKey(IBranchKeyIdSupplier):  # type: ignore[misc]
        """The org's branch key: the encryption context names the org."""

        def get_branch_key_id(self, param: Any) -> Any:
            return GetBranchKeyIdOutput(branch_key_id=param.encryption_context["org_id"])

    cache = CacheTypeDefault(value=DefaultCache(entry_capacity=capacity))
    if per_org:
        request = CreateAwsKmsHierarchicalKeyringInput(
            key_store=store, branch_key_id_supplier=OrgBranchKey(), ttl_seconds=ttl_seconds, cache=cache
        )
    else:
        request = CreateAwsKmsHierarchicalKeyringInput(
            key_store=store, branch_key_id=SHARED_BRANCH_KEY, ttl_seconds=ttl_seconds, cache=cache
        )
    return AwsCryptographicMaterialProviders(
        config=MaterialProvidersConfig()
    ).create_aws_kms_hierarchical_keyring(input=request)


def migration_keyring(hierarchical: Any, kms: Any, kms_key_arn: str) -> Any:
    """For decrypting during a migration: the hierarchical keyring for new messages, an AWS KMS
    keyring on the service's key for messages written by today's master key provider. Decrypt
    only: a multi-keyring that encrypted would wrap every data key under KMS too."""
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import (
        CreateAwsKmsKeyringInput,
        CreateMultiKeyringInput,
    )

    library = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    legacy = library.create_aws_kms_keyring(
        input=CreateAwsKmsKeyringInput(kms_key_id=kms_key_arn, kms_client=kms)
    )
    return library.create_multi_keyring(input=CreateMultiKeyringInput(child_keyrings=[hierarchical, legacy]))
