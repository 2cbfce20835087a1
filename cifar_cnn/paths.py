"""Where the project keeps its files on disk, and how the operating system's errors about them read."""

from __future__ import annotations

import errno
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


# What to do about the errors a user can fix; the system's own words say what happened.
_OS_ERROR_HINTS = {
    errno.ENAMETOOLONG: "That path is longer than the system allows; use a shorter one.",
    errno.EACCES: "Check its permissions, or use another folder.",
    errno.EPERM: "Check its permissions, or use another folder.",
    errno.ENOSPC: "The disk is full: free some space, or use another folder.",
    errno.EDQUOT: "The disk quota is used up: free some space, or use another folder.",
    errno.EROFS: "That disk is read-only; use another folder.",
    errno.ENOTDIR: "Part of that path is a file, not a folder.",
    errno.ELOOP: "Its symbolic links form a loop.",
}


def shorten(text: str, limit: int = 120) -> str:
    """`text` on one line and at most about `limit` characters: a 5,000-character path must not fill the screen."""
    text = " ".join(str(text).splitlines())
    if len(text) <= limit:
        return text
    return f"{text[:limit - 40]}...{text[-30:]} ({len(text):,} characters)"


def describe_os_error(error: OSError) -> str:
    """One line for an error from the operating system: what happened, to which path, and what to do about it."""
    what = error.strerror or str(error) or type(error).__name__
    where = f": {shorten(os.fsdecode(error.filename))}" if isinstance(error.filename, (str, bytes, os.PathLike)) else ""
    hint = _OS_ERROR_HINTS.get(error.errno)
    return shorten(f"{what}{where}." + (f" {hint}" if hint else ""), limit=400)
