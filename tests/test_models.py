import keras
import numpy as np
import pytest
from keras import layers

from cifar_cnn.models import ARCHITECTURES, build_model, last_conv_layer_name, seed_cnn


def layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_seed_cnn_follows_the_seed_notebook():
    model = seed_cnn(num_classes=10)
    types = layer_types(model)
    conv_positions = [i for i, name in enumerate(types) if name == "Conv2D"]
    assert len(conv_positions) == 4
    for position in conv_positions:
        assert types[position + 1 : position + 4] == ["MaxPooling2D", "Dropout", "BatchNormalization"]
    dense_positions = [i for i, name in enumerate(types) if name == "Dense"]
    assert len(dense_positions) == 4  # 3 hidden + softmax
    for position in dense_positions[:3]:
        assert types[position + 1 : position + 3] == ["Dropout", "BatchNormalization"]
    assert types.index("Flatten") < dense_positions[0]
    output = model.layers[-1]
    assert output.units == 10 and output.activation.__name__ == "softmax"
    assert [model.get_layer(f"conv{i}").filters for i in range(1, 5)] == [32, 64, 128, 256]
    assert [model.get_layer(f"dense{i}").units for i in range(1, 4)] == [512, 256, 128]


def test_seed_cnn_options_change_the_network():
    model = seed_cnn(num_classes=4, filters=(8, 8, 16, 16), dense_units=(32, 16, 8), conv_dropout=0.1, dense_dropout=0.3)
    assert model.output_shape == (None, 4)
    assert model.get_layer("conv3").filters == 16
    assert model.get_layer("dense2").units == 16
    assert model.get_layer("conv_dropout1").rate == 0.1
    assert model.get_layer("dense_dropout1").rate == 0.3


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_takes_raw_uint8_images(name):
    model = build_model(name, num_classes=3)
    assert model.input.dtype == "uint8"
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert isinstance(model.get_layer(last_conv_layer_name(model)), layers.Conv2D)


def test_scaling_lives_inside_the_model():
    model = build_model("tiny_cnn", num_classes=2)
    scale = model.get_layer("scale_to_unit")
    assert float(keras.ops.max(scale(np.full((1, 32, 32, 3), 255, dtype=np.uint8)))) == pytest.approx(1.0)


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ValueError, match="seed_cnn"):
        build_model("resnet9000", num_classes=10)
