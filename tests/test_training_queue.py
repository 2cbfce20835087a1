"""The classroom's training queue on a real local Ray (2 CPUs, started once for the session).

Every job is a tiny CNN on a tiny synthetic dataset, so a job takes a few seconds, most of them the worker process
importing TensorFlow. Jobs that must still be running when the test looks train for the most epochs allowed and are
stopped by the test: no test depends on how fast anything trains. State changes are awaited by polling with a deadline.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket

import numpy as np
import pandas as pd
import pytest
import ray

from cifar_cnn import runs
from cifar_cnn.classroom import QueueError, TrainingQueue, start_ray, stop_ray
from cifar_cnn.classroom.cluster import default_concurrency
from cifar_cnn.inside import channels, store
from cifar_cnn.training import MAX_EPOCHS, ConfigError, TrainConfig, train
from polling import wait_until
from synthetic_arrays import make_dataset

# Trains until the test stops it (or kills its worker).
UNTIL_STOPPED = TrainConfig(arch="tiny_cnn", epochs=MAX_EPOCHS, batch_size=16)
SHORT = TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32)


@pytest.fixture(scope="session")
def ray_cluster():
    # A Ray of this module's own: a queue that an earlier module's app made (st.cache_resource keeps it) would still
    # hold the CPUs its warm workers were given.
    stop_ray()
    description = start_ray(num_cpus=2)
    yield description
    stop_ray()


@pytest.fixture(scope="module")
def dataset():
    return make_dataset(n_train=120, n_test=30)


@pytest.fixture
def make_queue(ray_cluster, tmp_path):
    made = []

    def make(**options) -> TrainingQueue:
        queue = TrainingQueue(tmp_path / "runs", **options)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()


def is_training(queue: TrainingQueue, job_id: str) -> bool:
    """The job's worker has trained at least one batch (and it is still running)."""
    return queue.job(job_id).state == "running" and len(queue.snapshot(job_id).batches) > 0


def finished(queue: TrainingQueue, *job_ids: str) -> bool:
    return all(queue.job(job_id).is_finished for job_id in job_ids)


def test_two_jobs_train_at_once_while_a_third_waits_and_stop_keeps_the_run(make_queue, dataset, monkeypatch):
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, **options: puts.append(value) or real_put(value, **options))
    queue = make_queue(concurrency=2)
    first, second = (queue.submit(UNTIL_STOPPED, dataset, owner=name) for name in ("ada", "bob"))
    third = queue.submit(SHORT, dataset, owner="cy")

    wait_until(lambda: is_training(queue, first) and is_training(queue, second), "both first jobs to train")
    jobs = {job.job_id: job for job in queue.jobs()}
    assert [job.owner for job in jobs.values()] == ["ada", "bob", "cy"]
    assert (jobs[first].state, jobs[second].state, jobs[third].state) == ("running", "running", "queued")
    assert (jobs[first].place, jobs[second].place, jobs[third].place) == (None, None, 1)
    assert len(puts) == 1 and puts[0] is dataset  # one copy in the object store for every job
    # Each worker is a process of its own, told to use its share of the 2 CPUs, TensorFlow's threads included.
    workers = [queue.worker_info(job_id) for job_id in (first, second)]
    assert len({worker["pid"] for worker in workers} | {os.getpid()}) == 3
    for worker in workers:
        assert (worker["cpus"], worker["intra_op_threads"], worker["inter_op_threads"]) == (1, 1, 1)

    assert queue.stop(first)
    wait_until(lambda: finished(queue, first), "the stopped job to end")
    stopped = queue.job(first)
    assert stopped.state == "stopped" and stopped.message.startswith("Stopped by request")
    run = runs.load_run(stopped.run_dir)
    assert run.state == "stopped" and run.has_model and run.metrics is not None
    assert list(run.history["epoch"]) == [row["epoch"] for row in queue.snapshot(first).epochs]

    # The freed place goes to the job that waited, not before.
    wait_until(lambda: queue.job(third).state != "queued", "the third job to start")
    assert queue.job(third).started_at >= stopped.finished_at
    assert queue.job(second).state == "running"
    queue.stop(second)
    wait_until(lambda: finished(queue, second, third), "the other two jobs to end")
    assert [queue.job(job_id).state for job_id in (second, third)] == ["stopped", "completed"]
    assert len(puts) == 1


def test_jobs_start_first_in_first_out_and_a_cancelled_one_never_starts(make_queue, dataset):
    queue = make_queue(concurrency=1)
    blocking = queue.submit(UNTIL_STOPPED, dataset, owner="ada")
    wait_until(lambda: queue.job(blocking).state == "running", "the first job to start")
    waiting = [queue.submit(SHORT, dataset, owner=name) for name in ("bob", "cy", "dee")]
    assert [queue.job(job_id).place for job_id in waiting] == [1, 2, 3]

    assert queue.cancel(waiting[1])
    assert [queue.job(job_id).place for job_id in (waiting[0], waiting[2])] == [1, 2]
    cancelled = queue.job(waiting[1])
    assert (cancelled.state, cancelled.place, cancelled.started_at, cancelled.run_dir) == ("cancelled", None, None, None)
    with pytest.raises(QueueError, match="cancel it instead"):
        queue.stop(waiting[0])

    wait_until(lambda: is_training(queue, blocking), "the first job to train")
    with pytest.raises(QueueError, match="stop it instead"):
        queue.cancel(blocking)
    queue.stop(blocking)
    wait_until(lambda: finished(queue, blocking, *waiting), "every job to end")
    started = [queue.job(job_id) for job_id in (blocking, waiting[0], waiting[2])]
    assert [job.state for job in started] == ["stopped", "completed", "completed"]
    assert started[0].started_at < started[1].started_at < started[2].started_at
    assert started[1].started_at >= started[0].finished_at and started[2].started_at >= started[1].finished_at
    assert queue.job(waiting[1]).state == "cancelled" and not queue.cancel(waiting[1])


def test_a_worker_killed_mid_training_fails_its_job_and_the_next_job_runs(make_queue, dataset):
    queue = make_queue(concurrency=1)
    doomed = queue.submit(UNTIL_STOPPED, dataset, owner="ada")
    following = queue.submit(SHORT, dataset, owner="bob")
    wait_until(lambda: is_training(queue, doomed) and queue.snapshot(doomed).epochs, "the job to finish an epoch")
    pid = queue.worker_info(doomed)["pid"]
    assert pid != os.getpid()

    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: finished(queue, doomed), "the killed job to be marked")
    failed = queue.job(doomed)
    assert failed.state == "failed"
    assert failed.message.startswith("The training process died (killed, or out of memory)")
    run = runs.load_run(failed.run_dir)
    assert run.state == "failed" and run.message == failed.message
    assert len(run.history) >= 1  # the epochs it finished are kept

    wait_until(lambda: finished(queue, following), "the next job to end")
    assert queue.job(following).state == "completed"


def test_the_run_folder_is_the_one_training_in_process_writes(make_queue, dataset, tmp_path):
    queue = make_queue()
    job_id = queue.submit(SHORT, dataset, owner="ada")
    in_process = train(SHORT, dataset, runs_dir=tmp_path / "in_process").run_dir
    wait_until(lambda: finished(queue, job_id) and not queue.job(job_id).touches_pending, "the job and its finishing touches to end")
    queued = queue.job(job_id)
    assert queued.state == "completed" and queued.run_dir.parent == tmp_path / "runs"

    def files(folder):
        return sorted(path.name for path in folder.iterdir())

    assert files(queued.run_dir) == files(in_process)
    assert files(in_process) == sorted([runs.CONFIG_FILE, runs.STATUS_FILE, runs.HISTORY_FILE, runs.MODEL_FILE,
                                        runs.METRICS_FILE, runs.PREDICTIONS_FILE, runs.EPOCHS_FILE, store.FOLDER])

    def read_json(folder, name):
        return json.loads((folder / name).read_text())

    assert read_json(queued.run_dir, runs.CONFIG_FILE) == read_json(in_process, runs.CONFIG_FILE)
    queued_metrics, own_metrics = read_json(queued.run_dir, runs.METRICS_FILE), read_json(in_process, runs.METRICS_FILE)
    assert queued_metrics == queued.metrics and sorted(queued_metrics) == sorted(own_metrics)
    queued_status, own_status = read_json(queued.run_dir, runs.STATUS_FILE), read_json(in_process, runs.STATUS_FILE)
    assert sorted(set(queued_status) - {"queue"}) == sorted(own_status)
    # The queue's record of the job: when it left the line, its training and overhead seconds.
    assert {"submitted_at", "left_line_at", "first_batch_at", "training_s", "overhead_s"} <= set(queued_status["queue"])
    assert queued_status["queue"]["left_line_at"] == pytest.approx(queued.started_at, abs=0.01)
    assert (queued_status["state"], queued_status["pid"]) == ("completed", os.getpid())  # the app owns the run
    queued_history, own_history = (pd.read_csv(folder / runs.HISTORY_FILE) for folder in (queued.run_dir, in_process))
    assert list(queued_history.columns) == list(own_history.columns) and len(queued_history) == len(own_history)
    with np.load(queued.run_dir / runs.PREDICTIONS_FILE) as queued_predictions, np.load(in_process / runs.PREDICTIONS_FILE) as own:
        assert np.array_equal(queued_predictions["labels"], own["labels"])
        assert queued_predictions["probabilities"].shape == own["probabilities"].shape
    loaded = runs.load_run(queued.run_dir)
    assert loaded.state == "completed" and runs.load_model(loaded).output_shape == (None, dataset.num_classes)
    queued_records, own_records = runs.load_epoch_records(loaded), runs.load_epoch_records(runs.load_run(in_process))
    assert queued_records.confusion.shape == own_records.confusion.shape == (1, dataset.num_classes, dataset.num_classes)
    assert np.array_equal(queued_records.watch_indices, own_records.watch_indices)
    # The top images the worker stored are found under the key the app computes from its own copy of the model file.
    key = store.test_set_key(queued.run_dir / runs.MODEL_FILE, dataset.x_test, dataset.y_test)
    _, read = channels.stored_top_images(queued.run_dir, key, runs.load_model(loaded), dataset.x_test)
    assert read


def test_settings_that_cannot_train_are_refused_before_they_enter_the_queue(make_queue, dataset):
    queue = make_queue()
    too_many = TrainConfig(arch="tiny_cnn", subset=len(dataset.x_train) + 1)
    with pytest.raises(ConfigError) as refused:
        queue.submit(too_many, dataset, owner="ada")
    with pytest.raises(ConfigError) as by_the_config:
        too_many.check(dataset)
    assert str(refused.value) == str(by_the_config.value)
    assert "subset asks for 121 images but the dataset has 120" in str(refused.value)
    assert queue.jobs() == []


def test_a_dataset_goes_into_the_object_store_once(make_queue, dataset):
    queue = make_queue()
    ref = queue.put_dataset(dataset)
    assert queue.put_dataset(dataset) is ref
    other = make_dataset(n_train=30, n_test=10, seed=1)
    assert queue.put_dataset(other) != ref
    assert ray.get(ref).x_train.shape == dataset.x_train.shape


def test_concurrency_defaults_to_one_per_two_cores_and_can_change(make_queue):
    queue = make_queue()
    assert default_concurrency() == 1 and queue.concurrency == 1  # the session's Ray has 2 CPUs
    queue.set_concurrency(3)
    assert queue.concurrency == 3
    queue.set_concurrency(None)
    assert queue.concurrency == 1
    for wrong in (0, -1, 2.5, "2", True):
        with pytest.raises(QueueError, match="Trainings at once"):
            queue.set_concurrency(wrong)
    with pytest.raises(QueueError, match="No training job"):
        queue.stop("no-such-job")


def test_an_unreachable_cluster_says_what_is_wrong_and_how_to_fix_it(ray_cluster, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(QueueError) as refused:
        start_ray()
    message = str(refused.value)
    assert message.startswith(f"Could not reach the Ray cluster at 127.0.0.1:{port}")
    assert "`ray status`" in message and "unset RAY_ADDRESS" in message
    with pytest.raises(QueueError, match="is not a Ray cluster address: write it as HOST:PORT"):
        start_ray("head-without-a-port")
    assert ray.is_initialized()  # the session's Ray is untouched


def test_a_full_disk_on_the_apps_side_fails_the_job_saying_what_to_do(make_queue, dataset, monkeypatch):
    def full(path, write_file):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(runs, "atomic_write", full)  # the app's disk; the worker writes into its own temporary folder
    queue = make_queue()
    job_id = queue.submit(SHORT, dataset)
    wait_until(lambda: finished(queue, job_id), "the job to end")
    job = queue.job(job_id)
    assert job.state == "failed"
    assert "could not be saved: No space left on device" in job.message and "free some space" in job.message


def test_a_restarted_queue_tells_the_owners_of_unfinished_jobs_what_became_of_them(make_queue, dataset, tmp_path):
    state_file = tmp_path / "queue.json"
    first = make_queue(concurrency=1, state_file=state_file)
    running = first.submit(UNTIL_STOPPED, dataset, owner="ada")
    waiting = first.submit(SHORT, dataset, owner="bob")
    wait_until(lambda: is_training(first, running) and first.job(running).run_dir is not None, "the first job to train")
    run_dir = first.job(running).run_dir
    saved = json.loads(state_file.read_text())["jobs"]
    assert [(job["job_id"], job["owner"], job["state"]) for job in saved] == [(running, "ada", "running"), (waiting, "bob", "queued")]
    first.close()  # as when the app stops: the file keeps both

    again = make_queue(state_file=state_file)
    jobs = {job.job_id: job for job in again.jobs()}
    assert (jobs[running].state, jobs[running].owner, jobs[running].run_dir) == ("failed", "ada", run_dir)
    assert "app restarted while this training ran" in jobs[running].message
    assert (jobs[waiting].state, jobs[waiting].owner) == ("cancelled", "bob")
    assert "app restarted before this training started" in jobs[waiting].message
    assert jobs[waiting].config == SHORT
    assert json.loads(state_file.read_text())["jobs"] == []  # told once: a third start has nothing to report
    assert runs.load_run(run_dir).state != "running"


def test_a_damaged_state_file_does_not_keep_the_queue_from_starting(make_queue, tmp_path):
    state_file = tmp_path / "queue.json"
    state_file.write_text('{"jobs": [{"job_id": "x", "config": {"epochs": "many"}}, 7]')  # cut off mid-write
    first = make_queue(state_file=state_file)
    assert first.jobs() == [] and "damaged" in first.notices(None)[0]
    first.close()
    state_file.write_text('{"jobs": [{"job_id": "x", "owner": "ada", "state": "queued", "submitted_at": 1, "config": [1]}, 7, '
                          '{"job_id": "y", "owner": "bob", "state": "queued", "submitted_at": 1, "config": {}}]}')
    second = make_queue(state_file=state_file)
    assert [(job.job_id, job.state) for job in second.jobs()] == [("y", "cancelled")]  # the readable one is told
    assert "could not be read back" in second.notices("ada")[0] and second.notices("bob") == []
    assert "2 entries could not be read" in second.notices(None)[0]
    assert len(list(tmp_path.glob("queue.json.damaged-*"))) >= 1


def test_a_second_queue_on_one_file_is_refused_and_the_first_keeps_its_line(make_queue, dataset, tmp_path):
    state_file = tmp_path / "queue.json"
    first = make_queue(concurrency=1, state_file=state_file)
    running = first.submit(UNTIL_STOPPED, dataset, owner="ada")
    waiting = first.submit(SHORT, dataset, owner="bob")
    wait_until(lambda: first.job(running).run_dir, "the first job to train")
    before = state_file.read_text()
    with pytest.raises(QueueError, match=f"process {os.getpid()} on .*one artifacts folder has one queue"):
        make_queue(state_file=state_file)
    assert state_file.read_text() == before and first.job(waiting).state == "queued"
    first.stop(running)


def test_the_class_line_has_a_limit_that_grows_with_the_class_and_the_teacher_can_set(make_queue, dataset):
    from cifar_cnn.classroom.training_queue import CAP_EXTRA, CAP_PER_STUDENT

    queue = make_queue(concurrency=1)
    assert queue.max_unfinished == CAP_EXTRA and queue.room("ada") == CAP_EXTRA + CAP_PER_STUDENT
    queue.set_max_unfinished(3)
    jobs = [queue.submit(UNTIL_STOPPED, dataset, owner=name) for name in ("ada", "bob", "cy")]
    assert queue.room("dee") == 0
    with pytest.raises(QueueError, match="The class's line is full: 3 trainings wait or run, the most allowed "
                                         r"\(the teacher's limit\)"):
        queue.submit(SHORT, dataset, owner="dee")
    assert len(queue.jobs()) == 3  # nothing was queued
    queue.cancel(jobs[2])
    assert queue.room("dee") == 1
    queue.set_max_unfinished(None)
    assert queue.max_unfinished == CAP_EXTRA + CAP_PER_STUDENT * 3
    with pytest.raises(QueueError, match="from 1 to"):
        queue.set_max_unfinished(0)


def test_a_large_queue_file_is_taken_over_in_one_write(make_queue, tmp_path, monkeypatch):
    from cifar_cnn.classroom import training_queue

    state_file = tmp_path / "queue.json"
    entry = {"owner": "ada", "state": "queued", "submitted_at": 1.7e9, "config": SHORT.to_dict()}
    state_file.write_text(json.dumps({"jobs": [{**entry, "job_id": f"job{number}"} for number in range(2000)]}))
    writes = []
    real_write = training_queue.write_jobs
    monkeypatch.setattr(training_queue, "write_jobs", lambda path, jobs: (writes.append(len(jobs)), real_write(path, jobs)))
    queue = make_queue(state_file=state_file)
    assert writes == [0] and len(queue.jobs()) == 2000 and {job.state for job in queue.jobs()} == {"cancelled"}


def test_waiting_jobs_get_an_estimated_start_once_a_like_job_has_shown_its_speed(make_queue, dataset):
    queue = make_queue(concurrency=1)
    blocking = queue.submit(UNTIL_STOPPED, dataset)
    budgeted = queue.submit(TrainConfig(arch="tiny_cnn", epochs=MAX_EPOCHS, minutes=0.5), dataset)
    unlike = queue.submit(TrainConfig(arch="seed_cnn", epochs=2), dataset)  # no seed_cnn has run: its speed is unknown
    wait_until(lambda: is_training(queue, blocking), "the first job to train")
    starts = queue.estimated_starts()
    # The first runs for its maximum epochs: its time left is known from its progress, and then the next start.
    assert starts[budgeted] is not None and starts[budgeted] > 0
    assert starts[unlike] is not None and starts[unlike] >= starts[budgeted] + 30  # after the 30 s budget
    queue.stop(blocking)
    for job_id in (budgeted, unlike):
        queue.cancel(job_id)


def end_job(queue: TrainingQueue, job_id: str) -> None:
    """Cancel a waiting job or stop a running one, whichever it is by now (it may start meanwhile)."""
    try:
        queue.cancel(job_id)
    except QueueError:  # it started
        queue.stop(job_id)


def worker_pid(job) -> int:
    """The worker's process id from JobInfo.worker ("host (process 1234)")."""
    return int(job.worker.rsplit("process ", 1)[1].rstrip(")"))


def model_weights(run_dir) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(run_dir / runs.MODEL_FILE, compile=False).get_weights()


def test_a_job_in_a_warm_worker_trains_as_in_a_fresh_one(make_queue, dataset):
    queue = make_queue(concurrency=1)
    other = TrainConfig(arch="tiny_cnn", epochs=1, batch_size=16, seed=7, learning_rate=0.01)
    first, between, again = (queue.submit(config, dataset) for config in (SHORT, other, SHORT))
    wait_until(lambda: finished(queue, first, between, again), "the three jobs to end")
    jobs = [queue.job(job_id) for job_id in (first, between, again)]
    assert [job.state for job in jobs] == ["completed"] * 3
    assert len({worker_pid(job) for job in jobs}) == 1  # one warm process ran all three
    # The third job starts from a clean Keras state and the same seed: the weights of the first, a fresh worker's.
    for fresh, warm in zip(model_weights(jobs[0].run_dir), model_weights(jobs[2].run_dir)):
        np.testing.assert_allclose(warm, fresh, rtol=0, atol=1e-6)
    assert not np.allclose(model_weights(jobs[1].run_dir)[0], model_weights(jobs[0].run_dir)[0])
    assert all(job.training_s is not None and job.overhead_s is not None and job.overhead_s > 0 for job in jobs)


def test_a_warm_worker_killed_while_it_waits_is_replaced_and_the_next_job_runs(make_queue, dataset):
    queue = make_queue(concurrency=1)
    first = queue.submit(SHORT, dataset)
    wait_until(lambda: finished(queue, first), "the first job to end")
    pid = worker_pid(queue.job(first))
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), "the worker process to be gone")

    following = queue.submit(SHORT, dataset)
    wait_until(lambda: finished(queue, following), "the next job to end")
    job = queue.job(following)
    assert job.state == "completed", job.message
    assert worker_pid(job) != pid


def test_a_worker_is_replaced_after_its_share_of_jobs(make_queue, dataset, monkeypatch):
    from cifar_cnn.classroom import pool

    monkeypatch.setattr(pool, "MAX_JOBS_PER_WORKER", 2)
    queue = make_queue(concurrency=1)
    job_ids = [queue.submit(SHORT, dataset) for _ in range(3)]
    wait_until(lambda: finished(queue, *job_ids), "the three jobs to end")
    pids = [worker_pid(queue.job(job_id)) for job_id in job_ids]
    assert pids[0] == pids[1] != pids[2]


def test_a_stop_during_the_workers_start_ends_the_job_and_the_next_one_runs(make_queue, dataset):
    queue = make_queue(concurrency=1, warm_up=False)  # the first job waits for its worker's TensorFlow import
    doomed = queue.submit(UNTIL_STOPPED, dataset)
    following = queue.submit(SHORT, dataset)
    wait_until(lambda: queue.job(doomed).state == "running", "the first job to leave the line")
    assert not queue.snapshot(doomed).batches  # still starting
    assert queue.stop(doomed)
    wait_until(lambda: finished(queue, doomed, following), "both jobs to end")
    stopped = queue.job(doomed)
    assert stopped.state == "stopped" and stopped.message.startswith("Stopped by request")
    assert len(queue.snapshot(doomed).epochs) <= 1  # not one more epoch than the first was left to run
    assert queue.job(following).state == "completed"


def test_finishing_touches_come_when_the_line_is_empty(make_queue, dataset):
    queue = make_queue(concurrency=1)
    config = TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32, flip_tta=True)
    job_id = queue.submit(config, dataset)
    wait_until(lambda: finished(queue, job_id), "the job to end")
    listed = json.loads((queue.job(job_id).run_dir / runs.METRICS_FILE).read_text())
    wait_until(lambda: not queue.job(job_id).touches_pending, "the finishing touches")
    touched = json.loads((queue.job(job_id).run_dir / runs.METRICS_FILE).read_text())
    if "pending" in listed:  # the queue's thread may have done them before this test read the file
        assert listed["test_tta"] == ""
    assert "pending" not in touched and touched["test_tta"] == "flip test-time augmentation"
    assert queue.job(job_id).metrics == touched
    assert list((queue.job(job_id).run_dir / store.FOLDER).glob("top_images-*.npz"))


def test_a_time_budget_job_has_an_estimated_start_before_any_job_ran(make_queue, dataset):
    queue = make_queue(concurrency=1, warm_up=False)
    budget = TrainConfig(arch="tiny_cnn", epochs=MAX_EPOCHS, minutes=0.5)
    first, second = (queue.submit(budget, dataset) for _ in range(2))
    start, end = queue.overheads()  # no job has finished: the guesses
    seconds = queue.estimated_starts()[second]
    # The first job's length is its budget plus the overheads, counted from its start a moment ago.
    assert seconds is not None and 30 + start + end - 10 <= seconds <= 30 + start + end
    for job_id in (second, first):
        end_job(queue, job_id)


def test_an_epoch_job_of_a_kind_never_run_gets_a_first_guess_from_its_arithmetic(make_queue, dataset):
    queue = make_queue(concurrency=1, warm_up=False)
    blocking = queue.submit(TrainConfig(arch="tiny_cnn", epochs=MAX_EPOCHS, minutes=0.5), dataset)
    small, large = (queue.submit(TrainConfig(arch=arch, epochs=3), dataset) for arch in ("tiny_cnn", "seed_cnn"))
    after = queue.submit(SHORT, dataset)
    starts = queue.estimated_starts()
    # seed_cnn's 31 MFLOPs an image against tiny_cnn's 1: the job after the larger one starts later than that one by more.
    assert None not in (starts[small], starts[large], starts[after])
    assert starts[after] - starts[large] > starts[large] - starts[small] > 0
    for job_id in (after, large, small, blocking):
        end_job(queue, job_id)
