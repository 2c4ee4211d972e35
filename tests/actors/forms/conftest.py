from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reference.engines import Engines


@pytest.fixture(scope="session")
def engines() -> Iterator[Engines]:
    running = Engines()
    yield running
    running.close()
