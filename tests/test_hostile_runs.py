"""Run folders and an operating system that work against the program (issue 19): damaged run files, process ids
reused by other processes, trainings that start at the same moment, folders outside the runs, damaged models and
empty test sets, over-long paths, unwritable folders and full disks. None may end in a traceback or an error page."""

import errno
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

# Only light imports here: the processes of the concurrency test import this module to find their function.
from cifar_cnn import run_schema, runs
from cifar_cnn.cli import main
from synthetic_data import write_image_folder

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP = str(PROJECT_ROOT / "overview.py")
PAGES = ["overview.py", "pages/1_dataset.py", "pages/2_train.py", "pages/3_runs.py", "pages/4_evaluate.py",
         "pages/5_predict.py"]
CLASSES = ("cat", "dog", "frog")
TEST_LABELS = [0, 0, 1, 1, 2, 2]  # what write_image_folder(n_test=2) holds, in the loader's order
HAS_PROC = Path("/proc/self/stat").exists()


def finished_run(runs_dir: Path, with_model: bool = False) -> Path:
    """A completed run as `train` leaves one, written directly: quick, and every file known."""
    run_dir = runs.create_run({"arch": "tiny_cnn", "epochs": 1, "class_names": list(CLASSES), "dataset": "tiny"}, runs_dir)
    runs.write_history(run_dir, [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4, "seconds": 2.0}])
    runs.write_metrics(run_dir, {"train_accuracy": 0.9, "train_loss": 0.3, "test_accuracy": 0.67, "test_loss": 0.5})
    runs.write_predictions(run_dir, np.eye(3)[[0, 1, 1, 1, 2, 0]], np.array(TEST_LABELS))
    if with_model:
        from cifar_cnn.models import build_model

        runs.save_model(run_dir, build_model("tiny_cnn", len(CLASSES)))
    runs.update_status(run_dir, "completed")
    return run_dir


def set_fields(file_name: str, **values):
    def damage(run_dir: Path) -> None:
        path = run_dir / file_name
        path.write_text(json.dumps({**json.loads(path.read_text()), **values}))
    return damage


def drop_field(file_name: str, name: str):
    def damage(run_dir: Path) -> None:
        path = run_dir / file_name
        data = json.loads(path.read_text())
        del data[name]
        path.write_text(json.dumps(data))
    return damage


def write(file_name: str, text: str):
    return lambda run_dir: (run_dir / file_name).write_text(text)


def remove(file_name: str):
    return lambda run_dir: (run_dir / file_name).unlink()


# How to damage a run, and the words that must say what is wrong with it; each id says what the damaged run holds.
DAMAGES = [
    pytest.param(set_fields("status.json", started_at="yesterday"), "status.json: started_at is not a time", id="start-a-word"),
    pytest.param(set_fields("status.json", started_at=1e300), "status.json: started_at is not a time", id="start-far-future"),
    pytest.param(set_fields("metrics.json", test_accuracy="high"), "metrics.json: test_accuracy is not a number", id="accuracy-a-word"),
    pytest.param(set_fields("config.json", minutes="ten"), "config.json: minutes is not a number", id="minutes-as-text"),
    pytest.param(set_fields("config.json", epochs=[1]), "config.json: epochs is not a whole number", id="epochs-a-list"),
    pytest.param(set_fields("config.json", class_names={"0": "cat"}), "config.json: class_names is not a list of texts",
                 id="class-names-a-dict"),
    pytest.param(write("config.json", "[1, 2]"), "config.json holds a JSON list where an object belongs", id="config-a-list"),
    pytest.param(set_fields("status.json", pid="1234"), "status.json: pid is not a process id", id="pid-as-text"),
    # os.kill(-1, 0) succeeds wherever any process may be signalled: a run "running" as process -1 would never end
    pytest.param(set_fields("status.json", state="running", pid=-1), "status.json: pid is not a process id", id="pid-minus-one"),
    pytest.param(set_fields("status.json", state=None), "status.json: state is not one of", id="state-null"),
    pytest.param(write("metrics.json", '{"train_accuracy": '), "metrics.json is not valid JSON", id="invalid-json"),
    pytest.param(drop_field("metrics.json", "test_loss"), "metrics.json: test_loss is missing", id="missing-field"),
    pytest.param(remove("status.json"), "status.json is missing", id="missing-file"),
    pytest.param(write("history.csv", "epoch,loss,accuracy,val_loss,val_accuracy,seconds\n1,1.0,high,1.1,0.4,2.0\n"),
                 "history.csv: accuracy in row 1 is not a number", id="history-a-word"),
]


def error_lines(captured) -> list[str]:
    """The lines of stderr that report an error; there must be no traceback. Takes capsys' capture or a subprocess'."""
    out, err = (captured.stdout, captured.stderr) if isinstance(captured, subprocess.CompletedProcess) else captured
    assert "Traceback" not in out + err
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("data") / "tiny", classes=CLASSES, n_train=8, n_test=2)


# ---------------------------------------------------------------- damaged run files


@pytest.mark.parametrize("damage, words", DAMAGES)
def test_a_damaged_run_is_listed_as_damaged_and_everything_else_works(tmp_path, capsys, damage, words):
    good = finished_run(tmp_path / "runs")
    bad = finished_run(tmp_path / "runs")
    damage(bad)
    artifacts = ["--artifacts", str(tmp_path)]

    assert main(["runs", *artifacts]) == 0
    captured = capsys.readouterr()
    states = {line.split()[0]: line.split()[1] for line in captured.out.splitlines()[1:]}
    assert states == {good.name: "completed", bad.name: "damaged"}
    warnings = captured.err.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: Run {bad.name} is damaged: ") and words in warnings[0]

    assert main(["evaluate", bad.name, *artifacts]) == 2
    assert [words in line for line in error_lines(capsys.readouterr())] == [True]
    assert main(["evaluate", good.name, *artifacts]) == 0


def test_every_setting_of_a_training_has_a_type_in_the_run_schema():
    from cifar_cnn.training import TrainConfig

    assert {setting.name for setting in fields(TrainConfig)} <= set(run_schema.CONFIG)


@pytest.fixture
def app_artifacts(tmp_path, image_folder, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("CIFAR10_DATA", str(image_folder))
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path / "artifacts"))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path / "artifacts"
    st.cache_resource.clear()
    st.cache_data.clear()


def open_page(page: str, run_id: str | None = None):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(APP, default_timeout=90)
    if run_id:
        app.query_params["run"] = run_id  # a link to the run, as the Runs page makes
    app.run()
    if page != PAGES[0]:
        app.switch_page(page).run()
    assert not app.exception, app.exception
    return app


def alerts(app, kind: str) -> str:
    return "\n".join(str(element.value) for element in getattr(app, kind))


def test_every_page_works_beside_damaged_runs(app_artifacts):
    good = finished_run(app_artifacts / "runs", with_model=True)
    damaged = set()
    for case in DAMAGES:
        run_dir = finished_run(app_artifacts / "runs")
        case.values[0](run_dir)
        damaged.add(run_dir.name)
    for page in PAGES:
        app = open_page(page)
        assert app.selectbox(key="run_id").value == good.name  # the usable run is the one selected
    table = open_page("pages/3_runs.py").dataframe[0].value
    assert dict(zip(table["run"], table["status"])) == {good.name: "completed", **{name: "damaged" for name in damaged}}
    evaluate = open_page("pages/4_evaluate.py")
    assert "Test accuracy" in [metric.label for metric in evaluate.metric]


def test_a_damaged_run_chosen_in_the_app_says_what_is_wrong_and_can_be_deleted(app_artifacts):
    finished_run(app_artifacts / "runs", with_model=True)
    bad = finished_run(app_artifacts / "runs", with_model=True)
    set_fields("metrics.json", test_accuracy="high")(bad)
    for page in ("pages/4_evaluate.py", "pages/5_predict.py"):
        app = open_page(page, run_id=bad.name)
        assert f"Run {bad.name} is damaged: metrics.json: test_accuracy is not a number" in alerts(app, "warning").replace("\\", "")

    app = open_page("pages/3_runs.py")
    app.multiselect(key="chosen_runs").set_value([bad.name]).run()
    next(button for button in app.button if button.label == "Delete 1 run").click().run()
    next(button for button in app.button if button.label == "Yes, delete").click().run()
    assert not app.exception, app.exception
    assert not bad.exists()


# ---------------------------------------------------------------- process ids reused by other processes

# Stands in for a training process: makes a run, prints its folder, and keeps running until its stdin closes.
TRAINER = "import sys\nfrom cifar_cnn import runs\nprint(runs.create_run({'arch': 'tiny_cnn'}, sys.argv[1]), flush=True)\nsys.stdin.read()\n"


@pytest.fixture
def trainer(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", TRAINER, str(tmp_path / "runs")], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    run_dir = Path(process.stdout.readline().strip())
    yield run_dir
    process.kill()
    process.wait()


@pytest.fixture
def unrelated_process():
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def rewrite_status(run_dir: Path, change) -> None:
    status = json.loads((run_dir / "status.json").read_text())
    change(status)
    (run_dir / "status.json").write_text(json.dumps(status))


@pytest.mark.skipif(not HAS_PROC, reason="process start times come from Linux's /proc")
def test_a_run_whose_process_id_now_names_another_process_is_interrupted(trainer, unrelated_process):
    assert runs.load_run(trainer).state == "running"  # its trainer lives
    with pytest.raises(runs.RunError, match="still training"):
        runs.delete_run(trainer.name, trainer.parent)
    # The trainer's id handed to another process: the id is alive, but its start time is not the trainer's.
    rewrite_status(trainer, lambda status: status.update(pid=unrelated_process.pid))
    assert runs.load_run(trainer).state == "interrupted"
    runs.delete_run(trainer.name, trainer.parent)
    assert not trainer.exists()


@pytest.mark.skipif(not HAS_PROC, reason="process start times come from Linux's /proc")
def test_a_run_of_an_older_version_without_a_start_time_is_judged_by_the_process(trainer, unrelated_process):
    rewrite_status(trainer, lambda status: status.pop("process_start"))
    assert runs.load_run(trainer).state == "running"  # a Python process that started before the run: its trainer
    rewrite_status(trainer, lambda status: status.update(pid=unrelated_process.pid))
    assert runs.load_run(trainer).state == "interrupted"  # `sleep` trains nothing


# ---------------------------------------------------------------- trainings that start at the same moment

PROCESSES, RUNS_EACH = 6, 30  # rounds enough that the old check-then-create collided in every one of several tries


def create_runs_together(runs_dir: Path, barrier, results) -> None:
    created = []
    for _ in range(RUNS_EACH):
        barrier.wait(timeout=120)  # every process starts each creation at the same moment
        try:
            created.append(runs.create_run({"arch": "tiny_cnn"}, runs_dir).name)
        except Exception as error:  # noqa: BLE001 - the test reports every failure
            created.append(f"error: {type(error).__name__}: {error}")
    results.put(created)


def test_runs_started_at_the_same_moment_by_several_processes_get_distinct_ids(tmp_path):
    context = multiprocessing.get_context("spawn")  # no copy of this process' threads (TensorFlow's, Streamlit's)
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    workers = [context.Process(target=create_runs_together, args=(tmp_path, barrier, results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    created = [name for _ in workers for name in results.get(timeout=180)]
    for worker in workers:
        worker.join(timeout=60)
    assert [name for name in created if name.startswith("error:")] == []
    assert len(set(created)) == PROCESSES * RUNS_EACH
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(created)  # no half-made folder left behind
    assert all(runs.load_run(name, tmp_path).config == {"arch": "tiny_cnn"} for name in created)


# ---------------------------------------------------------------- folders outside the runs


def test_evaluate_takes_only_folders_of_the_runs_folder(tmp_path, capsys):
    runs_dir = tmp_path / "artifacts" / "runs"
    run_dir = finished_run(runs_dir)
    outside = shutil.copytree(run_dir, tmp_path / "elsewhere" / run_dir.name)  # a complete run, but not one of these
    (runs_dir / "linked").symlink_to(outside)
    artifacts = ["--artifacts", str(tmp_path / "artifacts")]
    for accepted in (run_dir.name, str(run_dir), f"{runs_dir}/../runs/{run_dir.name}"):
        assert main(["evaluate", accepted, *artifacts]) == 0, accepted
    capsys.readouterr()
    for refused in (".", "..", "/etc", str(outside), "linked", str(runs_dir / "linked"), f"{runs_dir}/..", str(runs_dir)):
        assert main(["evaluate", refused, *artifacts]) == 2, refused
        lines = error_lines(capsys.readouterr())
        assert len(lines) == 1 and f"is not a run: runs are the folders in {runs_dir}" in lines[0], refused


# ---------------------------------------------------------------- damaged models, empty test sets


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def bad_crc(data: bytes) -> bytes:
    """The archive's directory intact, a member's bytes changed: zipfile finds the file but not its contents."""
    return data[:200] + bytes(500) + data[700:]


@pytest.mark.parametrize("corrupt", [lambda data: os.urandom(len(data)), truncated, bad_crc, lambda data: b""],
                         ids=["random-bytes", "truncated-zip", "bad-crc", "empty"])
def test_a_damaged_model_file_is_called_damaged(tmp_path, corrupt):
    run_dir = finished_run(tmp_path / "runs", with_model=True)
    model_file = run_dir / "model.keras"
    model_file.write_bytes(corrupt(model_file.read_bytes()))
    with pytest.raises(runs.RunError) as caught:
        runs.load_model(runs.load_run(run_dir))
    message = str(caught.value)
    assert f"The model file {model_file} of run {run_dir.name} is damaged" in message
    assert message.endswith("Train the run again, or delete it.") and "not found" not in message


def test_evaluate_says_the_model_file_is_damaged(tmp_path, image_folder, capsys):
    run_dir = finished_run(tmp_path / "runs", with_model=True)
    (run_dir / "model.keras").write_bytes(truncated((run_dir / "model.keras").read_bytes()))
    code = main(["evaluate", run_dir.name, "--artifacts", str(tmp_path), "--tta", "--data", str(image_folder)])
    lines = error_lines(capsys.readouterr())
    assert code == 2 and len(lines) == 1 and "is damaged" in lines[0] and "delete it" in lines[0]


@pytest.mark.parametrize("empty, words", [
    pytest.param(lambda run_dir: (run_dir / "predictions.npz").write_bytes(b""), "test predictions of run {run} are empty",
                 id="zero-bytes"),
    pytest.param(lambda run_dir: runs.write_predictions(run_dir, np.zeros((0, 3)), np.zeros(0, np.int64)),
                 "The test set of run {run} is empty", id="zero-rows"),
])
def test_an_empty_test_set_is_called_empty(tmp_path, capsys, empty, words):
    run_dir = finished_run(tmp_path / "runs")
    empty(run_dir)
    words = words.format(run=run_dir.name)
    with pytest.raises(runs.RunError) as caught:
        runs.load_predictions(runs.load_run(run_dir))
    assert words in str(caught.value)
    assert main(["evaluate", run_dir.name, "--artifacts", str(tmp_path)]) == 2
    lines = error_lines(capsys.readouterr())
    assert len(lines) == 1 and words in lines[0]


# ---------------------------------------------------------------- errors from the operating system

LONG = "a" * 5000  # longer than any file name (255) or path (4,096) Linux takes


@pytest.mark.parametrize("argv", [
    ["evaluate", LONG, "--artifacts", "{tmp}"],
    ["evaluate", "some-run", "--artifacts", "{tmp}/" + LONG],
    ["runs", "--artifacts", "{tmp}/" + LONG],
    ["train", "--data", "{data}", "--arch", "tiny_cnn", "--epochs", "1", "--artifacts", "{tmp}/" + LONG],
], ids=["evaluate-long-run-id", "evaluate-long-artifacts", "runs-long-artifacts", "train-long-artifacts"])
def test_a_path_longer_than_the_system_allows_is_one_line_and_exit_2(tmp_path, image_folder, capsys, argv):
    code = main([arg.replace("{tmp}", str(tmp_path)).replace("{data}", str(image_folder)) for arg in argv])
    lines = error_lines(capsys.readouterr())
    assert code == 2 and len(lines) == 1
    assert "too long" in lines[0].lower() and len(lines[0]) < 1000  # the path is shortened, not printed whole


def train_argv(image_folder: Path, artifacts: Path) -> list[str]:
    return ["train", "--data", str(image_folder), "--arch", "tiny_cnn", "--epochs", "1", "--batch-size", "8",
            "--artifacts", str(artifacts)]


def test_artifacts_under_a_file_is_one_line_and_exit_2(tmp_path, image_folder):
    (tmp_path / "file").write_text("")
    done = subprocess.run([sys.executable, "-m", "cifar_cnn", *train_argv(image_folder, tmp_path / "file" / "artifacts")],
                          check=False, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    lines = error_lines(done)
    assert done.returncode == 2 and len(lines) == 1
    assert "Not a directory" in lines[0] and "Part of that path is a file, not a folder." in lines[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders, so chmod makes no permission error; "
                    "test_artifacts_under_a_file_is_one_line_and_exit_2 checks the same handling")
def test_a_runs_folder_that_is_not_writable_is_one_line_and_exit_2(tmp_path, image_folder, capsys):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    runs_dir.chmod(0o500)
    try:
        code = main(train_argv(image_folder, tmp_path))
        lines = error_lines(capsys.readouterr())
        runs_dir.chmod(0o000)
        listing_code = main(["runs", "--artifacts", str(tmp_path)])
        listing_lines = error_lines(capsys.readouterr())
    finally:
        runs_dir.chmod(0o700)
    assert code == 2 and len(lines) == 1 and "Permission denied" in lines[0]
    assert listing_code == 2 and len(listing_lines) == 1 and "Permission denied" in listing_lines[0]


def disk_full(path: Path) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_a_full_disk_when_a_run_starts_is_one_line_and_exit_2(tmp_path, image_folder, monkeypatch, capsys):
    def full(path, write_file):
        raise disk_full(path)

    monkeypatch.setattr(runs, "atomic_write", full)
    code = main(train_argv(image_folder, tmp_path))
    lines = error_lines(capsys.readouterr())
    assert code == 2 and len(lines) == 1
    assert "No space left on device" in lines[0] and "free some space" in lines[0]
    assert list((tmp_path / "runs").iterdir()) == []  # no half-made run left behind


def test_a_full_disk_while_saving_the_model_fails_the_run_with_what_to_do(tmp_path, image_folder, monkeypatch, capsys):
    write_file = runs.atomic_write

    def full_for_the_model(path, write):
        if path.name == runs.MODEL_FILE:
            raise disk_full(path)
        write_file(path, write)

    monkeypatch.setattr(runs, "atomic_write", full_for_the_model)
    code = main(train_argv(image_folder, tmp_path))
    lines = error_lines(capsys.readouterr())
    assert code == 1 and len(lines) == 1
    assert "No space left on device" in lines[0] and "free some space" in lines[0]
    [run], _ = runs.list_runs(tmp_path / "runs")
    assert run.state == "failed" and "free some space" in run.message


def test_the_app_works_when_the_runs_folder_cannot_be_read(app_artifacts, monkeypatch):
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(app_artifacts / LONG))
    for page in PAGES:
        app = open_page(page)
        assert "Cannot read the runs folder: File name too long" in alerts(app, "error").replace("\\", ""), page


def test_the_app_says_when_the_system_refuses_to_delete_a_run(app_artifacts, monkeypatch):
    run_dir = finished_run(app_artifacts / "runs")

    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    app = open_page("pages/3_runs.py")
    app.multiselect(key="chosen_runs").set_value([run_dir.name]).run()
    next(button for button in app.button if button.label == "Delete 1 run").click().run()
    monkeypatch.setattr(shutil, "rmtree", refuse)
    next(button for button in app.button if button.label == "Yes, delete").click().run()
    assert not app.exception, app.exception
    assert "could not be deleted: Permission denied" in alerts(app, "error").replace("\\", "")
    assert run_dir.exists()
