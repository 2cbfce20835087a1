"""Inside the network (cifar_cnn.inside and pages/6_inside.py): layer outputs, receptive fields, a channel's top
images, stored embeddings, and the page for every registered architecture."""

from pathlib import Path

import keras
import numpy as np
import pytest
import streamlit as st
import tensorflow as tf
from keras import layers as kl
from streamlit.testing.v1 import AppTest

from cifar_cnn import runs
from cifar_cnn.inside import channels, embeddings, figures, layers, store
from cifar_cnn.models import ARCHITECTURES, build_model
from synthetic_data import write_image_folder, write_official_batches
from test_plain_text import HOSTILE_NAMES, markup_of_every_element

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
INSIDE = "pages/6_inside.py"
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


def test_channel_maxima_are_stored_in_the_run_folder_and_read_back(tmp_path):
    model, (images, labels) = red_detector(), planted_test_set()
    model_file = tmp_path / runs.MODEL_FILE
    model_file.write_bytes(b"stands for the model")
    key = store.test_set_key(model_file, images, labels)
    first, read = channels.stored_maxima(tmp_path, key, model, "colour", images)
    assert not read and list((tmp_path / store.FOLDER).glob("maxima_colour-*.npy"))
    second, read = channels.stored_maxima(tmp_path, key, model, "colour", images)
    assert read and np.array_equal(first, second)
    other = store.test_set_key(model_file, images, labels + 1)  # another test set: computed and stored anew
    assert other != key
    _, read = channels.stored_maxima(tmp_path, other, model, "colour", images)
    assert not read and len(list((tmp_path / store.FOLDER).glob("maxima_colour-*.npy"))) == 1


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
    assert list((run_dir / store.FOLDER).glob("maxima_*.npy")) and list((run_dir / store.FOLDER).glob("pca_*.npz"))
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
