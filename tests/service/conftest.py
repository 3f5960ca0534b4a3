"""The service tier: use cases called directly on a real runtime over a temporary SQLite file, no HTTP, no
dispatcher. Rules that do not depend on the wire or the engine are tested here, fast."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.recording_transport import RecordingTransport
from tests.support.server import settings_for_tests
from verihook.runtime import Runtime, build_runtime


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    built = await build_runtime(settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}"),
                                transport=RecordingTransport())
    try:
        yield built
    finally:
        await built.close()
