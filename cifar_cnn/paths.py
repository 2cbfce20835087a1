"""Where the project keeps its files on disk."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_artifacts_dir() -> Path:
    """`$CIFAR_CNN_ARTIFACTS`, or `artifacts/` at the project root."""
    configured = os.environ.get("CIFAR_CNN_ARTIFACTS")
    return Path(configured) if configured else PROJECT_ROOT / "artifacts"


def default_cache_dir() -> Path:
    return default_artifacts_dir() / "cache"


def default_runs_dir() -> Path:
    return default_artifacts_dir() / "runs"
