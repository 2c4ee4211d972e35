"""Small helpers shared by tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Poll a condition of the system under test; the timeout only bounds a hung test, it measures nothing."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


def free_port() -> int:
    """A TCP port nothing listens on now, for a server a test starts itself."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
