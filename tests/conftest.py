from pathlib import Path

import pytest


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    """A cache folder of the test's own, so no test reads or writes the project's artifacts/cache."""
    return tmp_path / "cache"
