"""The command line end to end, on a tiny image-folder dataset."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cifar_cnn.cli import main
from cifar_cnn.training import UNCAPPED_EPOCHS
from synthetic_data import write_image_folder

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("data") / "tiny", classes=("cat", "dog", "frog"), n_train=20, n_test=6)


@pytest.fixture(scope="module")
def trained(image_folder, tmp_path_factory):
    """Artifacts folder holding one finished run, trained through `python -m cifar_cnn`."""
    artifacts = tmp_path_factory.mktemp("artifacts")
    command = [sys.executable, "-m", "cifar_cnn", "train", "--data", str(image_folder), "--artifacts", str(artifacts),
               "--arch", "tiny_cnn", "--epochs", "2", "--batch-size", "16", "--seed", "1"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    return artifacts, done


def test_train_prints_accuracies_and_the_run_folder(trained):
    artifacts, done = trained
    assert done.returncode == 0, done.stderr
    assert "Train accuracy " in done.stdout and "test accuracy " in done.stdout
    run_dirs = list((artifacts / "runs").iterdir())
    assert len(run_dirs) == 1 and f"Run saved in {run_dirs[0]}" in done.stdout
    assert "Epoch 2/2" in done.stdout  # Keras' progress bar


def test_runs_lists_the_run(trained, capsys):
    artifacts, _ = trained
    assert main(["runs", "--artifacts", str(artifacts)]) == 0
    out = capsys.readouterr().out
    assert "completed" in out and "tiny_cnn" in out and "2 of 2" in out


def test_evaluate_prints_tables_and_exports_charts(trained, tmp_path, capsys):
    artifacts, _ = trained
    run_id = next((artifacts / "runs").iterdir()).name
    html = tmp_path / "charts.html"
    assert main(["evaluate", run_id, "--artifacts", str(artifacts), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "Per-class metrics" in out and "precision" in out and "Confusion matrix" in out
    for name in ("cat", "dog", "frog"):
        assert name in out
    assert html.read_text().count("Plotly.newPlot") == 3


def test_runs_with_no_runs(tmp_path, capsys):
    assert main(["runs", "--artifacts", str(tmp_path)]) == 0
    assert "No runs yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--data", "/no/such/path", "--epochs", "1"], "/no/such/path"),
        (["train", "--epochs", "zero"], "not a whole number"),
        (["train", "--epochs", "0"], "at least 1"),
        (["train", "--lr", "-1"], "above 0"),
        (["train", "--arch", "resnet9000", "--data", "{data}"], "Unknown architecture"),
        (["train", "--subset", "5000", "--data", "{data}"], "at most"),
        (["train", "--precision", "float8"], "Unknown precision"),
        (["train", "--preset", "fast", "--weight-decay", "-1"], "Weight decay"),
        (["train", "--validation", "train", "--data", "{data}"], "Validation"),
        (["evaluate", "no-such-run"], "cifar_cnn runs"),
        (["evaluate", "{data}"], "is not a run: runs are the folders in"),
        (["train", "--preset", "turbo"], "Unknown preset"),
        (["train", "--schedule", "zigzag"], "schedule"),
        (["train", "--arch-option", "dropout"], "NAME=VALUE"),
        (["train", "--arch", "tiny_cnn", "--arch-option", "depth=3"], "tiny_cnn has no option 'depth'"),
        (["train", "--crop-padding", "40"], "Crop padding"),
        (["train", "--minutes", "-5"], "must be above 0"),
        (["train", "--minutes", "inf"], "at most"),
        (["train", "--shift-lr-scale", "64"], "needs the sgd optimizer"),
        (["train", "--arch-option", "conv_dropout=lots"], "seed_cnn cannot be built with"),
        (["fly"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, words, image_folder, tmp_path, capsys):
    argv = [arg.replace("{data}", str(image_folder)) for arg in argv]
    code = main([*argv, "--artifacts", str(tmp_path)] if argv and argv[0] in ("train", "evaluate") else argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_evaluate_html_to_unwritable_path(trained, capsys):
    artifacts, _ = trained
    run_id = next((artifacts / "runs").iterdir()).name
    code = main(["evaluate", run_id, "--artifacts", str(artifacts), "--html", "/no/such/dir/x.html"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Cannot write /no/such/dir/x.html" in err[0]


def test_bad_input_through_the_real_entry_point(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cifar_cnn", "train", "--data", str(tmp_path / "missing")],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
                          env={**os.environ, "CIFAR_CNN_ARTIFACTS": str(tmp_path)})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")]


def test_evaluate_reports_what_tta_gains(trained, image_folder, capsys):
    artifacts, _ = trained
    run_id = next((artifacts / "runs").iterdir()).name
    assert main(["evaluate", run_id, "--artifacts", str(artifacts), "--tta", "--data", str(image_folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("Test accuracy without test-time augmentation: ") for line in lines)
    gains = [line for line in lines if line.startswith("With ")]
    assert [line.split(":")[0] for line in gains] == [
        "With flip test-time augmentation", "With flip and 1-pixel shift test-time augmentation"]
    assert all(line.endswith(" points)") for line in gains)


def test_train_with_shift_tta_says_so(image_folder, tmp_path, capsys):
    code = main(["train", "--arch", "tiny_cnn", "--epochs", "1", "--shift-tta", "--data", str(image_folder), "--artifacts", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert "(1-pixel shift test-time augmentation)" in capsys.readouterr().out


def test_flip_tta_refuses_another_dataset(trained, tmp_path, capsys):
    artifacts, _ = trained
    run_id = next((artifacts / "runs").iterdir()).name
    other = write_image_folder(tmp_path / "other", classes=("cat", "dog", "frog"), n_train=5, n_test=2)
    assert main(["evaluate", run_id, "--artifacts", str(artifacts), "--tta", "--data", str(other)]) == 2
    assert "is not the dataset" in capsys.readouterr().err


def test_a_preset_with_overrides(image_folder, tmp_path, capsys):
    code = main(["train", "--preset", "seed", "--arch", "tiny_cnn", "--epochs", "1", "--data", str(image_folder),
                 "--artifacts", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    config = json.loads(next((tmp_path / "runs").iterdir()).joinpath("config.json").read_text())
    assert (config["arch"], config["epochs"], config["schedule"], config["batch_size"]) == ("tiny_cnn", 1, "one_cycle", 128)


def test_architecture_options_on_the_command_line(image_folder, tmp_path, capsys):
    code = main(["train", "--arch", "tiny_cnn", "--arch-option", "filters=[4, 6]", "--crop-padding", "2", "--epochs", "1",
                 "--data", str(image_folder), "--artifacts", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    config = json.loads(next((tmp_path / "runs").iterdir()).joinpath("config.json").read_text())
    assert (config["arch_options"], config["crop_padding"]) == ({"filters": [4, 6]}, 2)


def test_training_for_minutes_on_the_command_line(image_folder, tmp_path, capsys):
    code = main(["train", "--arch", "tiny_cnn", "--minutes", "0.05", "--data", str(image_folder), "--artifacts", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert "Training for 0.05 minutes" in capsys.readouterr().err
    config = json.loads(next((tmp_path / "runs").iterdir()).joinpath("config.json").read_text())
    assert (config["minutes"], config["epochs"]) == (0.05, UNCAPPED_EPOCHS)


def test_lookahead_and_alternating_flips_on_the_command_line(image_folder, tmp_path, capsys):
    code = main(["train", "--arch", "tiny_cnn", "--epochs", "2", "--batch-size", "8", "--lookahead", "--alternate-flips",
                 "--data", str(image_folder), "--artifacts", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    config = json.loads(next((tmp_path / "runs").iterdir()).joinpath("config.json").read_text())
    assert (config["lookahead"], config["alternate_flips"]) == (True, True)


def start_long_training(image_folder, artifacts) -> subprocess.Popen:
    """`python -m cifar_cnn train` for 1,000 epochs, returned once its first epoch has begun."""
    command = [sys.executable, "-u", "-m", "cifar_cnn", "train", "--data", str(image_folder), "--artifacts", str(artifacts),
               "--arch", "tiny_cnn", "--epochs", "1000", "--batch-size", "4"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT_ROOT)
    for line in process.stdout:  # Keras announces each epoch as it begins
        if line.startswith("Epoch 1/1000"):
            return process
    raise AssertionError(f"training never started (exit code {process.wait()})")


def the_run(artifacts):
    from cifar_cnn import runs

    (run_dir,) = (artifacts / "runs").iterdir()
    return runs.load_run(run_dir)


def test_ctrl_c_once_stops_after_the_batch_and_keeps_the_run(image_folder, tmp_path):
    import signal

    process = start_long_training(image_folder, tmp_path)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output
    assert "Stopping after this batch" in output and "Traceback" not in output
    run = the_run(tmp_path)
    # Measured quickly: plainly, no train accuracy, no top images.
    assert run.state == "stopped" and set(run.metrics) == {"test_accuracy", "test_loss", "test_tta"}
    assert run.metrics["test_tta"] == "" and "Stopped by request" in run.message
    assert (run.path / "model.keras").exists() and 1 <= len(run.history) < 1000


def test_the_second_ctrl_c_raises_keyboard_interrupt():
    import signal

    from cifar_cnn.cli import _stop_on_first_ctrl_c
    from cifar_cnn.training.live import LiveHistory

    live = LiveHistory()
    previous = _stop_on_first_ctrl_c(live.request_stop)
    try:
        signal.raise_signal(signal.SIGINT)
        assert live.stop_requested
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_interrupted_training_marks_its_run_failed_and_the_cli_says_so(image_folder, tmp_path, monkeypatch, capsys):
    import keras

    from cifar_cnn import cli, runs, training

    class Interrupt(keras.callbacks.Callback):  # what the second Ctrl-C does, at a known moment
        def on_train_batch_end(self, batch, logs=None):
            raise KeyboardInterrupt

    real_train = training.train
    monkeypatch.setattr(training, "train", lambda *args, **kwargs: real_train(*args, **kwargs, callbacks=[Interrupt()]))
    code = cli.main(["train", "--data", str(image_folder), "--artifacts", str(tmp_path), "--arch", "tiny_cnn", "--epochs", "3"])
    err = capsys.readouterr().err
    assert code == 130 and "error: Training was interrupted; the run is marked failed (run folder: " in err and "Traceback" not in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    run = runs.load_run(run_dir)
    assert run.state == "failed" and run.message == "Training was interrupted."


@pytest.mark.parametrize("phase", ["loading the data", "building the model"])
def test_ctrl_c_while_the_cli_starts_exits_quietly_with_130(image_folder, tmp_path, monkeypatch, capsys, phase):
    from cifar_cnn import cli, data, training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if phase == "loading the data":
        monkeypatch.setattr(data, "load_dataset", interrupted)
    else:
        monkeypatch.setattr(training.loop, "build_for_training", interrupted)
    code = cli.main(["train", "--data", str(image_folder), "--artifacts", str(tmp_path), "--arch", "tiny_cnn", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 130 and "interrupted" in err.lower() and "Traceback" not in err


def test_train_on_ray_runs_in_a_worker_and_writes_the_run_here(image_folder, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-m", "cifar_cnn", "train", "--data", str(image_folder), "--artifacts", str(tmp_path),
                           "--arch", "tiny_cnn", "--epochs", "2", "--name", "on ray", "--ray"],
                          capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test accuracy" in done.stdout and "Epoch 2:" in done.stderr and "Traceback" not in done.stderr
    run = the_run(tmp_path)
    assert run.state == "completed" and run.config["name"] == "on ray" and len(run.history) == 2
    assert (run.path / "model.keras").exists() and set(run.metrics) >= {"train_accuracy", "test_accuracy"}


def test_train_on_an_unreachable_ray_cluster_is_one_line_and_exit_2(image_folder, tmp_path):
    done = subprocess.run([sys.executable, "-m", "cifar_cnn", "train", "--data", str(image_folder), "--artifacts", str(tmp_path),
                           "--arch", "tiny_cnn", "--epochs", "1", "--ray", "127.0.0.1:1"],
                          capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "127.0.0.1:1" in errors[0], done.stderr[-2000:]
