import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cifar_cnn import runs


def make_run(runs_dir, **config):
    run_dir = runs.create_run({"arch": "tiny_cnn", "epochs": 2, **config}, runs_dir)
    runs.write_history(run_dir, [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4, "seconds": 2.0}])
    return run_dir


def finished_run(runs_dir, state="completed"):
    run_dir = make_run(runs_dir)
    runs.write_predictions(run_dir, np.eye(3)[[0, 1, 2]], np.array([0, 1, 1]))
    runs.write_metrics(run_dir, {"train_accuracy": 0.9, "train_loss": 0.3, "test_accuracy": 0.67, "test_loss": 0.5})
    runs.update_status(run_dir, state)
    return run_dir


def test_list_and_load_runs(tmp_path):
    first = finished_run(tmp_path)
    second = finished_run(tmp_path, state="stopped")
    found, problems = runs.list_runs(tmp_path)
    assert problems == []
    assert [run.path for run in found] == [second, first]  # newest first
    run = runs.load_run(first.name, tmp_path)
    assert run.state == "completed" and run.epochs_done == 1 and run.metrics["test_accuracy"] == 0.67
    assert run.duration_s is not None and run.duration_s >= 0
    probabilities, labels = runs.load_predictions(run)
    assert probabilities.shape == (3, 3) and labels.tolist() == [0, 1, 1]


def test_a_run_whose_process_died_shows_as_interrupted(tmp_path):
    run_dir = make_run(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    status = json.loads((run_dir / "status.json").read_text())
    status["pid"] = int(dead.stdout)
    (run_dir / "status.json").write_text(json.dumps(status))
    assert runs.load_run(run_dir).state == "interrupted"


def test_a_running_run_of_this_process_stays_running_until_it_ends(tmp_path):
    run_dir = make_run(tmp_path)
    assert runs.load_run(run_dir).state == "running"
    runs.update_status(run_dir, "completed")
    assert runs.load_run(run_dir).state == "completed"


def test_a_running_run_left_by_an_earlier_trainer_here_is_interrupted(tmp_path):
    run_dir = make_run(tmp_path)
    runs._active_here.discard(str(run_dir.resolve()))  # what a crashed thread leaves behind
    assert runs.load_run(run_dir).state == "interrupted"


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "status.json").unlink(),
        lambda d: (d / "status.json").write_text("{not json"),
        lambda d: (d / "status.json").write_text('{"state": "exploded"}'),
        lambda d: (d / "config.json").write_text("[1, 2]"),
        lambda d: (d / "history.csv").write_text("a,b\n1,2\n"),
    ],
)
def test_damaged_run_folders_are_listed_as_damaged_and_reported(tmp_path, damage):
    good = finished_run(tmp_path)
    bad = finished_run(tmp_path)
    damage(bad)
    found, problems = runs.list_runs(tmp_path)
    assert {run.path: run.state for run in found} == {good: "completed", bad: "damaged"}
    assert len(problems) == 1 and bad.name in problems[0]


def test_damaged_predictions_and_model_raise_run_errors(tmp_path):
    run = runs.load_run(finished_run(tmp_path))
    (run.path / "predictions.npz").write_bytes(b"garbage")
    with pytest.raises(runs.RunError, match="predictions.npz"):
        runs.load_predictions(run)
    (run.path / "model.keras").write_bytes(b"garbage")
    with pytest.raises(runs.RunError, match="model.keras"):
        runs.load_model(run)


def test_missing_model_says_why(tmp_path):
    run = runs.load_run(finished_run(tmp_path, state="failed"))
    with pytest.raises(runs.RunError, match="no saved model"):
        runs.load_model(run)


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def fail(path):
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        runs.atomic_write(target, fail)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_delete_run(tmp_path):
    run_dir = finished_run(tmp_path)
    runs.delete_run(run_dir.name, tmp_path)
    assert not run_dir.exists()


def test_delete_refuses_a_running_run_and_paths_outside_runs(tmp_path):
    running = make_run(tmp_path / "runs")
    with pytest.raises(runs.RunError, match="still training"):
        runs.delete_run(running.name, tmp_path / "runs")
    assert running.exists()
    for sneaky in ["..", "../runs", ""]:
        with pytest.raises(runs.RunError):
            runs.delete_run(sneaky, tmp_path / "runs")
    assert (tmp_path / "runs").exists()


def test_unknown_run_id_says_how_to_list_runs(tmp_path):
    with pytest.raises(runs.RunError, match="cifar_cnn runs"):
        runs.load_run("20990101-000000-none", tmp_path)


def test_progress_says_epochs_of_the_plan_or_of_the_time_budget(tmp_path):
    by_epochs = runs.load_run(make_run(tmp_path))
    by_time = runs.load_run(make_run(tmp_path, epochs=1000, minutes=2.5))
    assert (by_epochs.progress, by_time.progress) == ("1 of 2", "1 in 2.5 min")


def test_class_names_fall_back_to_numbers_and_refuse_a_wrong_count(tmp_path):
    from cifar_cnn.data import Dataset

    named = runs.load_run(runs.create_run({"class_names": ["cat", "dog"], "dataset": "pets"}, tmp_path))
    unnamed = runs.load_run(runs.create_run({}, tmp_path))
    assert runs.class_names(named, 2) == ["cat", "dog"] and runs.class_names(unnamed, 3) == ["0", "1", "2"]
    with pytest.raises(runs.RunError, match="names 2 classes but its model has 3"):
        runs.class_names(named, 3)

    def dataset(names, labels):
        images = np.zeros((len(labels), 32, 32, 3), np.uint8)
        return Dataset(images, np.array(labels), images, np.array(labels), tuple(names), "somewhere")

    labels = np.array([0, 1, 1])
    assert runs.dataset_mismatch(named, dataset(["cat", "dog"], labels), labels) is None
    assert runs.dataset_mismatch(named, dataset(["cat", "dog"], [1, 1, 0]), labels).startswith(
        "somewhere is not the dataset run ")
    assert "(pets)" in runs.dataset_mismatch(named, dataset(["ant", "bee"], labels))
