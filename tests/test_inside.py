"""Inside the network (cifar_cnn.inside and pages/6_inside.py): layer outputs, receptive fields, a channel's top
images, stored embeddings, and the page for every registered architecture."""

import io
import os
import re
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import streamlit as st
import tensorflow as tf
from PIL import Image
from keras import layers as kl
from streamlit.testing.v1 import AppTest

from cifar_cnn import runs
from cifar_cnn.data import load_dataset
from cifar_cnn.inside import channels, embeddings, figures, layers, pictures, store
from cifar_cnn.models import ARCHITECTURES, build_model
from cifar_cnn.ui import inside, uploaded
from cifar_cnn.ui.text import plain
from synthetic_data import write_image_folder, write_official_batches
from test_plain_text import HOSTILE_NAMES, markup_of_every_element

APP = str(Path(__file__).resolve().parent.parent / "overview.py")
INSIDE = "pages/6_inside.py"
PREDICT = "pages/5_predict.py"
CLASSES = ("cat", "dog", "frog")


# ---------------------------------------------------------------- layer outputs


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_feature_maps_equal_keras_intermediate_outputs(arch):
    model = build_model(arch, 3)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    walk = layers.LayerWalk(model)
    outputs = walk.outputs(images)
    assert [info.name for info in walk.layers] == [layer.name for layer in model.layers]
    for layer in model.layers[1:]:
        expected = keras.ops.convert_to_numpy(keras.Model(model.inputs, layer.output)([images], training=False))
        assert outputs[layer.name].shape == expected.shape, layer.name
        np.testing.assert_allclose(outputs[layer.name], expected, rtol=1e-5, atol=1e-5, err_msg=layer.name)
    steps = walk(images[0])
    np.testing.assert_allclose(steps[-1].output, keras.ops.convert_to_numpy(model(images[:1], training=False))[0], rtol=1e-5, atol=1e-6)
    assert all(step.info.sentence and step.info.kind for step in steps)


def test_sentences_say_what_each_kind_of_layer_does():
    sentences = {step.name: step.sentence for step in layers.LayerWalk(build_model("seed_cnn", 10)).layers}
    assert "does nothing at inference" in sentences["conv_dropout1"]
    assert "largest value of every 2×2 window" in sentences["pool1"]
    assert "32 filters of 3×3" in sentences["conv1"] and "ReLU" in sentences["conv1"]
    assert "softmax" in sentences["probabilities"] and "10 scores" in sentences["probabilities"]
    assert "255" in sentences["scale_to_unit"]
    fast = {step.name: step.sentence for step in layers.LayerWalk(build_model("fast_cnn", 10)).layers}
    assert "fixed, not learnt" in fast["whiten"] and "whiten" in fast["whiten"]
    assert "Softmax" in fast["probabilities"]


def test_a_layer_without_maps_is_refused_with_a_message():
    model = build_model("tiny_cnn", 3)
    with pytest.raises(layers.NotSpatialError, match="no spatial output"):
        channels.receptive_field(model, "global_pool")
    with pytest.raises(layers.NotSpatialError, match="no spatial output"):
        channels.activation_maxima(model, "probabilities", np.zeros((2, 32, 32, 3), np.uint8))


# ---------------------------------------------------------------- receptive fields


def _stack(*stack, size=16, name="stack"):
    inputs = keras.Input((size, size, 1))
    x = inputs
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def test_receptive_field_of_conv_pool_conv():
    model = _stack(kl.Conv2D(2, 3, padding="same"), kl.MaxPooling2D(2), kl.Conv2D(2, 3, padding="same", name="last"))
    field = channels.receptive_field(model, "last")
    assert field.size == (8, 8) and field.jump == (2, 2)


@pytest.mark.parametrize("stack", [
    lambda: [kl.Conv2D(1, 3, padding="same"), kl.AveragePooling2D(2), kl.Conv2D(1, 3, padding="same")],
    lambda: [kl.Conv2D(1, 2, padding="valid"), kl.Conv2D(1, 3, strides=2, padding="same"), kl.AveragePooling2D(3, strides=2, padding="same")],
    lambda: [kl.Conv2D(1, 3, dilation_rate=2, padding="same"), kl.ReLU(), kl.AveragePooling2D(2), kl.Conv2D(1, 5, padding="valid")],
], ids=["conv-pool-conv", "valid-stride-pool", "dilated-valid"])
def test_receptive_field_box_is_where_the_gradient_reaches(stack):
    """With all weights 1 on a positive image, an output value depends on exactly the input pixels of its field."""
    model = _stack(*stack())
    for layer in model.layers:
        for weight in layer.weights:
            weight.assign(np.ones(weight.shape, np.float32))
    field = channels.receptive_field(model, model.layers[-1].name)
    height, width = model.output.shape[1:3]
    image = tf.Variable(np.ones((1, 16, 16, 1), np.float32))
    for row, col in {(0, 0), (height // 2, width // 2), (height - 1, width - 1)}:
        with tf.GradientTape() as tape:
            value = model(image)[0, row, col, 0]
        reached = np.argwhere(tape.gradient(value, image).numpy()[0, :, :, 0] != 0)
        top, bottom, left, right = field.box(row, col, 16, 16)
        assert (reached.min(axis=0).tolist(), reached.max(axis=0).tolist()) == ([top, left], [bottom - 1, right - 1]), (row, col)


# ---------------------------------------------------------------- a channel's top images


def red_detector() -> keras.Model:
    """A uint8 image model whose conv channel 0 responds only where red exceeds green and blue; channel 1 to green."""
    inputs = keras.Input((32, 32, 3), dtype="uint8")
    x = kl.Rescaling(1 / 255)(inputs)
    x = kl.Conv2D(2, 3, padding="same", activation="relu", name="colour")(x)
    x = kl.MaxPooling2D(2, name="pool")(x)
    model = keras.Model(inputs, kl.Dense(2, activation="softmax")(kl.GlobalAveragePooling2D()(x)))
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[1, 1, :, 0] = (1, -1, -1)
    kernel[1, 1, :, 1] = (-1, 1, -1)
    model.get_layer("colour").set_weights([kernel, np.zeros(2, np.float32)])
    return model


def planted_test_set():
    """Grey noise images; images 3, 11 and 17 hold a red square, of brightness 250, 200 and 150."""
    rng = np.random.default_rng(1)
    images = np.repeat(rng.integers(60, 120, (20, 32, 32, 1), dtype=np.uint8), 3, axis=3)
    for index, red, (top, left) in ((11, 200, (20, 3)), (3, 250, (5, 22)), (17, 150, (12, 12))):
        images[index, top:top + 4, left:left + 4] = (red, 10, 10)
    return images, np.zeros(20, np.int64)


def test_the_top_images_of_a_channel_are_those_with_its_feature(tmp_path):
    model, (images, labels) = red_detector(), planted_test_set()
    for layer in ("colour", "pool"):
        maxima = channels.activation_maxima(model, layer, images, batch_size=7)
        assert maxima.shape == (20, 2)
        assert channels.top_images(maxima, 0, count=3).tolist() == [3, 11, 17]
        assert set(channels.top_images(maxima, 0)) >= {3, 11, 17}
        assert not set(channels.top_images(maxima, 1, count=3)) & {3, 11, 17}  # the green channel does not care
        field = channels.receptive_field(model, layer)
        peaks = channels.peak_positions(model, layer, images[[3, 11, 17]], 0)
        for index, peak in zip((3, 11, 17), peaks):
            crop = channels.crop(images[index], field, *peak)
            assert crop.shape[:2] == field.size
            assert (crop[..., 0].astype(int) - crop[..., 1] > 100).any(), "the crop holds the red square"


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_the_top_images_of_every_layer_in_one_pass_are_those_of_each_layer_alone(arch):
    model = build_model(arch, 3)
    images = np.random.default_rng(4).integers(0, 256, (23, 32, 32, 3), dtype=np.uint8)
    names = layers.spatial_layer_names(model)
    assert names == [layer.name for layer in layers.spatial_layers(layers.LayerWalk(model))]
    tops = channels.layers_top_images(model, names, images, batch_size=10)  # batches of 10, 10 and 3: fewer than 9
    for name in names:
        maxima = channels.activation_maxima(model, name, images)
        best = np.stack([channels.top_images(maxima, channel) for channel in range(maxima.shape[1])])
        np.testing.assert_array_equal(tops[name].indices, best, err_msg=name)
        np.testing.assert_allclose(tops[name].values, np.take_along_axis(maxima.T, best, axis=1), rtol=1e-5, atol=1e-6, err_msg=name)


def test_top_images_keep_ties_in_index_order_and_fewer_images_than_nine():
    model, (images, _) = red_detector(), planted_test_set()
    images = images.copy()
    images[[2, 9]] = images[3]  # three images tie for the strongest red
    tops = channels.layers_top_images(model, ["colour"], images, batch_size=4)["colour"]
    assert tops.indices[0][:4].tolist() == [2, 3, 9, 11]
    few = channels.layers_top_images(model, ["colour", "pool"], images[:5])
    assert few["pool"].indices.shape == (2, 5) and np.isfinite(few["pool"].values).all()
    with pytest.raises(layers.NotSpatialError, match="no spatial output"):
        channels.layers_top_images(model, ["colour", model.layers[-1].name], images)
    kernel, bias = model.get_layer("colour").get_weights()
    model.get_layer("colour").set_weights([kernel, np.array([0, np.nan], np.float32)])  # a diverged channel
    diverged = channels.layers_top_images(model, ["colour"], images, batch_size=6)["colour"]
    assert diverged.indices[0][:4].tolist() == [2, 3, 9, 11] and diverged.indices[1].tolist() == list(range(9))


def test_top_images_are_stored_in_the_run_folder_and_read_back(tmp_path, monkeypatch):
    model, (images, labels) = red_detector(), planted_test_set()
    model_file = tmp_path / runs.MODEL_FILE
    model_file.write_bytes(b"stands for the model")
    key = store.test_set_key(model_file, images, labels)
    (tmp_path / store.FOLDER).mkdir()
    (tmp_path / store.FOLDER / f"maxima_colour-{key}.npy").write_bytes(b"every maximum of a layer, as stored before")
    first, read = channels.stored_top_images(tmp_path, key, model, images)
    assert not list((tmp_path / store.FOLDER).glob("maxima_*"))  # no longer read, so removed
    assert not read and list(first) == layers.spatial_layer_names(model) and {"colour", "pool"} <= set(first)  # all, in one pass
    assert first["colour"].indices[0][:3].tolist() == [3, 11, 17]
    assert len(list((tmp_path / store.FOLDER).glob("top_images-*.npz"))) == 1

    def no_recomputing(*args, **kwargs):
        raise AssertionError("computed again")

    with monkeypatch.context() as patched:
        patched.setattr(channels, "layers_top_images", no_recomputing)
        second, read = channels.stored_top_images(tmp_path, key, model, images)
    assert read and all(np.array_equal(first[name].indices, second[name].indices) for name in first)
    assert all(np.array_equal(first[name].values, second[name].values) for name in first)

    other = store.test_set_key(model_file, images, labels + 1)  # another test set: computed and stored anew
    _, read = channels.stored_top_images(tmp_path, other, model, images)
    assert not read and len(list((tmp_path / store.FOLDER).glob("top_images-*.npz"))) == 1
    next((tmp_path / store.FOLDER).glob("top_images-*.npz")).write_bytes(b"damaged")
    again, read = channels.stored_top_images(tmp_path, other, model, images)
    assert not read and np.array_equal(again["colour"].indices, first["colour"].indices)


def test_the_stored_figures_key_follows_the_model_files_contents_not_its_time(tmp_path):
    images, labels = planted_test_set()
    model_file = tmp_path / runs.MODEL_FILE
    model_file.write_bytes(b"weights A")
    first = store.test_set_key(model_file, images, labels)
    os.utime(model_file, ns=(1, 1))
    assert store.test_set_key(model_file, images, labels) == first
    model_file.write_bytes(b"weights B")  # the same size
    os.utime(model_file, ns=(2, 2))
    assert store.test_set_key(model_file, images, labels) != first


def test_the_channel_grid_has_a_click_target_on_every_map_and_frames_the_chosen_one():
    maps = np.random.default_rng(5).normal(size=(4, 6, 10)).astype(np.float32)
    shown = [7, 2, 9]
    figure = figures.channel_grid_figure(maps, shown, selected=2, columns=2, tile=20)
    boxes = pictures.grid_boxes((4, 6), 3, columns=2, tile=20)
    grid = pictures.feature_grid(maps, shown, columns=2, tile=20)
    assert (figure.layout.width, figure.layout.height) == (grid.shape[1], grid.shape[0])
    markers = figure.data[1]
    assert [row[0] for row in markers.customdata] == shown
    for x, y, (top, left, bottom, right) in zip(markers.x, markers.y, boxes):
        assert left <= x < right and top <= y < bottom
        assert (grid[top:bottom, left:right] != 255).any()  # the marker sits on a map, not on the white around it
    np.testing.assert_allclose([row[1] for row in markers.customdata], maps.reshape(-1, 10).max(axis=0)[shown])
    (frame,) = figure.layout.shapes
    top, left, bottom, right = boxes[1]  # channel 2 is the second map shown
    assert frame.x0 < left and frame.x1 > right - 1 and frame.y0 < top and frame.y1 > bottom - 1
    assert not figures.channel_grid_figure(maps, shown, selected=4).layout.shapes  # a channel not shown: no frame


def test_a_click_on_a_map_or_a_point_is_read_in_every_form_the_browser_sends(monkeypatch):
    state = {}
    monkeypatch.setattr(inside.st, "session_state", state)

    def event(*points):
        return SimpleNamespace(selection=SimpleNamespace(points=list(points)))

    for data in ([5, 0.7], {"0": 5, "1": 0.7}):
        state.clear()
        state["grid"] = event({"customdata": data})
        inside.select_clicked_channel("conv2", "grid")
        assert state[inside.channel_key("conv2")] == 5
    state["grid"] = event()  # a click that chose nothing (a second click clears the selection) leaves the channel
    inside.select_clicked_channel("conv2", "grid")
    assert state[inside.channel_key("conv2")] == 5
    for data, index in ((42, 42), ([42], 42), ({"0": 42}, 42), (None, None)):
        assert inside.clicked_index(event({"customdata": data})) == index
    assert inside.clicked_index(None) is None and inside.clicked_index(event()) is None


# ---------------------------------------------------------------- embeddings


def test_embeddings_are_stored_in_the_run_folder_and_read_back_without_recomputing(tmp_path, monkeypatch):
    model = build_model("tiny_cnn", 3)
    images = np.random.default_rng(2).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    assert embeddings.hidden_layer(model) == "global_pool"
    assert embeddings.hidden_layer(build_model("seed_cnn", 3)) == "dense_bn3"
    assert embeddings.hidden_layer(build_model("fast_cnn", 3)) == "global_pool"
    pca, read = embeddings.stored_pca(tmp_path, "key1", model, images)
    tsne, tsne_read = embeddings.stored_tsne(tmp_path, "key1", model, images)
    assert not read and not tsne_read
    assert pca.points.shape == (40, 2) and tsne.points.shape == (40, 2) and np.isfinite(tsne.points).all()
    assert len(list((tmp_path / store.FOLDER).glob("*.npz"))) == 2

    def no_recomputing(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(embeddings, "features", no_recomputing)
    again, read = embeddings.stored_pca(tmp_path, "key1", model, images)
    tsne_again, tsne_read = embeddings.stored_tsne(tmp_path, "key1", model, images, compute=False)
    assert read and tsne_read
    assert np.array_equal(again.points, pca.points) and np.array_equal(again.predicted, pca.predicted)
    assert np.array_equal(tsne_again.points, tsne.points)
    assert embeddings.stored_tsne(tmp_path, "key2", model, images, compute=False) == (None, False)


def test_names_from_the_model_and_the_data_stay_text(tmp_path):
    file = store.path(tmp_path, "maxima", "../../escape/me", "abc", ".npy")
    assert file.parent == tmp_path / store.FOLDER and "/" not in file.name and ".." not in file.name
    assert store.path(tmp_path, "maxima", "a.b", "k", ".npy") != store.path(tmp_path, "maxima", "a_b", "k", ".npy")
    projection = embeddings.Projection("PCA", "<i>layer</i>", np.zeros((4, 2), np.float32), np.arange(4), np.array([1, 0, 0, 1]))
    figure = figures.embedding_figure(projection, np.array([0, 0, 1, 1]), ['<a href="http://x.invalid/">cat</a>', "dog"])
    shown = [figure.layout.title.text] + [text for trace in figure.data for text in (trace.name, trace.hovertemplate, *trace.text)]
    assert not [text for text in shown if "<a" in text or "<i>" in text], shown
    assert "&lt;a href" in figure.data[0].name and "&lt;i&gt;" in figure.layout.title.text
    assert [trace.marker.symbol[0] for trace in figure.data] == ["circle", "circle"]  # the legend shows a dot, not a cross


def test_ten_classes_get_ten_different_colours_from_the_one_class_palette():
    from cifar_cnn.plots import CLASS_PALETTE

    labels = np.repeat(np.arange(10), 2)
    projection = embeddings.Projection("PCA", "dense", np.zeros((20, 2), np.float32), np.arange(20), labels)
    figure = figures.embedding_figure(projection, labels, [f"class {index}" for index in range(10)])
    colours = [trace.marker.color for trace in figure.data]
    assert len(set(colours)) == 10 and colours == list(CLASS_PALETTE[:10])
    assert figure.layout.title.x == 0 and figure.layout.margin.t >= 60  # the title clear of Plotly's toolbar


# ---------------------------------------------------------------- the page


def make_run(artifacts: Path, arch: str, dataset_dir: Path, classes=CLASSES) -> Path:
    """A finished run of an untrained `arch` model, with the files a trained one has."""
    model = build_model(arch, len(classes))
    run_dir = runs.create_run({"arch": arch, "class_names": list(classes), "dataset": str(dataset_dir)}, runs_dir=artifacts / "runs")
    runs.save_model(run_dir, model)
    runs.write_metrics(run_dir, {"train_accuracy": 0.3, "train_loss": 1.1, "test_accuracy": 0.3, "test_loss": 1.1})
    labels = np.repeat(np.arange(len(classes)), 6)
    runs.write_predictions(run_dir, np.full((len(labels), len(classes)), 1 / len(classes)), labels)
    runs.update_status(run_dir, "completed")
    return run_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("inside") / "data", classes=CLASSES, n_train=2, n_test=6)


@pytest.fixture
def app_env(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv("CIFAR10_DATA", str(data_dir))
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path / "artifacts"))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path / "artifacts"
    st.cache_resource.clear()
    st.cache_data.clear()


def open_inside() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page(INSIDE).run()
    assert not app.exception, app.exception
    return app


def shown_text(app: AppTest) -> str:
    kinds = ("markdown", "caption", "info", "warning", "error", "header", "subheader")
    return "\n".join(str(element.value) for kind in kinds for element in getattr(app, kind)).replace("\\", "")


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_the_page_shows_every_layer_a_channel_the_filters_and_embeddings(app_env, data_dir, arch):
    run_dir = make_run(app_env, arch, data_dir)
    app = open_inside()
    text = shown_text(app)
    assert [header.value for header in app.header] == ["Layer by layer", "One channel", "The first layer's filters", "Embeddings"]
    for layer in build_model(arch, len(CLASSES)).layers:
        assert layer.name in text
    assert "What this channel looks for" in text and not app.error
    assert list((run_dir / store.FOLDER).glob("top_images-*.npz")) and list((run_dir / store.FOLDER).glob("pca_*.npz"))
    app.selectbox(key="inside_layer").set_value(layers.spatial_layers(layers.LayerWalk(build_model(arch, 3)))[0].name).run()
    assert not app.exception, app.exception
    app.radio(key="inside_pick").set_value("At random").run()
    assert not app.exception, app.exception


def test_t_sne_is_computed_on_request_and_then_stored(app_env, data_dir):
    run_dir = make_run(app_env, "tiny_cnn", data_dir)
    app = open_inside()
    app.radio(key="inside_projection").set_value("t-SNE").run()
    compute = next(button for button in app.button if button.label.startswith("Compute t-SNE"))
    compute.click().run()
    assert not app.exception, app.exception
    assert list((run_dir / store.FOLDER).glob("tsne_*.npz"))
    app.run()  # the next visit reads it: no button
    assert not app.exception, app.exception
    assert not any(button.label.startswith("Compute t-SNE") for button in app.button)


def test_a_damaged_model_is_a_message_not_a_traceback(app_env, data_dir):
    run_dir = make_run(app_env, "tiny_cnn", data_dir)
    (run_dir / runs.MODEL_FILE).write_bytes(b"not a model")
    app = open_inside()
    assert app.error and "damaged" in app.error[0].value


def test_a_run_without_a_model_is_a_message(app_env, data_dir):
    run_dir = make_run(app_env, "tiny_cnn", data_dir)
    (run_dir / runs.MODEL_FILE).unlink()
    app = open_inside()
    assert any("has no saved model" in warning.value for warning in app.warning) and not app.header


def test_without_the_dataset_the_page_says_so_and_still_shows_the_filters(app_env, data_dir, monkeypatch, tmp_path):
    make_run(app_env, "seed_cnn", data_dir)
    monkeypatch.setenv("CIFAR10_DATA", str(tmp_path / "no-such-data"))
    app = open_inside()
    assert any("data source" in warning.value for warning in app.warning)
    assert [header.value for header in app.header] == ["The first layer's filters"]


def test_hostile_class_names_reach_the_page_as_text(app_env, monkeypatch, tmp_path):
    data = write_official_batches(tmp_path / "hostile", n_per_batch=8, num_classes=len(HOSTILE_NAMES), label_names=HOSTILE_NAMES)
    monkeypatch.setenv("CIFAR10_DATA", str(data))
    make_run(app_env, "tiny_cnn", data, classes=HOSTILE_NAMES)
    app = open_inside()
    shown = markup_of_every_element(app) + [str(caption) for image in app.get("image") for caption in image.captions]
    assert any("example" in text for text in shown), "the page shows no class name at all: the test checks nothing"
    for name in HOSTILE_NAMES:
        assert not [text for text in shown if name in text], f"{name!r} reached the page as Markdown"


def png_bytes(colour=(200, 30, 30), size=(40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def image_choices(app: AppTest) -> list[str]:
    return app.radio(key=uploaded.PICK_KEY).options


def test_an_image_uploaded_on_predict_can_be_followed_through_the_network(app_env, data_dir):
    make_run(app_env, "tiny_cnn", data_dir)
    app = open_inside()
    assert image_choices(app) == ["By class and number", "At random"]
    assert any("upload it on the Predict page" in caption.value for caption in app.caption)

    name = HOSTILE_NAMES[0] + ".png"  # a file name is user text: shown as its characters, never as Markdown
    app.switch_page(PREDICT).run()
    app.file_uploader(key="upload").upload(name, png_bytes(), "image/png").run()
    next(button for button in app.button if button.label == "Look inside the network with it").click().run()
    app.switch_page(INSIDE).run()  # AppTest does not follow st.switch_page on the runs after it
    assert not app.exception, app.exception
    assert image_choices(app) == ["By class and number", "At random", uploaded.CHOICE]
    assert app.radio(key=uploaded.PICK_KEY).value == uploaded.CHOICE
    assert [header.value for header in app.header] == ["Layer by layer", "One channel", "The first layer's filters", "Embeddings"]
    captions = [str(caption) for image in app.get("image") for caption in image.captions]
    assert any(caption.startswith(f"{plain(name)}, uploaded on Predict; the model says") for caption in captions), captions
    shown = markup_of_every_element(app) + captions
    assert not [text for text in shown if HOSTILE_NAMES[0] in text]
    # Its top images and channels are those of the test set; the upload only changes the maps.
    assert any(caption.startswith("Channel ") for caption in captions) and "What this channel looks for" in shown_text(app)

    # A file that is not an image, uploaded next, leaves no choice behind and breaks nothing.
    app.switch_page(PREDICT).run()
    app.file_uploader(key="upload").upload("notes.png", b"this is text", "image/png").run()
    assert app.error
    app.switch_page(INSIDE).run()
    assert not app.exception, app.exception
    assert image_choices(app) == ["By class and number", "At random"] and app.radio(key=uploaded.PICK_KEY).value == "By class and number"
    assert [header.value for header in app.header][:2] == ["Layer by layer", "One channel"]


def test_the_upload_choice_is_dropped_when_the_upload_is_gone(app_env, data_dir):
    make_run(app_env, "tiny_cnn", data_dir)
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state[uploaded.KEY] = uploaded.Uploaded("wrong size.png", np.zeros((8, 8, 3), np.uint8))  # not a model input
    app.session_state[uploaded.PICK_KEY] = uploaded.CHOICE
    app.run()
    app.switch_page(INSIDE).run()
    assert not app.exception, app.exception
    assert image_choices(app) == ["By class and number", "At random"]


def test_the_channel_box_opens_a_channel_and_names_the_grid_it_frames(app_env, data_dir, tmp_path):
    run_dir = make_run(app_env, "tiny_cnn", data_dir)
    app = open_inside()
    assert app.selectbox(key="inside_layer").value == "conv2"
    box = app.selectbox(key=inside.channel_key("conv2"))
    strongest = int(box.value)  # before any choice: the strongest channel for this image
    assert box.options[strongest] == f"#{strongest} (the strongest for this image)"
    assert [option for position, option in enumerate(box.options) if position != strongest] == [
        f"#{channel}" for channel in range(16) if channel != strongest]
    assert f"Channel {strongest} of conv2 over the image (yellow: strongest)" in image_captions(app)

    chosen = (strongest + 5) % 16
    box.set_value(chosen).run()
    assert not app.exception, app.exception
    captions = image_captions(app)
    assert f"Channel {chosen} of conv2 over the image (yellow: strongest)" in captions
    # The grid is drawn afresh for the chosen channel (framed on it), so a click on any map counts.
    assert [chart.key for chart in app.get("plotly_chart") if chart.key.startswith("inside_grid_")] == [f"inside_grid_{chosen}_conv2"]
    x_test = load_dataset(data_dir, cache_dir=tmp_path / "cache").x_test
    model = runs.load_model(runs.load_run(run_dir))
    best = channels.layers_top_images(model, ["conv2"], x_test)["conv2"].indices[chosen]
    shown = [caption.split(" ")[0] for caption in captions if re.match(r"^\\#\d+ .* \(-?[\d.]+\)$", caption)]
    assert shown == [f"\\#{index}" for index in best]


def image_captions(app: AppTest) -> list[str]:
    return [str(caption) for image in app.get("image") for caption in image.captions]
