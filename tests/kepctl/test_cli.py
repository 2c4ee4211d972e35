"""The operator CLI, as an operator runs it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.settings import Settings
from kepctl.main import app
from kepctl.seed import sid
from kepctl.stack import StackSettings
from serve.security import JwksSource, TokenVerifier

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """The CLI fills in KEP_* defaults for the local stack; keep them out of the other tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_services_status_lists_every_service_up(stack: StackSettings) -> None:
    result = runner.invoke(app, ["services", "status"])
    assert result.exit_code == 0, result.output
    states = {line.split()[0]: line.split()[1] for line in result.output.splitlines()}
    assert states == {
        "postgres": "up",
        "redis": "up",
        "rabbitmq": "up",
        "minio": "up",
        "engine": "up",
        "mitos": "up",
    }


def test_migrate_on_a_current_schema_applies_nothing(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEP_DATABASE_URL", database_url)
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "nothing, schema is current" in result.output


def test_a_missing_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEP_CASE_SHARDS", "many")
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert "KEP_CASE_SHARDS" in result.output


async def test_a_dev_token_is_accepted_by_the_services_verifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("KEP_STATE_DIR", str(tmp_path))
    result = runner.invoke(app, ["token", "maria.papadopoulou"])
    assert result.exit_code == 0, result.output
    verifier = TokenVerifier(
        settings.oidc_issuer, settings.oidc_audience, JwksSource(f"file://{tmp_path}/dev-keys/jwks.json")
    )
    principal = await verifier.verify(result.output.strip())
    assert principal.subject == "maria.papadopoulou"
    assert principal.office_id == sid("office", "KEP-ATH-001")
    assert principal.roles == frozenset({"employee"})


def test_an_unknown_demo_user_gets_no_token() -> None:
    result = runner.invoke(app, ["token", f"nobody-{uuid.uuid4().hex[:4]}"])
    assert result.exit_code == 2
