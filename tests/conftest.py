from pathlib import Path

import pytest

# Before any test module imports TensorFlow, so the tests run with the CPU options the package sets.
import cifar_cnn  # noqa: F401


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    """A cache folder of the test's own, so no test reads or writes the project's artifacts/cache."""
    return tmp_path / "cache"


# Modules whose tests start Ray, a browser or a subprocess (a server, the CLI): marked slow, so that
# `pytest -m "not slow"` runs the rest in a couple of minutes. Single tests elsewhere carry the mark themselves.
SLOW_MODULES = {"test_training_queue", "test_browser", "test_browser_classroom", "test_browser_inside", "test_browser_pictures", "test_browser_stage",
                "test_cli", "test_app", "test_app_evaluate", "test_live_feed", "test_cpu_options", "test_hostile_runs",
                "test_archive_limits"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.module.__name__ in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
