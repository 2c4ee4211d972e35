"""The local stack: where each service keeps its data, which port it listens on, and the URLs the app uses."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kepctl.devca import ensure_dev_ca

ROOT = Path(__file__).resolve().parent.parent
# The Keycloak realm of the local stack (deployments/keycloak/realm-kep.json, made by kepctl/realm.py).
REALM = "kep"


class StackSettings(BaseSettings):
    """Ports and folders of the services run on one machine; every value has a local default."""

    model_config = SettingsConfigDict(env_prefix="KEP_", extra="ignore")

    state_dir: Path = ROOT / ".state"
    pg_port: int = 54329
    # the streaming standby's port: the two swap roles on a switchover (kepctl/services.py, Postgres)
    pg_standby_port: int = 54339
    pg_user: str = "kep"
    pg_password: SecretStr = SecretStr("kep")
    pg_database: str = "kep"
    redis_port: int = 63799
    amqp_port: int = 56729
    rabbit_mgmt_port: int = 15679
    rabbit_dist_port: int = 25679
    minio_port: int = 9109
    minio_console_port: int = 9110
    minio_user: str = "kepminio"
    minio_password: SecretStr = SecretStr("kepminio-secret")
    azurite_port: int = 9111
    # Azurite's well-known development account (the same in every Azurite; public in Microsoft's documentation).
    azurite_account: str = "devstoreaccount1"
    azurite_key: SecretStr = SecretStr(
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    )
    engine_port: int = 18089
    mitos_port: int = 18090
    # the doubles of ΚΕΔ, the gov.gr mailbox and ΚΣΗΔΕ (doubles/ked, doubles/mailbox, doubles/kshde)
    ked_port: int = 18091
    mailbox_port: int = 18092
    kshde_port: int = 18093
    mitos_seed: int = 42
    mitos_count: int = 800
    engine_heap: str = "384m"
    keycloak_port: int = 18180
    keycloak_mgmt_port: int = 19000
    keycloak_heap: str = "256m"
    # The master realm's first administrator, created by Keycloak on its first start (development only).
    keycloak_admin_user: str = "admin"
    keycloak_admin_password: SecretStr = SecretStr("kep-keycloak-admin")
    # the secret of the API's `kep-apps-admin` client (the local realm's; development only)
    keycloak_apps_secret: SecretStr = SecretStr("kep-apps-admin-dev-secret")
    # the local Kubernetes control plane (`kep services start k8s`, not part of `up`): etcd's client and peer ports,
    # kube-apiserver's secure port, and the health ports of kube-controller-manager, kube-scheduler and kwok
    k8s_etcd_port: int = 23790
    k8s_etcd_peer_port: int = 23800
    k8s_api_port: int = 16443
    k8s_controller_manager_port: int = 10357
    k8s_scheduler_port: int = 10359
    k8s_kwok_port: int = 10358
    http_port: int = 8000
    ray_port: int = 6389

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    @property
    def pg_hosts(self) -> str:
        """Both servers of the PostgreSQL pair: a client tries them in order and keeps the one that takes writes."""
        return f"127.0.0.1:{self.pg_port},127.0.0.1:{self.pg_standby_port}"

    def database_url(self, database: str | None = None) -> str:
        pw = self.pg_password.get_secret_value()
        db = database or self.pg_database
        return f"postgresql://{self.pg_user}:{pw}@{self.pg_hosts}/{db}?target_session_attrs=read-write"

    def engine_jdbc_url(self) -> str:
        """The engine's (pgjdbc): the same pair; a host's role is looked at again after 2 s, not pgjdbc's 10."""
        return f"jdbc:postgresql://{self.pg_hosts}/engine?targetServerType=primary&hostRecheckSeconds=2"

    @property
    def k8s_dir(self) -> Path:
        """The local Kubernetes control plane's state: etcd's data, keys and certificates, kubeconfigs."""
        return self.state_dir / "k8s"

    @property
    def k8s_api_url(self) -> str:
        return f"https://127.0.0.1:{self.k8s_api_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def rabbit_mgmt_url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.rabbit_mgmt_port}"

    @property
    def minio_endpoint(self) -> str:
        return f"127.0.0.1:{self.minio_port}"

    @property
    def azure_blob_endpoint(self) -> str:
        """Azurite names the account in the path, where Azure names it in the host."""
        return f"http://127.0.0.1:{self.azurite_port}/{self.azurite_account}"

    @property
    def engine_url(self) -> str:
        return f"http://127.0.0.1:{self.engine_port}/engine-rest"

    @property
    def keycloak_url(self) -> str:
        return f"http://127.0.0.1:{self.keycloak_port}"

    @property
    def oidc_issuer(self) -> str:
        """Exactly the `iss` of the realm's tokens: Keycloak runs with this as its fixed hostname."""
        return f"{self.keycloak_url}/realms/{REALM}"

    @property
    def oidc_jwks_url(self) -> str:
        return f"{self.oidc_issuer}/protocol/openid-connect/certs"

    @property
    def oidc_token_url(self) -> str:
        return f"{self.oidc_issuer}/protocol/openid-connect/token"

    def app_env(self, database: str | None = None) -> dict[str, str]:
        """The `KEP_*` variables that point the application at this local stack."""
        return {
            "KEP_DATABASE_URL": self.database_url(database),
            "KEP_REDIS_URL": self.redis_url,
            "KEP_AMQP_URL": self.amqp_url,
            "KEP_RABBIT_MGMT_URL": self.rabbit_mgmt_url,
            "KEP_ENGINE_URL": self.engine_url,
            "KEP_MITOS_URL": f"http://127.0.0.1:{self.mitos_port}",
            "KEP_STORAGE_BACKEND": os.environ.get("KEP_STORAGE_BACKEND", "minio"),
            "KEP_STORAGE_DIR": str(self.state_dir / "objects"),
            "KEP_MINIO_ENDPOINT": self.minio_endpoint,
            "KEP_MINIO_ACCESS_KEY": self.minio_user,
            "KEP_MINIO_SECRET_KEY": self.minio_password.get_secret_value(),
            "KEP_AZURE_BLOB_ENDPOINT": self.azure_blob_endpoint,
            "KEP_AZURE_ACCOUNT_NAME": self.azurite_account,
            "KEP_AZURE_ACCOUNT_KEY": self.azurite_key.get_secret_value(),
            "KEP_HTTP_PORT": str(self.http_port),
            "KEP_OIDC_ISSUER": self.oidc_issuer,
            "KEP_OIDC_JWKS_URL": self.oidc_jwks_url,
            "KEP_KEYCLOAK_ADMIN_URL": self.keycloak_url,
            "KEP_KEYCLOAK_ADMIN_CLIENT_SECRET": self.keycloak_apps_secret.get_secret_value(),
            **self.documents_env(),
            **self.delivery_env(),
        }

    def delivery_env(self) -> dict[str, str]:
        """The adapters pointed at the local doubles, with the doubles' own credentials, and the key that encrypts
        the adapter secrets administrators save (kept in .state, like the render secret)."""
        from cryptography.fernet import Fernet

        from doubles.ked.server import PASSWORD, PATH, USERNAME
        from doubles.kshde.server import CLIENTS
        from doubles.mailbox.server import TOKEN

        client_id, client_secret = CLIENTS["KEP-ATH"]
        return {
            "KEP_KED_URL": f"http://127.0.0.1:{self.ked_port}{PATH}",
            "KEP_KED_USERNAME": USERNAME,
            "KEP_KED_PASSWORD": PASSWORD,
            "KEP_MAILBOX_ENABLED": "true",
            "KEP_MAILBOX_URL": f"http://127.0.0.1:{self.mailbox_port}",
            "KEP_MAILBOX_TOKEN": TOKEN,
            "KEP_KSHDE_URL": f"http://127.0.0.1:{self.kshde_port}/api/v1",
            "KEP_KSHDE_SECTOR_CODE": "KEP-ATH",
            "KEP_KSHDE_CLIENT_ID": client_id,
            "KEP_KSHDE_CLIENT_SECRET": client_secret,
            "KEP_CONFIG_KEY": _kept_secret(self.state_dir / "config-key", lambda: Fernet.generate_key().decode()),
        }

    def documents_env(self) -> dict[str, str]:
        """Development signing (a CA of this machine's own, `kepctl/devca.py`) and a render secret kept in .state,
        so detached renderers and a restarted HTTP app agree on it."""
        ca = ensure_dev_ca(self.state_dir / "dev-ca")
        render_secret = _kept_secret(self.state_dir / "render-secret", lambda: secrets.token_urlsafe(32))
        return {
            "KEP_SIGNING_KEY_FILE": str(ca.signer_key),
            "KEP_SIGNING_CERT_FILE": str(ca.signer_cert),
            "KEP_SIGNING_CHAIN_FILES": json.dumps([str(ca.ca_cert)]),
            "KEP_RENDER_SECRET": render_secret,
            "KEP_PUBLIC_URL": f"http://127.0.0.1:{self.http_port}",
        }


def _kept_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret of this machine's stack, made once and kept readable by its owner only."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(make())
    return path.read_text().strip()
