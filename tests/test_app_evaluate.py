"""The Evaluate and Predict pages, headless with AppTest, on a tiny trained run."""

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from cifar_cnn import runs
from cifar_cnn.data import load_dataset
from cifar_cnn.training import TrainConfig, train
from cifar_cnn.ui.gallery import CELL_KEY
from synthetic_data import pattern_image, write_image_folder
from test_uploads import png_claiming_size

APP = str(Path(__file__).resolve().parent.parent / "overview.py")
EVALUATE, PREDICT = "pages/4_evaluate.py", "pages/5_predict.py"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A dataset folder and an artifacts folder holding one finished run trained on it."""
    root = tmp_path_factory.mktemp("evaluate")
    data = write_image_folder(root / "data", classes=("cat", "dog", "frog"), n_train=20, n_test=8)
    artifacts = root / "artifacts"
    dataset = load_dataset(data, cache_dir=artifacts / "cache")
    result = train(TrainConfig(arch="tiny_cnn", epochs=1, batch_size=16), dataset, runs_dir=artifacts / "runs")
    return data, artifacts, result.run_dir


@pytest.fixture
def app_env(trained, monkeypatch):
    data, artifacts, run_dir = trained
    monkeypatch.setenv("CIFAR10_DATA", str(data))
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(artifacts))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield run_dir
    st.cache_resource.clear()
    st.cache_data.clear()


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=90)
    app.run()
    app.switch_page(page).run()
    assert not app.exception, app.exception
    return app


def test_evaluate_shows_accuracy_charts_matrix_metrics_and_top_losses(app_env):
    app = open_page(EVALUATE)
    assert {metric.label for metric in app.metric} >= {"Train accuracy", "Test accuracy"}
    assert len(app.get("plotly_chart")) == 1  # the confusion matrix: one epoch makes no curve, and the page says so
    assert any(caption.value.replace("\\", "").startswith("No curves: this run trained for one epoch, and a curve needs two.")
               for caption in app.caption)
    headers = [header.value for header in app.header]
    assert headers == ["Confusion matrix", "Per-class metrics", "Top losses"]
    table = app.dataframe[0].value
    assert list(table["class"]) == ["cat", "dog", "frog"] and int(table["support"].sum()) == 24


def test_selecting_a_cell_shows_its_images(app_env):
    probabilities, labels = runs.load_predictions(runs.load_run(app_env))
    predicted = probabilities.argmax(axis=1)
    true_class, predicted_class = int(labels[0]), int(predicted[0])
    app = open_page(EVALUATE)
    app.session_state[CELL_KEY] = (true_class, predicted_class)
    app.run()
    assert not app.exception
    expected = int(((labels == true_class) & (predicted == predicted_class)).sum())
    subheaders = " ".join(subheader.value for subheader in app.subheader)
    assert f"{expected:,} images" in subheaders
    inspect_buttons = [button for button in app.button if button.label == "Inspect"]
    assert len(inspect_buttons) >= expected


def test_an_off_diagonal_cell_says_which_mistake(app_env):
    app = open_page(EVALUATE)
    app.session_state[CELL_KEY] = (0, 2)
    app.run()
    assert any("True cat, predicted frog" in subheader.value for subheader in app.subheader)


def test_a_confused_pair_button_opens_its_cell(app_env, trained, tmp_path, monkeypatch):
    # A run whose every cat is called a dog: the top confused pair is known.
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path))
    labels = load_dataset(trained[0], cache_dir=tmp_path / "cache").y_test
    probabilities = np.eye(3)[np.where(labels == 0, 1, labels)] * 0.8 + 0.2 / 3
    run_dir = runs.create_run({"arch": "tiny_cnn", "epochs": 1, "class_names": ["cat", "dog", "frog"]}, tmp_path / "runs")
    runs.write_predictions(run_dir, probabilities, labels)
    runs.update_status(run_dir, "completed")
    app = open_page(EVALUATE)
    pair = next(button for button in app.button if button.key and button.key.startswith("pair-"))
    assert pair.label == "cat → dog: 8"
    pair.click().run()
    assert app.session_state[CELL_KEY] == (0, 1)
    assert any("True cat, predicted dog: 8 images" in subheader.value for subheader in app.subheader)


def epoch_slider(app: AppTest):
    sliders = [slider for slider in app.select_slider if slider.label == "Epoch"]
    return sliders[0] if sliders else None


def test_a_new_run_has_an_epoch_slider_on_its_matrix_set_to_the_final_one(app_env):
    app = open_page(EVALUATE)
    slider = epoch_slider(app)
    assert slider is not None and slider.options == ["1", "final"] and slider.value == "final"


def write_run_with_epochs(tmp_path, labels, confusion=None):
    """A finished run whose final model is always right, and (given `confusion`) per-epoch matrices of earlier models."""
    run_dir = runs.create_run({"arch": "tiny_cnn", "epochs": 2, "class_names": ["cat", "dog", "frog"]}, tmp_path / "runs")
    runs.write_predictions(run_dir, np.eye(3)[labels] * 0.8 + 0.2 / 3, labels)
    if confusion is not None:
        watched = np.array([0, 1, 8, 9, 16, 17])
        runs.write_epoch_records(run_dir, runs.EpochRecords(confusion=confusion, watch_indices=watched, watch_labels=labels[watched],
                                                            watch_predictions=np.zeros((len(confusion), 6), np.int64)))
    runs.update_status(run_dir, "completed")
    return run_dir


def heatmap_counts(app: AppTest) -> list[list[int]]:
    spec = json.loads(app.get("plotly_chart")[-1].proto.spec)
    z = next(trace["z"] for trace in spec["data"] if trace["type"] == "heatmap")
    if isinstance(z, dict):  # Plotly sends arrays as base64 with their type and shape
        shape = [int(size) for size in z["shape"].split(",")]
        z = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.asarray(z).tolist()


def test_the_epoch_slider_replays_each_epochs_matrix(app_env, trained, tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path))
    labels = load_dataset(trained[0], cache_dir=tmp_path / "cache").y_test
    everything_a_cat = [[8, 0, 0], [8, 0, 0], [8, 0, 0]]  # after epoch 1
    dogs_still_cats = [[8, 0, 0], [6, 2, 0], [0, 0, 8]]  # after epoch 2
    write_run_with_epochs(tmp_path, labels, np.array([everything_a_cat, dogs_still_cats]))
    app = open_page(EVALUATE)
    slider = epoch_slider(app)
    assert slider.options == ["1", "2", "final"]
    assert heatmap_counts(app) == [[8, 0, 0], [0, 8, 0], [0, 0, 8]]  # the final model's, from its predictions
    slider.set_value(1).run()
    assert not app.exception and heatmap_counts(app) == everything_a_cat
    assert any("After epoch 1 of 2: 24 images of the test set" in caption.value and "Mistakes are listed for the final model"
               in caption.value for caption in app.caption)
    epoch_slider(app).set_value(2).run()
    assert heatmap_counts(app) == dogs_still_cats


def test_a_run_without_per_epoch_records_shows_the_final_matrix_and_says_why(app_env, trained, tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path))
    run_dir = write_run_with_epochs(tmp_path, load_dataset(trained[0], cache_dir=tmp_path / "cache").y_test)
    app = open_page(EVALUATE)
    assert epoch_slider(app) is None and heatmap_counts(app) == [[8, 0, 0], [0, 8, 0], [0, 0, 8]]
    assert any("trained before the matrix was recorded after every epoch" in caption.value for caption in app.caption)
    (run_dir / runs.EPOCHS_FILE).write_bytes(b"not an npz")
    app = open_page(EVALUATE)
    assert epoch_slider(app) is None
    assert any("epochs.npz could not be read" in caption.value.replace("\\", "") for caption in app.caption)


def test_inspect_opens_the_top5_and_gradcam(app_env):
    app = open_page(EVALUATE)
    next(button for button in app.button if button.label == "Inspect").click().run()
    assert not app.exception
    assert any("Grad-CAM uses the last convolutional layer" in caption.value for caption in app.caption)
    assert any("Top 5 classes" in chart.proto.spec for chart in app.get("plotly_chart"))


def test_evaluate_without_predictions_says_why(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path))
    failed = runs.create_run({"arch": "tiny_cnn", "epochs": 1}, tmp_path / "runs")
    runs.update_status(failed, "failed", "The loss became nan.")
    app = open_page(EVALUATE)
    assert any("has no saved test predictions" in warning.value for warning in app.warning)


def test_damaged_predictions_show_an_error_not_a_traceback(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path))
    damaged = runs.create_run({"arch": "tiny_cnn", "epochs": 1}, tmp_path / "runs")
    (damaged / "predictions.npz").write_bytes(b"not an npz")
    runs.update_status(damaged, "completed")
    app = open_page(EVALUATE)
    assert any("predictions.npz could not be read" in error.value.replace("\\", "") for error in app.error)
    app.switch_page(PREDICT).run()
    assert not app.exception
    assert any("has no saved model" in warning.value for warning in app.warning)


def test_predict_a_random_test_image(app_env):
    app = open_page(PREDICT)
    app.radio(key="predict_source").set_value("A random test image").run()
    assert not app.exception
    assert any(subheader.value.startswith("Prediction:") for subheader in app.subheader)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_predict_an_uploaded_image(app_env):
    app = open_page(PREDICT)
    app.file_uploader(key="upload").upload("dog.png", png_bytes(Image.fromarray(pattern_image(1, 3, size=64))), "image/png").run()
    assert not app.exception
    assert any(subheader.value.startswith("Prediction:") for subheader in app.subheader)
    assert any("Resized from 64x64" in info.value for info in app.info)


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("empty.png", b"", "empty"),
        ("fake.png", b"this is text", "not an image"),
        ("cut.png", png_bytes(Image.effect_noise((64, 64), 50).convert("RGB"))[:300], "truncated or damaged"),
        ("bomb.png", png_claiming_size(100_000, 100_000), "decompression bomb"),
        ("huge.bmp", b"BM" + b"\0" * (10 * 1024 * 1024), "limit is 10 MB"),
    ],
)
def test_bad_uploads_get_a_message_and_the_app_keeps_working(app_env, name, content, words):
    app = open_page(PREDICT)
    app.file_uploader(key="upload").upload(name, content, "image/png").run()
    assert not app.exception
    assert any(words in error.value.replace("\\", "") for error in app.error), [error.value for error in app.error]
    app.file_uploader(key="upload").upload("ok.png", png_bytes(Image.fromarray(pattern_image(0, 0))), "image/png").run()
    assert any(subheader.value.startswith("Prediction:") for subheader in app.subheader)


def wide_picture() -> Image.Image:
    image = Image.new("RGB", (300, 100), (0, 200, 0))
    image.paste((255, 0, 0), (0, 0, 50, 100))
    image.paste((0, 0, 255), (250, 0, 300, 100))
    return image


def test_a_picture_that_is_not_square_can_be_cropped_or_padded(app_env):
    app = open_page(PREDICT)
    app.file_uploader(key="upload").upload("wide.png", png_bytes(wide_picture()), "image/png").run()
    assert not app.exception
    choice = app.radio(key="upload_fit")
    assert choice.value == "crop" and choice.options == ["Crop: keep its centre, cut the ends off", "Pad: keep all of it, add grey bars"]
    assert any("Cropped the central 100x100 square" in info.value for info in app.info)
    choice.set_value("pad").run()
    assert not app.exception
    assert any("Padded to a 300x300 square" in info.value for info in app.info), [info.value for info in app.info]
    assert any(subheader.value.startswith("Prediction:") for subheader in app.subheader)


def test_a_square_picture_gets_no_crop_or_pad_choice(app_env):
    app = open_page(PREDICT)
    app.file_uploader(key="upload").upload("square.png", png_bytes(Image.fromarray(pattern_image(0, 0, size=64))), "image/png").run()
    assert not app.exception
    assert not [radio for radio in app.radio if radio.key == "upload_fit"]


def test_a_1x1_upload_is_warned_about(app_env):
    app = open_page(PREDICT)
    app.file_uploader(key="upload").upload("dot.png", png_bytes(Image.new("RGB", (1, 1), (200, 10, 10))), "image/png").run()
    assert not app.exception
    warnings = [warning.value.replace("\\", "") for warning in app.warning]
    assert any(warning.startswith("This image is only 1x1 pixels; the model sees 32x32, so it was enlarged") for warning in warnings), warnings
    assert any(subheader.value.startswith("Prediction:") for subheader in app.subheader)


def test_predict_offers_a_camera_beside_the_upload(app_env):
    app = open_page(PREDICT)
    assert app.radio(key="predict_source").options == ["Upload an image", "Take a photo", "A random test image"]
    app.radio(key="predict_source").set_value("Take a photo").run()
    assert not app.exception and len(app.get("camera_input")) == 1
    assert not [subheader for subheader in app.subheader if subheader.value.startswith("Prediction:")]  # nothing taken yet
