"""Serve's HAProxy keeps its admin socket (level admin) where only this user may reach it."""

from __future__ import annotations

import stat
from typing import Any

from infra.settings import Settings
from serve.bootstrap import haproxy_dir


def test_the_admin_socket_is_in_a_folder_only_we_may_enter(ray_app: dict[str, Any], settings: Settings) -> None:
    private = haproxy_dir(settings)
    sockets = list(private.glob("*/admin.sock"))
    assert sockets, f"no admin socket under {private}"
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert private.stat().st_uid == sockets[0].stat().st_uid
