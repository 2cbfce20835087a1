"""What the bench scripts share: which CPU measured, a free port for a server, a median of repeated timings.

The scripts run as `python bench/NAME.py`, so this folder is on their import path.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_flags() -> str:
    """"avx512_bf16" or "no avx512_bf16": figures are comparable only between machines of one kind."""
    return "avx512_bf16" if "avx512_bf16" in Path("/proc/cpuinfo").read_text() else "no avx512_bf16"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(environment: dict[str, str], log: Path, timeout_s: float = 120,
              script: Path = ROOT / "streamlit_app.py") -> tuple[subprocess.Popen, str]:
    """`streamlit run streamlit_app.py` (or another `script`) on a free local port, with `environment` added to this
    process' (a value of None removes a variable) and its output in `log`; returns the server and its address once it
    answers."""
    port = free_port()
    env = {**os.environ, **environment}
    env = {name: value for name, value in env.items() if value is not None}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=script.parent, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"streamlit did not start:\n{log_tail(log)}")


def stop_app(server: subprocess.Popen) -> None:
    server.terminate()  # the app's exit handler ends the queue and its Ray
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def median_seconds(action, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes_cpu_seconds(name_part: str) -> float:
    """CPU time (user and system) used so far by every live process whose name holds `name_part` (a browser's many
    processes: "chrom")."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if name_part in name:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def idle_priority_chromium(folder: Path, chromium: str = "/usr/bin/chromium") -> str:
    """A launcher for `chromium` whose every process (each tab's renderer too, by inheritance) runs under Linux's
    SCHED_IDLE policy.

    On a 2-core machine, 30 tabs at normal priority cost more CPU than the training: Streamlit's frontend alone,
    redrawing a progress line every second, takes about 60 ms a second per tab, and a Plotly chart redrawn every
    second about 90 ms more. Idle priority does not make the browsers free either: each idle process still weighs a
    twelfth of a nice-15 one (a Ray worker's default), and ten idle tabs took half of the training's CPU time. (One
    cgroup marked idle for all of them starved the tabs instead: they took minutes to load a page.) Browsers on other
    computers, as in a real class, are the only way to see the server's cost alone: `bench/viewers.py` reports it."""
    launcher = folder / "chromium-idle"
    launcher.write_text(f'#!/bin/sh\nexec chrt --idle 0 {chromium} "$@"\n')
    launcher.chmod(0o755)
    return str(launcher)
