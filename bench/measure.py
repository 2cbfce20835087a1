"""What the bench scripts share: which CPU measured, a free port for a server, a median of repeated timings.

The scripts run as `python bench/NAME.py`, so this folder is on their import path.
"""

from __future__ import annotations

import socket
import statistics
import time
from pathlib import Path


def cpu_flags() -> str:
    """"avx512_bf16" or "no avx512_bf16": figures are comparable only between machines of one kind."""
    return "avx512_bf16" if "avx512_bf16" in Path("/proc/cpuinfo").read_text() else "no avx512_bf16"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def median_seconds(action, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
