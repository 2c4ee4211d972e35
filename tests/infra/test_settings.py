"""A missing or malformed setting stops start-up with the variable's name."""

from __future__ import annotations

import os

import pytest

from infra.settings import Settings, as_env, load_settings
from messages.errors import ConfigurationError

REQUIRED = ["KEP_DATABASE_URL", "KEP_REDIS_URL", "KEP_AMQP_URL", "KEP_ENGINE_URL"]


def test_every_missing_required_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REQUIRED:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    for name in REQUIRED:
        assert f"{name} is required but not set" in str(err.value)


def test_a_malformed_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REQUIRED:
        monkeypatch.setenv(name, "x://y")
    monkeypatch.setenv("KEP_CASE_SHARDS", "zero")
    with pytest.raises(ConfigurationError, match="KEP_CASE_SHARDS"):
        load_settings()


def test_secrets_do_not_leak_into_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REQUIRED:
        monkeypatch.setenv(name, "http://somewhere/")
    monkeypatch.setenv("KEP_DATABASE_URL", "postgresql://kep:hunter2@db/kep")
    monkeypatch.setenv("KEP_AMQP_URL", "amqp://kep:hunter2@mq/")
    s = load_settings()
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"KEP_DEV_KEYS_DIR": "keys", "KEP_OIDC_JWKS_URL": "https://id/certs", "KEP_OIDC_ISSUER": "https://id"},
         "KEP_DEV_KEYS_DIR"),
        ({"KEP_OIDC_JWKS_URL": "https://id/certs"}, "KEP_OIDC_ISSUER"),
        ({"KEP_OIDC_ISSUER": "https://id/realms/kep"}, "KEP_OIDC_JWKS_URL"),
    ],
)  # fmt: skip
def test_production_refuses_the_development_issuer(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name in REQUIRED:
        monkeypatch.setenv(name, "http://somewhere/")
    for name in ("KEP_DEV_KEYS_DIR", "KEP_OIDC_JWKS_URL", "KEP_OIDC_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEP_ENV", "production")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=named):
        load_settings()
    monkeypatch.setenv("KEP_ENV", "development")
    assert load_settings().env == "development"


def test_as_env_gives_another_process_the_same_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # the session's settings: secrets, paths, tuples, a generated render secret, overrides of many defaults
    for name in [k for k in os.environ if k.startswith("KEP_")]:
        monkeypatch.delenv(name)
    for name, value in as_env(settings).items():
        monkeypatch.setenv(name, value)

    again = load_settings()

    assert again.model_dump() == settings.model_dump()
    assert again.render_secret.get_secret_value() == settings.render_secret.get_secret_value()
