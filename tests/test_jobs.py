import threading

import keras
import pytest

from cifar_cnn import runs
from cifar_cnn.jobs import JobBusyError, JobRunner
from cifar_cnn.training import ConfigError, TrainConfig
from synthetic_arrays import make_dataset


@pytest.fixture(scope="module")
def dataset():
    return make_dataset(n_train=200, n_test=30)


def test_job_trains_in_the_background_and_saves_a_run(dataset, tmp_path):
    runner = JobRunner(tmp_path)
    job = runner.start(TrainConfig(arch="tiny_cnn", epochs=2, batch_size=50), dataset)
    assert job.wait(timeout=120)
    assert job.state == "completed" and runner.job is job
    assert runs.load_run(job.run_dir).state == "completed"
    assert len(job.live.snapshot().epochs) == 2


def test_only_one_job_at_a_time_and_stop_keeps_the_run(dataset, tmp_path, monkeypatch):
    # Hold training at its first batch until the test has tried a second start.
    first_batch_done, release = threading.Event(), threading.Event()

    class Gate(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            first_batch_done.set()
            release.wait(timeout=60)

    import cifar_cnn.jobs as jobs_module

    original_train = jobs_module.train
    monkeypatch.setattr(jobs_module, "train", lambda *a, **k: original_train(*a, callbacks=[Gate()], **k))
    runner = JobRunner(tmp_path)
    job = runner.start(TrainConfig(arch="tiny_cnn", epochs=50, batch_size=10), dataset)
    assert first_batch_done.wait(timeout=60)
    with pytest.raises(JobBusyError) as refused:
        runner.start(TrainConfig(arch="tiny_cnn"), dataset)
    assert refused.value.job is job
    assert runs.load_run(job.run_dir).state == "running"
    job.stop()
    release.set()
    assert job.wait(timeout=120)
    assert job.state == "stopped"
    run = runs.load_run(job.run_dir)
    assert run.state == "stopped" and run.has_model
    assert job.live.snapshot().batch == 1  # stopped right after the batch in progress


def test_bad_settings_fail_at_start_not_in_the_thread(dataset, tmp_path):
    with pytest.raises(ConfigError):
        JobRunner(tmp_path).start(TrainConfig(epochs=0), dataset)


def test_a_training_that_cannot_start_says_why(dataset, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the runs folder should go")
    runner = JobRunner(blocker / "runs")
    job = runner.start(TrainConfig(arch="tiny_cnn", epochs=1), dataset)
    assert job.wait(timeout=60)
    assert job.state == "failed" and job.run_dir is None
    assert job.message.startswith("Training could not start: ") and "not-a-folder" in job.message
