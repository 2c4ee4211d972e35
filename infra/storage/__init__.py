"""Pick the object store named by the settings."""

from __future__ import annotations

from infra.settings import Settings
from infra.storage.base import ObjectInfo, ObjectNotFound, ObjectStore, StorageError
from infra.storage.local import LocalDirStore
from infra.storage.minio import MinioStore
from messages.errors import ConfigurationError


def create_store(settings: Settings) -> ObjectStore:
    if settings.storage_backend == "local":
        return LocalDirStore(settings.storage_dir)
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


__all__ = ["LocalDirStore", "MinioStore", "ObjectInfo", "ObjectNotFound", "ObjectStore", "StorageError", "create_store"]
