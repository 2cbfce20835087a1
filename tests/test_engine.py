"""The training engine: Ray and the queue in a process of their own, which Ray's faults may end but the app outlives.

Each test starts real engines (a Python process that starts its own local Ray) on a tiny synthetic dataset; the
processes are found through /proc, as descendants of the engine this test started, and only those are killed.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import threading
import time

import pytest
import ray

from cifar_cnn import runs
from cifar_cnn.classroom import QueueError
from cifar_cnn.classroom.engine import EngineQueue, EngineStopped
from cifar_cnn.training import MAX_EPOCHS, TrainConfig
from polling import wait_until
from process_tree import alive, command_line, descendants, program
from synthetic_arrays import make_dataset

pytestmark = pytest.mark.slow

UNTIL_STOPPED = TrainConfig(arch="tiny_cnn", epochs=MAX_EPOCHS, batch_size=16)
SHORT = TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32)


@pytest.fixture(scope="module")
def dataset():
    return make_dataset(n_train=120, n_test=30)


@pytest.fixture
def engines(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    started: list[EngineQueue] = []

    def start(**options) -> EngineQueue:
        engine = EngineQueue.start(tmp_path / "runs", tmp_path / "queue.json", **options)
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.close()


def test_the_app_process_never_joins_ray_and_a_job_runs_in_the_engine(engines, dataset, tmp_path):
    engine = engines()
    assert "Ray on this machine" in engine.cluster
    job_id = engine.submit(SHORT, dataset, owner="ada")
    wait_until(lambda: engine.job(job_id).is_finished, "the job to end")
    job = engine.job(job_id)
    assert job.state == "completed" and job.owner == "ada" and job.run_dir.parent == tmp_path / "runs"
    assert runs.load_run(job.run_dir).metrics["test_accuracy"] >= 0
    assert not ray.is_initialized()  # this process (the app) is no Ray driver: Ray cannot end it


def test_settings_errors_and_refusals_come_back_as_themselves(engines, dataset):
    from cifar_cnn.training import ConfigError

    engine = engines()
    with pytest.raises(ConfigError, match="subset"):
        engine.submit(TrainConfig(arch="tiny_cnn", subset=10**6), dataset)
    with pytest.raises(QueueError, match="No training job"):
        engine.job("nosuchjob")


def test_a_killed_raylet_ends_the_engine_not_the_app_and_a_new_engine_fails_the_job_saying_why(engines, dataset):
    engine = engines()
    job_id = engine.submit(UNTIL_STOPPED, dataset, owner="ada")
    wait_until(lambda: engine.job(job_id).state == "running" and engine.snapshot(job_id).batches, "the job to train")
    run_dir = wait_until(lambda: engine.job(job_id).run_dir, "the job's run folder")
    raylets = [pid for pid in descendants(engine.pid) if program(pid) == "raylet"]
    assert raylets, "the engine's raylet"
    os.kill(raylets[0], signal.SIGKILL)

    def stopped():
        try:
            engine.jobs()
        except EngineStopped as error:
            return str(error)
        return None

    reason = wait_until(stopped, "the engine to stop")
    assert reason.startswith("The training engine stopped (exit code 3): Ray on this machine failed: its raylet") and not engine.alive
    with pytest.raises(EngineStopped):
        engine.snapshot(job_id)

    again = engines(previous_end=reason)
    job = again.job(job_id)
    assert job.state == "failed" and job.owner == "ada" and "The training engine stopped" in job.message
    assert "while this training ran" in job.message
    run = runs.load_run(run_dir)
    assert run.state == "failed" and "The training engine stopped" in run.message
    after = again.submit(SHORT, dataset, owner="bob")  # the new engine trains
    wait_until(lambda: again.job(after).state == "completed", "a job on the new engine")


def test_a_second_engine_on_one_folder_is_refused_naming_the_first_and_leaves_the_queue_alone(engines, dataset, tmp_path):
    first = engines()
    running = first.submit(UNTIL_STOPPED, dataset, owner="ada")
    waiting = first.submit(SHORT, dataset, owner="bob")
    wait_until(lambda: first.job(running).run_dir, "the first job to train (its run in the file)")
    before = (tmp_path / "queue.json").read_text()
    with pytest.raises(QueueError) as refused:
        engines()
    assert f"process {first.pid} (the training engine of the app in process {os.getpid()})" in str(refused.value)
    assert "one artifacts folder has one queue" in str(refused.value)
    assert (tmp_path / "queue.json").read_text() == before
    assert first.job(waiting).state == "queued"  # the first one's students lost nothing
    first.stop(running)


def test_closing_the_engine_leaves_none_of_its_processes(engines, dataset):
    engine = engines()
    job_id = engine.submit(SHORT, dataset)
    wait_until(lambda: engine.job(job_id).is_finished, "the job to end")
    started = [engine.pid, *descendants(engine.pid)]
    assert any("raylet" in command_line(pid) for pid in started)
    engine.close()
    wait_until(lambda: not any(alive(pid) for pid in started), "every process of the engine to end", timeout=30)


def test_an_engine_whose_app_is_killed_ends_with_its_ray(tmp_path):
    """The app killed (no atexit): its engine sees its parent gone and ends, taking its Ray's processes along."""
    import subprocess
    import sys

    script = (f"from pathlib import Path; from cifar_cnn.classroom.engine import EngineQueue; "
              f"e = EngineQueue.start(Path({str(tmp_path / 'runs')!r}), Path({str(tmp_path / 'queue.json')!r})); "
              f"print(e.pid, flush=True); import time; time.sleep(600)")
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        engine_pid = int(app.stdout.readline())
        started = [engine_pid, *descendants(engine_pid)]
        assert any("raylet" in command_line(pid) for pid in started)
    finally:
        app.kill()
        app.wait()
    wait_until(lambda: not any(alive(pid) for pid in started), "the engine and its Ray to end", timeout=60)


class _WebPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the standard library's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args):
        pass


def test_an_address_that_answers_as_a_web_server_is_refused_quickly_saying_so(engines, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        began = time.monotonic()
        with pytest.raises(QueueError) as refused:
            engines(address=f"127.0.0.1:{server.server_address[1]}")
        message = str(refused.value)
        assert time.monotonic() - began < 30
        assert "not as Ray" in message and "HTTP" in message and "unset RAY_ADDRESS" in message
    finally:
        server.shutdown()


def test_an_address_that_accepts_and_says_nothing_is_given_up_after_the_time_limit(engines):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        began = time.monotonic()
        with pytest.raises(QueueError) as refused:
            engines(address=f"127.0.0.1:{silent.getsockname()[1]}")
        assert time.monotonic() - began < 40
        assert "unset RAY_ADDRESS" in str(refused.value)
    finally:
        silent.close()


def test_a_state_file_left_by_a_crashed_engine_lists_its_jobs_to_their_owners(engines, dataset, tmp_path):
    state = {"jobs": [{"job_id": "abc", "owner": "ada", "state": "queued", "submitted_at": 1.7e9, "config": SHORT.to_dict()},
                      {"job_id": "def", "owner": "bob", "state": "queued", "submitted_at": 1.7e9, "config": [1]}]}
    (tmp_path / "queue.json").write_text(json.dumps(state))
    engine = engines()
    assert engine.job("abc").state == "cancelled"
    assert engine.notices("bob") and "could not be read back" in engine.notices("bob")[0]
    assert engine.notices(None) and "damaged" in engine.notices(None)[0]
    assert [path.name for path in tmp_path.iterdir() if ".damaged-" in path.name]
