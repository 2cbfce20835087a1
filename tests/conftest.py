from pathlib import Path

import pytest

# Before any test module imports TensorFlow, so the tests run with the CPU options the package sets.
import cifar_cnn  # noqa: F401


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    """A cache folder of the test's own, so no test reads or writes the project's artifacts/cache."""
    return tmp_path / "cache"
