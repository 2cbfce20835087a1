"""Faults the class's queue must survive, each repeated `--rounds` times on real servers driven by Chromium.

    python bench/queue_faults.py                  # 10 rounds of each fault
    python bench/queue_faults.py --rounds 2       # a quicker look

Each round starts `streamlit run streamlit_app.py` on a fresh artifacts folder with random images (the faults do not
depend on what is learned), as on a teacher's laptop: the app's own embedded Ray, no teacher key. Two students queue
through the Train page in Chromium (Playwright): ada a long training (tiny_cnn, many epochs), bob a short one that waits
behind it.

- raylet: once ada's training runs, the raylet of the app's training engine is killed (SIGKILL; found among the
  server's descendant processes, never anyone else's). For the next 30 s the server must answer its health check
  every second and stay alive ("kept answering"), and the Runs page must load; then ada's Train page must say that
  the training engine stopped and, after "Start the training engine again", list her training as failed with that
  reason, and bob's page must say his was not run. A job is "lost" when its student is not told what became of it.
- second_server: while ada's training runs and bob's waits, a second server starts on the same artifacts folder and
  its Train page must refuse to run a queue, naming the process that holds it; the first server must keep answering,
  and both of its jobs must then finish (a job that does not is lost). The second server is stopped after that.

- large_file (`--faults large_file`, once): how long the training engine takes to start on a queue file that lists
  `--large` waiting jobs (each then told to its owner as not run), against an empty file (`large_file_s`, `empty_file_s`).

After each round the server is stopped and every process it started must be gone ("left_processes").
Figures, per fault: rounds, kept_answering (rounds where the app answered throughout), jobs_lost, left_processes; the
targets are kept_answering == rounds and jobs_lost == 0. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))  # the tests' /proc helpers
from classroom import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, read_runs, submit, synthetic_data  # bench/classroom.py
from measure import cpu_flags, log_tail, start_app, stop_app  # bench/measure.py
from process_tree import alive, command_line, descendants, program  # tests/process_tree.py

LONG_EPOCHS = 200  # ada's training runs until the round ends it
WATCH_S = 30.0
PAGE_TIMEOUT_MS = 120_000


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def runs_of(artifacts: Path, owner: str) -> list[dict]:
    return [entry for entry in read_runs(artifacts / "runs") if entry["config"].get("owner") == owner]


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"no {what} within {timeout_s:g} s")


def train_page(browser, url: str, name: str):
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(f"{url}/train?name={name}")
    return page


def queue_two(browser, url: str, artifacts: Path, images: int) -> None:
    """ada's long training runs (its run folder exists), bob's short one waits behind it."""
    for name, epochs in (("ada", LONG_EPOCHS), ("bob", 1)):
        page, _ = submit(browser, url, name, "tiny_cnn", images, epochs=epochs)
        page.context.close()
    wait_for(lambda: runs_of(artifacts, "ada"), 120, "run folder of ada's training")


def keeps_answering(url: str, server, seconds: float) -> bool:
    ok = True
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        ok = ok and answers(url) and server.poll() is None
        time.sleep(1.0)
    return ok


def raylet_round(browser, data: Path, folder: Path, images: int) -> dict:
    artifacts = folder / "artifacts"
    server, url = start_app({"CIFAR10_DATA": str(data), "CIFAR_CNN_ARTIFACTS": str(artifacts), "RAY_ADDRESS": None},
                            folder / "server.log")
    outcome = {"kept_answering": False, "jobs_lost": 2, "left_processes": 0, "problem": ""}
    started: list[int] = []
    try:
        queue_two(browser, url, artifacts, images)
        engines = [pid for pid in descendants(server.pid) if "cifar_cnn.classroom.engine" in command_line(pid)]
        raylets = [pid for pid in descendants(engines[0]) if program(pid) == "raylet"]
        started = [server.pid, *descendants(server.pid)]
        os.kill(raylets[0], signal.SIGKILL)
        kept = keeps_answering(url, server, WATCH_S)
        runs_page = browser.new_context(viewport=VIEWPORT).new_page()
        runs_page.goto(f"{url}/runs")
        runs_page.get_by_role("heading", name="Runs", level=1).wait_for(timeout=PAGE_TIMEOUT_MS)
        runs_page.context.close()
        page = train_page(browser, url, "ada")
        page.get_by_text("The training engine stopped").first.wait_for()
        page.get_by_role("button", name="Start the training engine again").click()
        page.get_by_text("while this training ran").first.wait_for()
        page.context.close()
        told = 0
        ada_run = runs_of(artifacts, "ada")[0]["status"]
        told += ada_run.get("state") == "failed" and "training engine stopped" in ada_run.get("message", "")
        page = train_page(browser, url, "bob")
        try:
            page.get_by_text("before this training started").first.wait_for(timeout=60_000)
            told += 1
        except Exception:  # noqa: BLE001 - not told: counted lost
            pass
        page.context.close()
        outcome.update(kept_answering=kept and server.poll() is None, jobs_lost=2 - told)
    except Exception as error:  # noqa: BLE001 - a round that fails counts as failed, with its reason
        outcome["problem"] = f"{type(error).__name__}: {error}"[:300]
        print(log_tail(folder / "server.log"))
    finally:
        started += descendants(server.pid)
        stop_app(server)
        time.sleep(5)
        outcome["left_processes"] = sum(alive(pid) for pid in set(started))
    return outcome


def second_server_round(browser, data: Path, folder: Path, images: int) -> dict:
    artifacts = folder / "artifacts"
    environment = {"CIFAR10_DATA": str(data), "CIFAR_CNN_ARTIFACTS": str(artifacts), "RAY_ADDRESS": None}
    first, url = start_app(environment, folder / "first.log")
    outcome = {"kept_answering": False, "jobs_lost": 2, "left_processes": 0, "problem": "", "refusal": ""}
    started: list[int] = []
    try:
        queue_two(browser, url, artifacts, images)
        second, second_url = start_app(environment, folder / "second.log")
        try:
            page = train_page(browser, second_url, "cy")
            refusal = page.get_by_text(re.compile("Another app already runs the training queue")).first
            refusal.wait_for()
            outcome["refusal"] = refusal.inner_text()[:300]
            page.context.close()
            kept = keeps_answering(url, first, 5)
        finally:
            started += [second.pid, *descendants(second.pid)]
            stop_app(second)
        # The first server's students lost nothing: ada stops hers, bob's then runs.
        page = train_page(browser, url, "ada")
        page.get_by_role("button", name="Stop", exact=True).first.click()
        page.context.close()
        finished = wait_for(lambda: [entry for name in ("ada", "bob") for entry in runs_of(artifacts, name)
                                     if entry["status"].get("state") in ("completed", "stopped")]
                            if len([entry for name in ("ada", "bob") for entry in runs_of(artifacts, name)
                                    if entry["status"].get("state") in ("completed", "stopped")]) == 2 else None,
                            180, "both of the first server's jobs to finish")
        outcome.update(kept_answering=kept and first.poll() is None, jobs_lost=2 - len(finished))
    except Exception as error:  # noqa: BLE001
        outcome["problem"] = f"{type(error).__name__}: {error}"[:300]
        print(log_tail(folder / "first.log"))
    finally:
        started += [first.pid, *descendants(first.pid)]
        stop_app(first)
        time.sleep(5)
        outcome["left_processes"] = sum(alive(pid) for pid in set(started))
    return outcome


def large_file_seconds(folder: Path, jobs: int) -> dict:
    from cifar_cnn.classroom.engine import EngineQueue
    from cifar_cnn.training import TrainConfig

    timings = {}
    for name, count in (("empty_file_s", 0), ("large_file_s", jobs)):
        state_file = folder / name / "queue.json"
        state_file.parent.mkdir(parents=True)
        entry = {"owner": "ada", "state": "queued", "submitted_at": time.time(), "config": TrainConfig(arch="tiny_cnn").to_dict()}
        state_file.write_text(json.dumps({"jobs": [{**entry, "job_id": f"job{number}"} for number in range(count)]}))
        began = time.monotonic()
        engine = EngineQueue.start(folder / name / "runs", state_file)
        timings[name] = round(time.monotonic() - began, 1)
        listed = len(engine.jobs())
        engine.close()
        assert listed == count, (listed, count)
    return {"jobs": jobs, **timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--images", type=int, default=600, help="training images per job (random PNGs)")
    parser.add_argument("--faults", nargs="+", default=["raylet", "second_server"], choices=["raylet", "second_server", "large_file"])
    parser.add_argument("--large", type=int, default=10_000, help="waiting jobs in the large_file fault's queue file")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    figures = {"cpu": cpu_flags()}
    with tempfile.TemporaryDirectory(prefix="cifar-cnn-faults-") as scratch, sync_playwright() as playwright:
        data = synthetic_data(Path(scratch) / "data", args.images)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        rounds = {"raylet": raylet_round, "second_server": second_server_round}
        for fault in args.faults:
            if fault == "large_file":
                figures[fault] = large_file_seconds(Path(scratch), args.large)
                print(fault, json.dumps(figures[fault]), flush=True)
                continue
            outcomes = []
            for number in range(args.rounds):
                folder = Path(scratch) / f"{fault}-{number}"
                folder.mkdir()
                outcome = rounds[fault](browser, data, folder, args.images)
                print(fault, number + 1, json.dumps(outcome), flush=True)
                outcomes.append(outcome)
            figures[fault] = {"rounds": len(outcomes), "kept_answering": sum(o["kept_answering"] for o in outcomes),
                              "jobs_lost": sum(o["jobs_lost"] for o in outcomes),
                              "left_processes": sum(o["left_processes"] for o in outcomes),
                              "problems": [o["problem"] for o in outcomes if o["problem"]]}
        browser.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
