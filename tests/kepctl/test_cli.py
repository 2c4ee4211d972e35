"""The operator CLI, as an operator runs it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from kepctl import services
from kepctl.main import app
from kepctl.realm import WEB_CLIENT
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
    # the test session's Ray driver may print its actors' log lines into the captured output: only rows count
    rows = [line.split() for line in result.output.splitlines() if line and not line.startswith("\x1b")]
    states = {row[0]: row[1] for row in rows if len(row) >= 2}
    assert states == {
        "postgres": "up",
        "redis": "up",
        "rabbitmq": "up",
        "minio": "up",
        "azurite": "up",
        "ked": "up",
        "mailbox": "up",
        "kshde": "up",
        "engine": "up",
        "keycloak": "up",
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


async def test_kep_token_is_a_keycloak_token_the_services_accept(stack: StackSettings) -> None:
    result = runner.invoke(app, ["token", "maria.papadopoulou"])
    assert result.exit_code == 0, result.output
    verifier = TokenVerifier(stack.oidc_issuer, WEB_CLIENT, JwksSource(stack.oidc_jwks_url))
    principal = await verifier.verify(result.output.strip())
    assert principal.subject == str(sid("user", "maria.papadopoulou"))  # Keycloak's id, imported from the seed
    assert principal.office_id == sid("office", "KEP-ATH-001")
    assert principal.roles == frozenset({"employee"})


def test_an_unknown_demo_user_gets_no_token() -> None:
    result = runner.invoke(app, ["token", f"nobody-{uuid.uuid4().hex[:4]}"])
    assert result.exit_code == 2


def test_the_cli_imports_no_plotting_library() -> None:
    # a fresh interpreter: this one has imported whatever other tests needed
    probe = "import sys, kepctl.main; print([m for m in sys.modules if m.split('.')[0] == 'matplotlib'])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_local_state_is_closed_to_other_users(stack: StackSettings) -> None:
    # others may pass through `.state` (PostgreSQL runs as its own user), not list it; PostgreSQL trusts local
    # connections, so its socket is for its own OS user alone
    assert stat.S_IMODE(stack.state_dir.stat().st_mode) == 0o711
    sockets = sorted(services.Postgres("postgres", stack).socket_dir.glob(".s.PGSQL.*[0-9]"))
    assert [s.name for s in sockets] == [f".s.PGSQL.{stack.pg_port}", f".s.PGSQL.{stack.pg_standby_port}"]
    assert all(stat.S_IMODE(s.stat().st_mode) == 0o700 for s in sockets)
