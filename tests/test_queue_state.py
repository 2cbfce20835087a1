"""The training queue's file and its lock, without Ray: what a damaged file gives, and who may hold the queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from cifar_cnn.classroom import QueueError
from cifar_cnn.classroom.queue_state import QueueFileLock, SavedJob, read_jobs, write_jobs
from cifar_cnn.training import TrainConfig

GOOD = {"job_id": "abc123", "owner": "ada", "state": "queued", "submitted_at": 1.7e9, "started_at": None, "run": None,
        "config": {"arch": "tiny_cnn", "epochs": 2}}


def write(path, data) -> None:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")


def damaged_copies(folder):
    return sorted(path.name for path in folder.iterdir() if ".damaged-" in path.name)


def test_a_file_written_is_read_back_whole(tmp_path):
    path = tmp_path / "queue.json"
    saved = [SavedJob("abc123", "ada", "queued", 1.7e9, None, None, TrainConfig(arch="tiny_cnn", epochs=2)),
             SavedJob("def456", "bob", "running", 1.7e9, 1.7e9 + 5, "20261207-ab12", TrainConfig(seed=3))]
    write_jobs(path, saved)
    outcome = read_jobs(path)
    assert outcome.jobs == saved and outcome.problems == [] and outcome.kept_aside is None
    assert damaged_copies(tmp_path) == []


def test_a_missing_file_is_an_empty_queue(tmp_path):
    outcome = read_jobs(tmp_path / "queue.json")
    assert (outcome.jobs, outcome.problems, outcome.kept_aside) == ([], [], None)


def test_an_entry_whose_config_is_a_list_is_skipped_told_to_its_owner_and_the_file_kept_aside(tmp_path):
    path = tmp_path / "queue.json"
    original = json.dumps({"jobs": [GOOD, {**GOOD, "job_id": "bad1", "owner": "bob", "config": [1, 2]}]})
    write(path, original)
    outcome = read_jobs(path)
    assert [job.job_id for job in outcome.jobs] == ["abc123"]
    assert outcome.jobs[0].config == TrainConfig(arch="tiny_cnn", epochs=2)
    assert len(outcome.problems) == 1 and outcome.problems[0][0] == "bob"
    assert '"config" is list' in outcome.problems[0][1] and "entry 2" in outcome.problems[0][1]
    assert outcome.kept_aside is not None and outcome.kept_aside.read_text() == original  # kept, never emptied
    assert not path.exists()


@pytest.mark.parametrize("text, problem", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"jobs": [{"job_id": "x"', "not JSON"),
    ('{"jobs": {"a": 1}}', '"jobs" list'),
    ("[1, 2]", '"jobs" list'),
])
def test_a_file_that_cannot_be_a_queue_is_kept_aside_saying_why(tmp_path, text, problem):
    path = tmp_path / "queue.json"
    write(path, text)
    outcome = read_jobs(path)
    assert outcome.jobs == []
    assert [owner for owner, _ in outcome.problems] == [None] and problem in outcome.problems[0][1]
    assert damaged_copies(tmp_path) == [outcome.kept_aside.name] and outcome.kept_aside.read_text() == text


@pytest.mark.parametrize("entry, problem", [
    (7, "int, not an object"),
    ({**GOOD, "job_id": "../x"}, "job id"),
    ({**GOOD, "owner": ["ada"]}, "owner"),
    ({**GOOD, "state": "completed"}, "state"),
    ({**GOOD, "submitted_at": "yesterday"}, "submission time"),
    ({**GOOD, "config": {"epochs": "many"}}, "Epochs must be"),
    ({**GOOD, "config": {"arch": "no_such_net"}}, "no_such_net"),
])
def test_each_kind_of_bad_entry_is_skipped_with_its_reason(tmp_path, entry, problem):
    path = tmp_path / "queue.json"
    write(path, {"jobs": [entry, {**GOOD, "job_id": "zzz9"}]})
    outcome = read_jobs(path)
    assert [job.job_id for job in outcome.jobs] == ["zzz9"]
    assert len(outcome.problems) == 1 and problem in outcome.problems[0][1]


def test_a_job_listed_twice_is_read_once(tmp_path):
    path = tmp_path / "queue.json"
    write(path, {"jobs": [GOOD, GOOD]})
    outcome = read_jobs(path)
    assert len(outcome.jobs) == 1 and "listed twice" in outcome.problems[0][1]


def test_a_running_job_keeps_its_run_only_when_the_name_is_a_plain_folder_name(tmp_path):
    path = tmp_path / "queue.json"
    write(path, {"jobs": [{**GOOD, "job_id": "a1", "state": "running", "started_at": 1.7e9, "run": "../../etc"},
                          {**GOOD, "job_id": "a2", "state": "running", "started_at": 1.7e9, "run": "20261207-ab12"}]})
    assert [job.run for job in read_jobs(path).jobs] == [None, "20261207-ab12"]


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    first, second = QueueFileLock(tmp_path / "queue.json"), QueueFileLock(tmp_path / "queue.json")
    first.acquire()
    with pytest.raises(QueueError) as refused:
        second.acquire()
    message = str(refused.value)
    assert f"process {os.getpid()}" in message and "one artifacts folder has one queue" in message
    assert "CIFAR_CNN_ARTIFACTS" in message and not second.held
    first.release()
    second.acquire()  # free once its holder lets go
    assert second.held
    second.release()


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from cifar_cnn.classroom.queue_state import QueueFileLock
    lock = QueueFileLock(Path(sys.argv[1]))
    lock.acquire()
    print("held", flush=True)
    time.sleep(600)
""")


@pytest.mark.slow
def test_a_lock_held_by_another_process_is_refused_and_freed_when_that_process_dies(tmp_path):
    state_file = tmp_path / "queue.json"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(state_file)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = QueueFileLock(state_file)
        with pytest.raises(QueueError, match=f"process {holder.pid} on "):
            lock.acquire()
    finally:
        holder.kill()
        holder.wait()
    lock.acquire()  # the holder was killed: its lock went with it, nothing stale is left
    assert lock.held
    lock.release()


def test_a_folder_where_the_lock_cannot_be_made_is_refused_saying_what_to_check(tmp_path):
    blocker = tmp_path / "artifacts"
    blocker.write_text("a file where the artifacts folder should be")
    with pytest.raises(QueueError, match="Cannot open the training queue's lock .* writable"):
        QueueFileLock(blocker / "queue.json").acquire()
