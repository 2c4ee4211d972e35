"""Pick the object store named by the settings."""

from __future__ import annotations

from infra.settings import Settings
from infra.storage.azure import AzureBlobStore
from infra.storage.base import ObjectInfo, ObjectNotFound, ObjectStore, StorageError
from infra.storage.local import LocalDirStore
from infra.storage.minio import MinioStore
from messages.errors import ConfigurationError


def create_store(settings: Settings) -> ObjectStore:
    if settings.storage_backend == "local":
        return LocalDirStore(settings.storage_dir)
    if settings.storage_backend == "azure":
        return _azure(settings)
    if not (settings.minio_endpoint and settings.minio_access_key and settings.minio_secret_key):
        raise ConfigurationError(
            "KEP_STORAGE_BACKEND=minio needs KEP_MINIO_ENDPOINT, KEP_MINIO_ACCESS_KEY and KEP_MINIO_SECRET_KEY"
        )
    return MinioStore(
        settings.minio_endpoint,
        settings.minio_access_key,
        settings.minio_secret_key.get_secret_value(),
        settings.storage_bucket,
        secure=settings.minio_secure,
    )


def _azure(settings: Settings) -> AzureBlobStore:
    endpoint, account, key = settings.azure_blob_endpoint, settings.azure_account_name, settings.azure_account_key
    if not (endpoint and account and key):
        missing = [
            name
            for name, value in [
                ("KEP_AZURE_BLOB_ENDPOINT", endpoint),
                ("KEP_AZURE_ACCOUNT_NAME", account),
                ("KEP_AZURE_ACCOUNT_KEY", key),
            ]
            if not value
        ]
        raise ConfigurationError(f"KEP_STORAGE_BACKEND=azure needs {', '.join(missing)}")
    return AzureBlobStore(endpoint, account, key.get_secret_value(), settings.storage_bucket)


__all__ = [
    "AzureBlobStore",
    "LocalDirStore",
    "MinioStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "create_store",
]
