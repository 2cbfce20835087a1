"""The Streamlit pages, run headless with AppTest on a tiny synthetic dataset."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import socket
import time

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cifar_cnn import runs
from cifar_cnn.training import TrainConfig, train
from cifar_cnn.classroom import JobInfo
from cifar_cnn.ui.classroom import queue_holder
from process_tree import descendants, program
from synthetic_arrays import make_dataset
from synthetic_data import write_image_folder

APP = str(Path(__file__).resolve().parent.parent / "overview.py")
PAGES = ["overview.py", "pages/1_dataset.py", "pages/2_train.py", "pages/3_runs.py"]


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    """A fresh artifacts folder and a tiny image-folder dataset, with Streamlit's caches emptied."""
    data = write_image_folder(tmp_path / "data", classes=("cat", "dog", "frog"), n_train=24, n_test=9)
    monkeypatch.setenv("CIFAR10_DATA", str(data))
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path / "artifacts"))
    st.cache_resource.clear()
    yield tmp_path / "artifacts"
    queue_holder().close()  # the test's jobs end with its engine (and the engine's Ray)
    st.cache_resource.clear()


def last_job() -> JobInfo:
    """The job the Train page queued last (through the app's own queue)."""
    return queue_holder().queue.jobs()[-1]


def wait_for_end(job_id: str, timeout: float = 180) -> JobInfo:
    """Poll the app's queue until the job has ended; fail if it has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue_holder().queue.job(job_id)
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {queue_holder().queue.job(job_id).state} after {timeout} s")


def wait_until_training(job_id: str, timeout: float = 180) -> None:
    """Poll until the job's worker has trained a batch."""
    deadline = time.monotonic() + timeout
    while not queue_holder().queue.snapshot(job_id).batches:
        assert time.monotonic() < deadline, f"job {job_id} did not start training within {timeout} s"
        time.sleep(0.2)


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=90)
    app.run()
    if page != PAGES[0]:
        app.switch_page(page).run()
    assert not app.exception, app.exception
    return app


def texts(app: AppTest) -> str:
    parts = [element.value for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader")
             for element in getattr(app, kind)]
    return "\n".join(str(part) for part in parts).replace("\\", "")  # as shown: user text arrives Markdown-escaped


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_no_runs(artifacts, page):
    app = open_page(page)
    assert app.title, f"{page} drew nothing"


def test_every_page_renders_with_runs(artifacts):
    train(TrainConfig(arch="tiny_cnn", epochs=1), make_dataset(num_classes=3), runs_dir=artifacts / "runs")
    for page in PAGES:
        open_page(page)
    assert "Test accuracy" in [metric.label for metric in open_page(PAGES[0]).metric]


def test_dataset_page_shows_balance_grid_and_pager(artifacts):
    app = open_page("pages/1_dataset.py")
    assert len(app.get("plotly_chart")) == 1
    images = app.get("image")
    assert len(images) == 3 + 1  # one row per class, then the class pager
    reshuffle = next(button for button in app.button if button.label == "Reshuffle")
    reshuffle.click().run()
    assert not app.exception


def test_dataset_samples_are_captioned_with_their_class(artifacts):
    app = open_page("pages/1_dataset.py")
    rows = app.get("image")[:3]  # one row of random training images per class
    assert [set(row.captions) for row in rows] == [{"cat"}, {"dog"}, {"frog"}]
    assert all(len(row.captions) == 10 for row in rows)  # the default number per class


def start_training(app: AppTest, epochs: int, minutes: float = 0.0) -> None:
    app.toggle(key="quick_demo").set_value(False).run()
    app.selectbox(key="arch").set_value("tiny_cnn")
    app.number_input(key="epochs").set_value(epochs)
    app.number_input(key="minutes").set_value(minutes)
    app.select_slider(key="batch_size").set_value(16)
    next(button for button in app.button if button.label == "Train").click().run()
    assert not app.exception, app.exception


def test_train_completes_and_the_run_appears_on_runs(artifacts):
    app = open_page("pages/2_train.py")
    start_training(app, epochs=2)
    job = wait_for_end(last_job().job_id)
    app.run()
    assert any("Training finished" in message.value for message in app.success), texts(app)
    assert len(app.get("plotly_chart")) == 2  # its final loss and accuracy curves stay on the page
    app.switch_page("pages/3_runs.py").run()
    assert app.dataframe, (texts(app), job.run_dir, list(artifacts.rglob("*")))
    table = app.dataframe[0].value
    assert list(table["status"]) == ["completed"] and list(table["epochs"]) == ["2 of 2"]


def test_a_finished_training_opens_in_evaluate(artifacts):
    app = open_page("pages/2_train.py")
    start_training(app, epochs=1)
    job = wait_for_end(last_job().job_id)
    app.run()
    next(button for button in app.button if button.label == "Open this run in Evaluate").click().run()
    assert not app.exception
    assert [title.value for title in app.title] == ["Evaluate"]
    assert job.run_dir.name in texts(app)


def test_stop_leaves_a_run_marked_stopped(artifacts):
    app = open_page("pages/2_train.py")
    start_training(app, epochs=200)
    wait_until_training(last_job().job_id)
    app.run()
    stop = next(button for button in app.button if button.label == "Stop")
    stop.click().run()
    job = wait_for_end(last_job().job_id)
    assert runs.load_run(job.run_dir).state == "stopped"
    app.run()
    assert any("Training stopped" in message.value for message in app.success), texts(app)


def test_ray_failing_under_the_app_stops_the_engine_only_and_train_offers_to_start_it_again(artifacts):
    app = open_page("pages/2_train.py")
    start_training(app, epochs=200)
    job = last_job()
    wait_until_training(job.job_id)
    run_dir = queue_holder().queue.job(job.job_id).run_dir
    engine = queue_holder().queue
    raylet = next(pid for pid in descendants(engine.pid) if program(pid) == "raylet")
    os.kill(raylet, signal.SIGKILL)  # as an out-of-memory kill or a `ray stop` would
    deadline = time.monotonic() + 90
    while engine.alive and time.monotonic() < deadline:
        time.sleep(0.2)
    app.run()  # this process (the app) lives on, and says what happened
    assert not app.exception
    message = " ".join(error.value for error in app.error).replace("\\", "")
    assert message.startswith("The training engine stopped (exit code 3): Ray on this machine failed: its raylet process ")
    assert [button.label for button in app.button if button.label == "Start the training engine again"]
    assert not [button for button in app.button if button.label == "Train"]
    status = runs.load_run(run_dir)  # marked at once, not only when the engine starts again
    assert status.state == "failed" and "The training engine stopped" in status.message
    for page in ("pages/3_runs.py", "pages/7_class.py"):
        app.switch_page(page).run()
        assert not app.exception, page
    assert "The training engine stopped" in texts(app)  # the Class page says so too
    app.switch_page("pages/2_train.py").run()
    next(button for button in app.button if button.label == "Start the training engine again").click().run()
    assert not [error for error in app.error if "engine stopped (" in error.value and "while this" not in error.value]
    assert [button.label for button in app.button if button.label == "Train"] == ["Train"]
    failed = queue_holder().queue.job(job.job_id)
    assert failed.state == "failed" and "The training engine stopped" in failed.message
    assert "while this training ran" in texts(app)


def test_a_second_train_while_one_runs_waits_in_line_and_can_be_cancelled(artifacts):
    app = open_page("pages/2_train.py")
    start_training(app, epochs=200)
    first = last_job()
    next(button for button in app.button if button.label == "Train").click().run()  # the form stays open: train again
    second = last_job()
    assert second.job_id != first.job_id and second.state == "queued" and second.place == 1
    assert "Waiting: number 1 in line." in texts(app)
    next(button for button in app.button if button.label == "Cancel").click().run()
    assert queue_holder().queue.job(second.job_id).state == "cancelled"
    assert queue_holder().queue.job(first.job_id).state == "running"


def test_a_full_class_line_refuses_a_click_saying_so_and_the_teacher_limit_is_on_the_page(artifacts):
    app = open_page("pages/2_train.py")
    start_training(app, epochs=200)
    first = last_job()
    number = next(field for field in app.number_input if field.key == "line_limit")
    number.set_value(1).run()
    next(button for button in app.button if button.label == "Apply the limit").click().run()
    assert queue_holder().queue.max_unfinished == 1
    assert "The class's line holds at most 1 training waiting or running (your limit)." in texts(app)
    next(button for button in app.button if button.label == "Train").click().run()
    assert [job.job_id for job in queue_holder().queue.jobs()] == [first.job_id]  # nothing more was queued
    assert "The class's line has room for 0 more trainings now (at most 1 wait or run at once), not 1: nothing was queued." in texts(app)
    assert "ask the teacher to raise the limit" in texts(app)


def test_while_a_job_runs_every_viewer_without_a_name_sees_its_settings_first(artifacts):
    app = open_page("pages/2_train.py")
    start_training(app, epochs=200)
    second_session = open_page("pages/2_train.py")  # whose own widgets still hold the quick demo's defaults
    for page in (app, second_session):
        assert "Your trainings" in [header.value for header in page.subheader]
        assert "tiny_cnn · 200 epochs" in texts(page)  # the running job's settings, not the page's defaults


def test_a_bad_data_path_shows_an_error_not_an_exception(artifacts, tmp_path):
    app = open_page(PAGES[0])
    app.text_input(key="data_path").set_value(str(tmp_path / "nowhere")).run()
    assert not app.exception
    assert any(str(tmp_path / "nowhere") in error.value.replace("\\", "") for error in app.error)
    hint = [warning.value.replace("\\", "") for warning in app.main.warning if warning.value.replace("\\", "").startswith("No data loaded:")]
    assert hint and "CIFAR10_DATA=" in hint[0] and "Local path" in hint[0]  # in the main pane, not only in the sidebar
    app.switch_page("pages/2_train.py").run()
    assert not app.exception
    assert any("No dataset loaded" in warning.value for warning in app.warning), (app.text_input(key="data_path").value, app.radio(key="data_choice").value, texts(app))


def test_the_data_source_stays_chosen_across_pages(artifacts, tmp_path):
    app = open_page(PAGES[0])
    app.text_input(key="data_path").set_value(str(tmp_path / "elsewhere")).run()
    for page in PAGES[1:]:
        app.switch_page(page).run()
        assert app.text_input(key="data_path").value == str(tmp_path / "elsewhere")


def keras_sessions_cleared_by_a_script_run(monkeypatch) -> int:
    """Run a script through Streamlit's own script runner and count calls of keras.backend.clear_session."""
    import keras

    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: cleared.append(True))
    AppTest.from_string("import keras\nimport streamlit as st\nst.write('ran')").run()
    return len(cleared)


def test_reruns_do_not_clear_the_keras_session_under_a_running_training(monkeypatch):
    """Streamlit clears Keras' session after every rerun; the Train page reruns each second while a thread trains."""
    import cifar_cnn.ui  # noqa: F401  (importing the app's glue applies the fix)

    assert keras_sessions_cleared_by_a_script_run(monkeypatch) == 0


def test_streamlits_runner_still_clears_the_keras_session_by_the_name_the_fix_patches(monkeypatch):
    """The control for the test above: with Streamlit's own cleanup back, a script run clears the session. If an upgrade
    renames or moves the cleanup, this fails (and the app warns at start) instead of training silently slowing down."""
    import cifar_cnn.ui
    from streamlit.runtime.scriptrunner import script_runner

    assert cifar_cnn.ui.streamlit_cleanup is not None, "Streamlit has no script_runner._clean_problem_modules any more"
    monkeypatch.setattr(script_runner, "_clean_problem_modules", cifar_cnn.ui.streamlit_cleanup)
    assert keras_sessions_cleared_by_a_script_run(monkeypatch) >= 1


def two_runs(artifacts):
    dataset = make_dataset(num_classes=3)
    return [train(TrainConfig(arch="tiny_cnn", epochs=epochs), dataset, runs_dir=artifacts / "runs").run_dir.name for epochs in (1, 2)]


def test_runs_page_compares_chosen_runs(artifacts):
    first, second = two_runs(artifacts)
    app = open_page("pages/3_runs.py")
    assert list(app.dataframe[0].value["run"]) == [second, first]
    app.multiselect(key="chosen_runs").set_value([first, second]).run()
    names = sorted(trace["name"] for trace in json.loads(app.get("plotly_chart")[0].proto.spec)["data"])
    # each run's curve is labelled with what was trained and how well (run_labels.describe), not its id
    assert names[0].startswith("tiny_cnn · 240 images · 1 epoch · test ") and names[1].startswith("tiny_cnn · 240 images · 2 epochs · test ")


def test_deleting_a_run_asks_first_and_can_be_cancelled(artifacts):
    first, second = two_runs(artifacts)
    app = open_page("pages/3_runs.py")
    app.multiselect(key="chosen_runs").set_value([first]).run()
    next(button for button in app.button if button.label == "Delete 1 run").click().run()
    assert any("for good" in warning.value for warning in app.warning)
    next(button for button in app.button if button.label == "Cancel").click().run()
    assert (artifacts / "runs" / first).exists()

    next(button for button in app.button if button.label == "Delete 1 run").click().run()
    next(button for button in app.button if button.label == "Yes, delete").click().run()
    assert not app.exception
    assert not (artifacts / "runs" / first).exists() and (artifacts / "runs" / second).exists()
    assert list(app.dataframe[0].value["run"]) == [second]
    assert app.multiselect(key="chosen_runs").value == []


def test_training_with_a_preset_from_the_train_page(artifacts):
    app = open_page("pages/2_train.py")
    app.toggle(key="quick_demo").set_value(False).run()
    app.selectbox(key="recipe").set_value("seed").run()
    assert not [box for box in app.selectbox if box.key == "arch"]  # the preset sets the architecture; its caption says which
    assert any(caption.value.startswith("On this machine the preset trains seed_cnn, ") for caption in app.caption)
    app.number_input(key="epochs").set_value(1)
    next(button for button in app.button if button.label == "Train").click().run()
    assert not app.exception, app.exception
    job = wait_for_end(last_job().job_id, timeout=300)
    assert job.state == "completed", job.message
    assert (job.config.schedule, job.config.label_smoothing, job.config.batch_size) == ("one_cycle", 0.1, 128)


def test_the_fast_recipe_shows_what_it_sets_on_this_machine(artifacts, monkeypatch):
    from cifar_cnn.training import precision

    monkeypatch.setattr(precision, "hardware_has_native_bfloat16", lambda: False)
    app = open_page("pages/2_train.py")
    app.toggle(key="quick_demo").set_value(False).run()
    app.selectbox(key="recipe").set_value("fast").run()
    caption = next(caption.value for caption in app.caption if caption.value.startswith("On this machine the preset trains"))
    assert caption.startswith("On this machine the preset trains fast_cnn, sgd at ") and "in batches of 256" in caption
    assert "{" not in caption and "float32" not in caption  # words, not Python; float32 is the plain case, unsaid
    table = next(frame.value for frame in app.dataframe if "setting" in frame.value.columns)
    rows = dict(zip(table["setting"], table["value"]))
    assert rows["network: widths"] == "32, 64, 128" and rows["batch size"] == "256" and rows["precision"] == "float32"
    assert rows["shift lr scale"] == "64" and rows["crop padding"] == "2"
    assert all(len(value) < 40 for value in rows.values())  # rounded: no 0.1111111111111111


def test_a_time_budget_from_the_train_page(artifacts):
    app = open_page("pages/2_train.py")
    start_training(app, epochs=200, minutes=0.1)
    job = wait_for_end(last_job().job_id)
    assert job.state == "completed", job.message
    assert job.config.minutes == 0.1
    assert len(queue_holder().queue.snapshot(job.job_id).epochs) < 200


def test_a_time_budget_from_the_train_page_is_not_capped_by_the_default_epochs(artifacts):
    from cifar_cnn.training.presets import build_config
    from cifar_cnn.training import UNCAPPED_EPOCHS

    app = open_page("pages/2_train.py")
    start_training(app, epochs=2, minutes=0.05)
    job = wait_for_end(last_job().job_id)
    assert job.config.epochs == UNCAPPED_EPOCHS
    # the page's choices, given to the builder the CLI and the benches use, make the same settings
    assert job.config == build_config(arch="tiny_cnn", minutes=0.05, batch_size=16, optimizer="adam", learning_rate=1e-3,
                                      augment=True, precision="float32", validation="test", seed=0, strategy="default")


def test_the_train_pages_limits_are_the_settings_limits(artifacts):
    from cifar_cnn.training import LEARNING_RATE_RANGE, MAX_EPOCHS, MAX_MINUTES, MAX_SEED

    app = open_page("pages/2_train.py")
    app.toggle(key="quick_demo").set_value(False).run()
    assert (app.number_input(key="learning_rate").min, app.number_input(key="learning_rate").max) == LEARNING_RATE_RANGE
    assert app.number_input(key="epochs").max == MAX_EPOCHS
    assert app.number_input(key="minutes").max == MAX_MINUTES
    assert app.number_input(key="seed").max == MAX_SEED


def test_the_quick_demo_is_the_train_pages_default(artifacts):
    from cifar_cnn.training.presets import build_config

    app = open_page("pages/2_train.py")
    assert app.toggle(key="quick_demo").value
    assert not [box for box in app.selectbox if box.key == "arch"]
    assert any(caption.value.startswith("Quick demo: the fast preset for 1 minute. On this machine it trains fast_cnn, ")
               for caption in app.caption)
    next(button for button in app.button if button.label == "Train").click().run()
    assert not app.exception, app.exception
    job_id = last_job().job_id
    wait_until_training(job_id)
    queue_holder().queue.stop(job_id)  # the settings are what this checks, not a minute of training
    job = wait_for_end(job_id, timeout=300)
    assert job.state == "stopped", job.message
    # the fast preset for one minute on every training image
    assert job.config == build_config("fast", minutes=1.0, seed=0, validation="test", strategy="default")
    assert job.config.subset is None and job.config.arch == "fast_cnn"


def test_a_run_link_selects_that_run_once(artifacts):
    first, second = two_runs(artifacts)  # the newest run is selected by default
    app = AppTest.from_file(APP, default_timeout=90)
    app.query_params["run"] = first
    app.run()
    assert not app.exception, app.exception
    assert app.selectbox(key="run_id").value == first
    assert "run" not in app.query_params  # honoured once: choosing another run later is not undone by the link


def test_pages_show_the_newest_finished_run_and_switch_to_a_new_one_when_it_finishes(artifacts):
    _, newest = two_runs(artifacts)
    opened_before = open_page("pages/4_evaluate.py")
    assert opened_before.selectbox(key="run_id").value == newest
    trainer = open_page("pages/2_train.py")
    start_training(trainer, epochs=2)
    job_id = last_job().job_id
    opened_during = open_page("pages/4_evaluate.py")
    if not queue_holder().queue.job(job_id).is_finished:  # a page opened during the training shows a finished run, not the one that has no results yet
        assert opened_during.selectbox(key="run_id").value == newest
    job = wait_for_end(job_id)
    assert job.state == "completed"
    for page in (opened_before, opened_during):
        page.run()
        assert not page.exception, page.exception
        assert page.selectbox(key="run_id").value == job.run_dir.name


def test_a_fresh_server_says_it_is_starting_before_tensorflow_has_loaded():
    """The first page of a fresh server waits seconds for TensorFlow's import: it shows a notice first, and the page clears it."""
    script = (
        "from streamlit.testing.v1 import AppTest\n"
        "import sys\n"
        "assert 'keras' not in sys.modules\n"
        "page = AppTest.from_string('import streamlit as st\\nimport cifar_cnn.ui\\nst.stop()', default_timeout=120).run()\n"
        "print([info.value for info in page.info])\n"
        "page = AppTest.from_string('import streamlit as st\\nfrom cifar_cnn.ui.sidebar import setup_page\\nst.stop()', default_timeout=120).run()\n"
        "print([info.value for info in page.info])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    before_page, after_import = done.stdout.strip().splitlines()[-2:]
    assert "loading TensorFlow" in before_page
    assert after_import == "[]"  # imported once per process: a later visit shows no notice


def test_the_sidebar_labels_runs_for_people_and_in_full(artifacts):
    from cifar_cnn.data import load_dataset

    dataset = load_dataset(os.environ["CIFAR10_DATA"], cache_dir=artifacts / "cache")
    train(TrainConfig(arch="tiny_cnn", epochs=1, subset=12, name="my first net"), dataset, runs_dir=artifacts / "runs")
    app = open_page("pages/4_evaluate.py")
    box = app.selectbox(key="run_id")
    assert box.format_func(box.value).startswith("my first net · tiny_cnn · 12 images · 1 epoch · test ")
    assert any(caption.value.replace("\\", "").startswith("my first net · tiny_cnn · 12 images") for caption in app.sidebar.caption)


def name_yourself(app: AppTest, name: str) -> AppTest:
    app.text_input(key="student_name").set_value(name).run()
    assert not app.exception, app.exception
    return app


def test_with_a_teacher_key_each_student_follows_only_their_own_training(artifacts, monkeypatch):
    monkeypatch.setenv("CIFAR_CNN_TEACHER_KEY", "owl-42")
    nameless = open_page("pages/2_train.py")
    assert next(button for button in nameless.button if button.label == "Train").disabled
    assert "Enter your name in the sidebar" in texts(nameless)

    ada = name_yourself(open_page("pages/2_train.py"), "ada")
    start_training(ada, epochs=200)
    bob = name_yourself(open_page("pages/2_train.py"), "bob")
    start_training(bob, epochs=3)
    ada.run()
    assert "Your trainings, ada" in [header.value for header in ada.subheader]
    assert "tiny_cnn · 200 epochs" in texts(ada) and "tiny_cnn · 3 epochs" not in texts(ada)
    assert "tiny_cnn · 3 epochs" in texts(bob) and "tiny_cnn · 200 epochs" not in texts(bob)
    assert "Waiting: number 1 in line." in texts(bob)  # one training at a time on 2 cores: bob waits for ada
    assert not [button for button in bob.button if button.label in ("Stop", "Stop or cancel it")]
    assert not any("Queue settings" in expander.label for expander in bob.expander)  # students cannot change the queue

    reloaded = AppTest.from_file(APP, default_timeout=90)  # a reload: a new session, the name still in the address
    reloaded.query_params["name"] = "bob"
    reloaded.run()
    reloaded.switch_page("pages/2_train.py").run()
    assert reloaded.text_input(key="student_name").value == "bob" and "tiny_cnn · 3 epochs" in texts(reloaded)

    teacher = open_page("pages/2_train.py")
    teacher.text_input(key="teacher_key_entered").set_value("owl-4").run()
    assert "That is not the teacher key." in [error.value for error in teacher.error]
    teacher.text_input(key="teacher_key_entered").set_value("owl-42").run()
    assert any("You are the teacher" in caption.value for caption in teacher.caption)
    assert not [box for box in teacher.text_input if box.key == "teacher_key_entered"]  # the key box is gone
    assert "owl-42" not in [teacher.session_state[key] for key in ("teacher_key_entered",)]  # and the key not kept
    ada_job = next(job for job in queue_holder().queue.jobs() if job.owner == "ada")
    teacher.selectbox(key="controlled_job").set_value(ada_job.job_id)
    next(button for button in teacher.button if button.label == "Stop or cancel it").click().run()
    assert wait_for_end(ada_job.job_id).state in ("stopped", "completed")
    bob_job = wait_for_end(next(job.job_id for job in queue_holder().queue.jobs() if job.owner == "bob"))
    assert bob_job.state == "completed" and bob_job.config.owner == "bob"
    assert runs.load_run(bob_job.run_dir).config["owner"] == "bob"


def test_with_a_teacher_key_a_student_deletes_only_their_own_runs(artifacts, monkeypatch):
    dataset = make_dataset(num_classes=3)
    for owner in ("ada", "bob"):
        train(TrainConfig(arch="tiny_cnn", epochs=1, owner=owner), dataset, runs_dir=artifacts / "runs")
    monkeypatch.setenv("CIFAR_CNN_TEACHER_KEY", "owl-42")
    app = name_yourself(open_page("pages/3_runs.py"), "bob")
    table = app.dataframe[0].value
    by_owner = dict(zip(table["owner"], table["run"]))
    app.multiselect(key="chosen_runs").set_value([by_owner["ada"]]).run()
    assert next(button for button in app.button if button.label == "Delete 1 run").disabled
    assert "Only their owner or the teacher may delete" in texts(app)
    app.multiselect(key="chosen_runs").set_value([by_owner["bob"]]).run()
    next(button for button in app.button if button.label == "Delete 1 run").click().run()
    next(button for button in app.button if button.label == "Yes, delete").click().run()
    assert sorted(path.name for path in (artifacts / "runs").iterdir()) == [by_owner["ada"]]


def test_a_cluster_that_cannot_be_reached_is_explained_and_the_other_pages_work(artifacts, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port}")
    app = open_page("pages/2_train.py")
    message = " ".join(error.value for error in app.error).replace("\\", "")
    assert f"Training is not available: Could not reach the Ray cluster at 127.0.0.1:{closed_port}" in message
    assert "unset RAY_ADDRESS to train on this machine" in message
    assert [button.label for button in app.button if button.label == "Try again"] == ["Try again"]
    assert not [button for button in app.button if button.label == "Train"]
    for page in ("pages/1_dataset.py", "pages/3_runs.py"):
        app.switch_page(page).run()
        assert not app.exception and not app.error, page
    monkeypatch.delenv("RAY_ADDRESS")  # fixed: Try again starts the queue
    app.switch_page("pages/2_train.py").run()
    next(button for button in app.button if button.label == "Try again").click().run()
    assert not app.error and [button.label for button in app.button if button.label == "Train"] == ["Train"]
