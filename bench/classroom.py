"""A class trains at once: N students, each in a browser session of their own, queue a small training each; how fast
the pages answer while the queue drains, whether every run arrives, and how long the whole class takes.

    python bench/classroom.py                              # 30 students, tiny_cnn, 1,000 images, 1 epoch each
    python bench/classroom.py --students 3 --skip-baseline # a quick check that the bench runs
    python bench/classroom.py --round                      # a class round: 30 students, the class exercise (below)
    python bench/classroom.py --round --students 4 --minutes 0.2   # a smaller round

`--round` measures a class round instead (`class_round.py` beside this file, which says what it measures).

Data: `../shared/data/cifar10-jpeg.tar.gz` (CIFAR-10 as JPEG files, see ../shared/data/README.md) where it exists, else
random images written to a temporary folder (the figures are then only a check that the bench runs); `--data` names
another copy. The server is `streamlit run streamlit_app.py` on a fresh artifacts folder (CIFAR_CNN_ARTIFACTS), with a
teacher key set (CIFAR_CNN_TEACHER_KEY), as in a class: a student must give a name to train. It trains through the
app's Ray queue with its defaults (an embedded local Ray, one training at once per two cores).

1. Submit: student-01, student-02, ... one after another, each in a new Playwright context of Debian's Chromium,
   open the Train page, type their name in "Your name", turn off the quick demo, choose `--arch`, 1 epoch and a train
   subset of `--images`, click Train and wait until the job shows under their own trainings. Each context is then
   closed (memory stays bounded), except the first `--watchers`, which stay on their Train page as live viewers.
2. Measure, while the queue drains (and at least `--min-loads` times each): the page response time of
   - the Train page: from the start of `page.goto(<url>/train?name=<last student>)` (a new browser session each time,
     as a reload; the last student's job waits longest) until both the title "Train" and the heading
     "Your trainings, <name>" are visible;
   - the Class page: from the start of `page.goto(<url>/class)` until both the title "Class" and the leaderboard (the
     caption "N runs by ..." and the table below it) are visible.
   A load that takes over 60 s counts as 60 s and is reported as a timeout. Reported: p50 and p95 of each (target:
   p95 under 2 s), over the loads started while jobs were still unfinished.
3. Check the runs folder: exactly N runs, all completed, one per student (config.json's "owner"), none duplicated or
   lost, with the settings asked for.
4. Wall time: from the first click on Train to the last run's finish (its status.json `finished_at`), against N
   back-to-back runs of the same settings trained in-process (`cifar_cnn.training.train` with
   `cifar_cnn.training.presets.build_config`, after the server has stopped): `--baseline-runs` of them are measured
   and the N extrapolated from their mean, which the output says. The ratio is queued over back-to-back.

The browsers, the server and the trainings share this machine's CPUs (`grep -o avx512_bf16 /proc/cpuinfo` says which
kind, printed with the figures), as they would on a teacher's laptop that serves the class. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import cpu_flags, log_tail, start_app, stop_app  # bench/measure.py: bench/ is on a bench script's import path

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 720}
PAGE_TIMEOUT_S = 60.0
TARGET_P95_S = 2.0
# The first page loads (and decodes) the dataset and starts Ray: minutes on a busy 2-core machine.
WARM_UP_TIMEOUT_S = 600.0


def synthetic_data(folder: Path, images: int) -> Path:
    """An image-folder tree of random 32x32 PNGs, 10 classes, with at least `images` training images."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    per_class = {"train": math.ceil(images / 10) + 10, "test": 20}
    for split, count in per_class.items():
        for label in range(10):
            target = folder / split / f"class{label}"
            target.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                image = rng.integers(0, 120, (32, 32, 3), dtype=np.uint8)
                image[..., label % 3] += 100  # something to learn, so the runs are not all at chance
                Image.fromarray(image).save(target / f"{index:04d}.png")
    return folder


def start_server(data: Path, artifacts: Path, teacher_key: str, log: Path) -> tuple[subprocess.Popen, str]:
    # RAY_ADDRESS removed: the app's own embedded Ray, as on a teacher's laptop
    return start_app({"CIFAR10_DATA": str(data), "CIFAR_CNN_ARTIFACTS": str(artifacts), "CIFAR_CNN_TEACHER_KEY": teacher_key,
                      "RAY_ADDRESS": None}, log)


def student_name(number: int) -> str:
    return f"student-{number:02d}"


def job_caption(arch: str, images: int, epochs: int = 1) -> re.Pattern:
    """The start of the job's settings line (`describe_config`) under the student's own trainings."""
    return re.compile(rf"^{re.escape(arch)} · {epochs} epochs? · {images:,} training images · ")


def wait_until_idle(page) -> None:
    """Until the page's script run is over: a widget changed during a run may be redrawn with the run's older value."""
    page.wait_for_function("() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning'")


def submit(browser, url: str, name: str, arch: str, images: int, epochs: int = 1):
    """One student queues their training; returns (their page, the moment they clicked Train)."""
    from playwright.sync_api import expect

    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.set_default_timeout(PAGE_TIMEOUT_S * 1000)
    page.goto(f"{url}/train")
    box = page.locator("[data-testid=stSidebar]").get_by_role("textbox", name="Your name")
    box.fill(name)
    box.press("Enter")
    page.wait_for_url(re.compile(rf"[?&]name={re.escape(name)}(&|$)"))
    wait_until_idle(page)
    page.get_by_text("Quick demo", exact=True).click()
    architecture = page.get_by_role("combobox", name="Architecture")
    architecture.wait_for()
    wait_until_idle(page)
    for attempt in range(3):  # a rerun that lands while the list is open closes it: open it again
        architecture.click()
        try:
            page.get_by_role("option", name=arch, exact=True).click(timeout=10_000)
            break
        except Exception:
            if attempt == 2:
                raise
            wait_until_idle(page)
    expect(architecture).to_have_value(arch)
    for label, value in (("Epochs", epochs), ("Train subset (0 = all images)", images)):
        field = page.get_by_role("spinbutton", name=label)
        field.fill(str(value))
        field.press("Enter")
    wait_until_idle(page)
    clicked = time.time()
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_role("heading", name=f"Your trainings, {name}", exact=True).wait_for()
    page.locator("[data-testid=stMain] [data-testid=stCaptionContainer]").filter(has_text=job_caption(arch, images, epochs)).first.wait_for()
    return page, clicked


def timed_load(page, url: str, *marks) -> float:
    """Seconds from the start of navigating to `url` until every locator made by `marks(page)` is visible."""
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    for mark in marks:
        mark(page).wait_for(state="visible", timeout=PAGE_TIMEOUT_S * 1000)
    return time.perf_counter() - started


def train_page_marks(name: str):
    return (lambda page: page.get_by_role("heading", name="Train", level=1, exact=True),
            lambda page: page.get_by_role("heading", name=f"Your trainings, {name}", exact=True))


CLASS_PAGE_MARKS = (
    lambda page: page.get_by_role("heading", name="Class", level=1, exact=True),
    lambda page: page.locator("[data-testid=stMain]").get_by_text(re.compile(r"^\d+ runs? by ")),
    # The leaderboard is the page's first table; the sweep's plan, further down, comes after it.
    lambda page: page.locator("[data-testid=stMain] [data-testid=stDataFrame]").first,
)


def unfinished_jobs(artifacts: Path) -> int | None:
    """Jobs waiting or running, from the queue's own file (None before the queue wrote it)."""
    try:
        return len(json.loads((artifacts / "queue.json").read_text()).get("jobs", []))
    except (OSError, ValueError):
        return None


def read_runs(runs_dir: Path, files: tuple[str, ...] = ("config", "status")) -> list[dict]:
    """Each run folder's JSON `files` ("config" for config.json...), with what could not be read under "problems"."""
    found = []
    for run_dir in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        if not run_dir.is_dir() or run_dir.name.startswith("."):
            continue
        entry = {"run": run_dir.name}
        for name in files:
            try:
                entry[name] = json.loads((run_dir / f"{name}.json").read_text())
            except (OSError, ValueError) as error:
                entry[name] = {}
                entry.setdefault("problems", []).append(f"{name}.json: {error}")
        found.append(entry)
    return found


def check_runs(found: list[dict], students: list[str], arch: str, images: int) -> list[str]:
    """What is wrong with the runs folder: every student exactly one completed run of the settings asked for."""
    problems = [f"{entry['run']}: {problem}" for entry in found for problem in entry.get("problems", [])]
    owners = [entry["config"].get("owner") for entry in found]
    if len(found) != len(students):
        problems.append(f"{len(found)} runs, expected {len(students)}")
    for student in students:
        if owners.count(student) != 1:
            problems.append(f"{student} owns {owners.count(student)} runs")
    for owner in sorted({str(owner) for owner in owners} - set(students)):
        problems.append(f"a run owned by {owner!r}, who is no student")
    for entry in found:
        config, state = entry["config"], entry["status"].get("state")
        if state != "completed":
            problems.append(f"{entry['run']} ({config.get('owner')}) is {state}: {entry['status'].get('message', '')}")
        asked = {"arch": arch, "epochs": 1, "subset": images}
        wrong = {key: config.get(key) for key, value in asked.items() if config.get(key) != value}
        if wrong:
            problems.append(f"{entry['run']} ({config.get('owner')}) has {wrong}, asked for {asked}")
    return problems


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50_s": None, "p95_s": None, "max_s": None}
    return {"n": len(values), "p50_s": round(percentile(values, 0.5), 3), "p95_s": round(percentile(values, 0.95), 3),
            "max_s": round(max(values), 3)}


def baseline(data: Path, cache: Path, settings: dict, count: int) -> list[float]:
    """Seconds of each of `count` in-process trainings with `settings`, one after another in this process."""
    import cifar_cnn  # noqa: F401  (before TensorFlow: it sets TensorFlow's CPU options)
    from cifar_cnn.data import load_dataset
    from cifar_cnn.training import train
    from cifar_cnn.training.presets import build_config

    dataset = load_dataset(data, cache_dir=cache / "cache")
    config = build_config(**settings)
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        result = train(config, dataset, runs_dir=cache / "runs")
        seconds.append(time.perf_counter() - started)
        if result.state != "completed":
            raise SystemExit(f"the in-process baseline training ended {result.state}: {result.message}")
        print(f"  in-process run {len(seconds)}/{count}: {seconds[-1]:.1f} s", flush=True)
    return seconds


def queued_settings(found: list[dict], arch: str, images: int) -> dict:
    """The settings the Train page queued (from a run's config.json), as `build_config` choices; the bench's own
    arguments where no run has a config."""
    from cifar_cnn.training import TrainConfig

    config = next((entry["config"] for entry in found if entry["config"]), None)
    if config is None:
        return {"arch": arch, "epochs": 1, "subset": images}
    settings = TrainConfig.from_dict(config).to_dict()
    settings.pop("owner", None)
    return settings


def main() -> None:
    if "--round" in sys.argv:
        import class_round  # bench/class_round.py

        sys.argv.remove("--round")
        class_round.main()
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30, help="students, each in a browser session (default 30)")
    parser.add_argument("--images", type=int, default=1000, help="train subset of each training (default 1,000)")
    parser.add_argument("--arch", default="tiny_cnn", help="architecture of each training (default tiny_cnn)")
    parser.add_argument("--data", type=Path, default=None,
                        help=f"a CIFAR-10 copy (default: {REAL_DATA} if it exists, else random images)")
    parser.add_argument("--watchers", type=int, default=3, help="students whose Train page stays open (default 3)")
    parser.add_argument("--min-loads", type=int, default=5, help="loads of each page measured at least (default 5)")
    parser.add_argument("--baseline-runs", type=int, default=3, help="in-process runs measured for the baseline (default 3)")
    parser.add_argument("--skip-baseline", action="store_true", help="no in-process baseline (no ratio)")
    parser.add_argument("--timeout-min", type=float, default=90, help="give up on the queue draining after this long (default 90)")
    args = parser.parse_args()
    if args.students < 1 or args.images < 1:
        parser.error("--students and --images must be at least 1")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    students = [student_name(number) for number in range(1, args.students + 1)]
    with tempfile.TemporaryDirectory(prefix="bench-classroom-") as folder:
        folder = Path(folder)
        data = args.data or (REAL_DATA if REAL_DATA.exists() else synthetic_data(folder / "data", args.images))
        data_label = "random images" if data == folder / "data" else str(data)
        artifacts = folder / "artifacts"
        log = folder / "streamlit.log"
        print(f"data: {data_label}; {cpu_flags()}, {os.cpu_count()} cores; {args.students} students, {args.arch}, "
              f"{args.images:,} images, 1 epoch", flush=True)
        server, url = start_server(data, artifacts, secrets.token_urlsafe(16), log)
        # Loads started while jobs waited or ran (the figures), and after the queue drained (only to reach --min-loads).
        timings = {"Train": [], "Class": []}
        idle_timings = {"Train": [], "Class": []}
        timeouts = {"Train": 0, "Class": 0}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                try:
                    warm = browser.new_context(viewport=VIEWPORT).new_page()
                    started = time.perf_counter()
                    warm.goto(f"{url}/train")  # loads the dataset and starts Ray: not part of any figure
                    warm.get_by_text("Settings of the next training").wait_for(timeout=WARM_UP_TIMEOUT_S * 1000)
                    print(f"warm-up (dataset loaded, Ray started): {time.perf_counter() - started:.1f} s", flush=True)
                    warm.context.close()

                    watchers, first_click = [], None
                    submit_started = time.perf_counter()
                    for number, name in enumerate(students, start=1):
                        page, clicked = submit(browser, url, name, args.arch, args.images)
                        first_click = first_click or clicked
                        if len(watchers) < args.watchers:
                            watchers.append(page)
                        else:
                            page.context.close()
                        if number % 10 == 0 or number == len(students):
                            print(f"  {number} submitted, {time.perf_counter() - submit_started:.0f} s; "
                                  f"{unfinished_jobs(artifacts)} waiting or running", flush=True)
                    submit_seconds = time.perf_counter() - submit_started

                    observer = browser.new_context(viewport=VIEWPORT).new_page()
                    deadline = time.monotonic() + args.timeout_min * 60
                    train_url = f"{url}/train?name={students[-1]}"
                    while time.monotonic() < deadline:
                        draining = unfinished_jobs(artifacts) != 0
                        if not draining and all(len(timings[kind]) + len(idle_timings[kind]) >= args.min_loads for kind in timings):
                            break
                        for kind, page_url, marks in (("Train", train_url, train_page_marks(students[-1])),
                                                      ("Class", f"{url}/class", CLASS_PAGE_MARKS)):
                            try:
                                seconds = timed_load(observer, page_url, *marks)
                            except PlaywrightError:
                                seconds = PAGE_TIMEOUT_S
                                timeouts[kind] += 1
                            (timings if draining else idle_timings)[kind].append(seconds)
                    drained = unfinished_jobs(artifacts) == 0
                    for page in watchers:
                        page.context.close()
                finally:
                    browser.close()
        except Exception:
            print(f"the bench failed; the server's log ends:\n{log_tail(log)}", file=sys.stderr)
            raise
        finally:
            stop_app(server)

        found = read_runs(artifacts / "runs")
        problems = check_runs(found, students, args.arch, args.images)
        if not drained:
            problems.insert(0, f"the queue had not drained after {args.timeout_min:g} minutes")
        finished = [entry["status"].get("finished_at") for entry in found if isinstance(entry["status"].get("finished_at"), (int, float))]
        wall = max(finished) - first_click if finished else None
        # A queued run's own time (its status is written once its worker has started): the rest of a job's share of the
        # wall time is the worker process starting and the run coming back to the app.
        durations = [entry["status"]["finished_at"] - entry["status"]["started_at"] for entry in found
                     if all(isinstance(entry["status"].get(key), (int, float)) for key in ("started_at", "finished_at"))]
        settings = queued_settings(found, args.arch, args.images)

        base = None
        if not args.skip_baseline:
            count = min(args.baseline_runs, args.students)
            print(f"in-process baseline: {count} of {args.students} back-to-back runs", flush=True)
            seconds = baseline(data, folder / "baseline", settings, count)
            base = {"measured_runs": count, "mean_run_s": round(statistics.mean(seconds), 2),
                    "total_s": round(statistics.mean(seconds) * args.students, 1), "extrapolated": count < args.students}

    if problems:
        print("run check FAILED:\n  " + "\n  ".join(problems))
    else:
        print(f"run check: {args.students} runs, all completed, one per student, none lost or duplicated")
    for kind in ("Train", "Class"):
        figures, idle = summary(timings[kind]), summary(idle_timings[kind])
        print(f"{kind} page while the queue drained: p50 {figures['p50_s']} s, p95 {figures['p95_s']} s, max {figures['max_s']} s "
              f"over {figures['n']} loads ({timeouts[kind]} timeouts in all); target p95 < {TARGET_P95_S:g} s"
              + (f"; after it drained: p50 {idle['p50_s']} s over {idle['n']} loads" if idle["n"] else ""))
    print(f"submitting took {submit_seconds:.0f} s; first Train click to last run finished: "
          + (f"{wall:.0f} s" if wall is not None else "unknown (no finished run)")
          + (f"; each queued run's own time (status started to finished): mean {statistics.mean(durations):.1f} s" if durations else ""))
    ratio = None
    if base is not None:
        how = (f"{base['measured_runs']} measured, mean {base['mean_run_s']} s, times {args.students} (extrapolated)"
               if base["extrapolated"] else f"all {args.students} measured")
        print(f"{args.students} back-to-back in-process runs: {base['total_s']:.0f} s ({how})")
        if wall is not None:
            ratio = round(wall / base["total_s"], 3)
            print(f"ratio queued / back-to-back: {ratio}")
    print(json.dumps({
        "cpu": cpu_flags(), "cores": os.cpu_count(), "students": args.students, "arch": args.arch, "images": args.images,
        "epochs": 1, "data": data_label,
        "watchers": args.watchers, "submit_s": round(submit_seconds, 1), "wall_s": wall and round(wall, 1),
        "queued_run_mean_s": round(statistics.mean(durations), 2) if durations else None,
        "train_page": {**summary(timings["Train"]), "timeouts": timeouts["Train"], "after_drain": summary(idle_timings["Train"])},
        "class_page": {**summary(timings["Class"]), "timeouts": timeouts["Class"], "after_drain": summary(idle_timings["Class"])},
        "target_p95_s": TARGET_P95_S,
        "p95_met": all(summary(timings[kind])["p95_s"] is not None and summary(timings[kind])["p95_s"] < TARGET_P95_S
                       for kind in timings),
        "runs_ok": not problems, "problems": problems, "baseline": base, "ratio_queued_over_back_to_back": ratio,
    }))


if __name__ == "__main__":
    main()
