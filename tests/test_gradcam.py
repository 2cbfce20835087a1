import keras
import numpy as np
import pytest
from keras import layers

from cifar_cnn.gradcam import GradCam, overlay
from cifar_cnn.models import build_model


def red_detector() -> keras.Model:
    """Class 0 = "there is red", class 1 = "there is blue", by construction, no training."""
    inputs = keras.Input((32, 32, 3), dtype="uint8")
    x = layers.Rescaling(1 / 255)(inputs)
    conv = layers.Conv2D(2, 3, padding="same", activation="relu", name="detector")
    x = conv(x)
    x = layers.GlobalAveragePooling2D()(x)
    dense = layers.Dense(2, activation="softmax")
    outputs = dense(x)
    kernel = np.zeros((3, 3, 3, 2), dtype="float32")
    kernel[1, 1, 0, 0], kernel[1, 1, 1, 0], kernel[1, 1, 2, 0] = 1.0, -1.0, -1.0  # red
    kernel[1, 1, 2, 1], kernel[1, 1, 0, 1], kernel[1, 1, 1, 1] = 1.0, -1.0, -1.0  # blue
    conv.set_weights([kernel, np.zeros(2, dtype="float32")])
    dense.set_weights([np.array([[20.0, -20.0], [-20.0, 20.0]], dtype="float32"), np.zeros(2, dtype="float32")])
    return keras.Model(inputs, outputs)


def image_with_red_patch() -> np.ndarray:
    image = np.full((32, 32, 3), 40, dtype=np.uint8)
    image[4:10, 20:28] = (250, 0, 0)
    image[24:30, 2:8] = (0, 0, 250)
    return image


def test_heat_map_lights_up_the_planted_feature():
    heat = GradCam(red_detector(), "detector")(image_with_red_patch(), class_index=0)
    assert heat.shape == (32, 32)
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    inside = heat[4:10, 20:28].mean()
    outside = np.delete(heat.ravel(), np.ravel_multi_index(np.mgrid[4:10, 20:28].reshape(2, -1), (32, 32))).mean()
    assert inside > 0.5 and outside < 0.1
    assert np.unravel_index(heat.argmax(), heat.shape)[0] in range(3, 11)


def test_the_other_class_lights_up_its_own_feature():
    heat = GradCam(red_detector(), "detector")(image_with_red_patch(), class_index=1)
    assert heat[24:30, 2:8].mean() > 0.5 and heat[4:10, 20:28].mean() < 0.1


@pytest.mark.parametrize("arch", ["seed_cnn", "tiny_cnn"])
def test_every_architecture_gets_a_heat_map_from_its_last_conv_layer(arch):
    model = build_model(arch, num_classes=10)
    explain = GradCam(model)
    assert explain.layer_name == [layer.name for layer in model.layers if isinstance(layer, layers.Conv2D)][-1]
    heat = explain(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8), class_index=3)
    assert heat.shape == (32, 32) and heat.dtype == np.float32
    assert 0 <= heat.min() and heat.max() <= 1


def test_overlay_keeps_the_image_where_the_map_is_cold():
    image = np.full((32, 32, 3), 100, dtype=np.uint8)
    heat = np.zeros((32, 32), dtype=np.float32)
    heat[0, 0] = 1.0
    blended = overlay(image, heat)
    assert blended.dtype == np.uint8 and blended.shape == image.shape
    np.testing.assert_array_equal(blended[5, 5], image[5, 5])
    assert blended[0, 0, 0] > image[0, 0, 0]
