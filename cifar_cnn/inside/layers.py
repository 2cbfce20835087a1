"""The layers of a model in order, a plain sentence on what each does, and one image's path through all of them.

    walk = LayerWalk(model)          # builds one Keras model with every layer's output, once
    steps = walk(image)              # one Step per layer: its LayerInfo and its output for this image
    for step in steps:
        step.info.name, step.info.kind, step.info.output_shape, step.info.sentence, step.output.shape

Everything comes from the model's layers and their configs, nothing from the architecture's name.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from cifar_cnn.models import WHITENING_LAYER

# What a layer is, in the page's words: the family decides its sentence and how its output is drawn.
INPUT, CONVOLUTION, POOLING, GLOBAL_POOLING, ACTIVATION, SOFTMAX = "input", "convolution", "pooling", "global pooling", "activation", "softmax"
NORMALISATION, TRAINING_ONLY, DENSE, RESHAPE, RESCALING, MERGE, OTHER = (
    "normalisation", "training only", "dense", "reshape", "rescaling", "merge", "other")

_FAMILIES = {
    INPUT: {"InputLayer"},
    CONVOLUTION: {"Conv2D", "DepthwiseConv2D", "SeparableConv2D"},
    POOLING: {"MaxPooling2D", "AveragePooling2D"},
    GLOBAL_POOLING: {"GlobalMaxPooling2D", "GlobalAveragePooling2D"},
    ACTIVATION: {"Activation", "ReLU", "LeakyReLU", "PReLU", "ELU"},
    SOFTMAX: {"Softmax"},
    NORMALISATION: {"BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization"},
    TRAINING_ONLY: {"Dropout", "SpatialDropout2D", "GaussianDropout", "GaussianNoise", "AlphaDropout", "RandomFlip",
                    "RandomCrop", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast", "RandomBrightness"},
    DENSE: {"Dense"},
    RESHAPE: {"Flatten", "Reshape"},
    RESCALING: {"Rescaling", "Normalization"},
    MERGE: {"Add", "Concatenate", "Multiply", "Average", "Maximum", "Subtract"},
}
# Families whose output the page draws: feature maps for spatial outputs, a strip for flat ones.
DRAWN = {INPUT, CONVOLUTION, POOLING, GLOBAL_POOLING, ACTIVATION, DENSE, MERGE, OTHER}

_ACTIVATION_WORDS = {
    "relu": "ReLU keeps the positive values and sets the negative ones to 0",
    "gelu": "GELU lets positive values through and squashes negative ones towards 0 (a smooth ReLU)",
    "elu": "ELU lets positive values through and squashes negative ones towards -1",
    "leaky_relu": "leaky ReLU keeps positive values and shrinks negative ones to a small fraction",
    "silu": "SiLU (swish) lets positive values through and squashes negative ones towards 0",
    "swish": "swish lets positive values through and squashes negative ones towards 0",
    "sigmoid": "the sigmoid squashes every value into 0 to 1",
    "tanh": "tanh squashes every value into -1 to 1",
}


class NotSpatialError(ValueError):
    """A layer whose output has no height and width: it has no feature maps to show."""


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str  # the Keras class name, e.g. "Conv2D"
    family: str  # one of the family constants above
    output_shape: tuple[int, ...]  # without the batch axis
    sentence: str  # what it does, for people

    @property
    def is_spatial(self) -> bool:
        """Whether its output is height x width x channels (feature maps)."""
        return len(self.output_shape) == 3

    @property
    def is_drawn(self) -> bool:
        return self.family in DRAWN

    @property
    def shape_text(self) -> str:
        return "×".join(f"{size:,}" for size in self.output_shape)


@dataclass(frozen=True)
class Step:
    """One layer on an image's path: what the layer is and what it output for this image (no batch axis)."""

    info: LayerInfo
    output: np.ndarray


def family(layer: keras.layers.Layer) -> str:
    kind = type(layer).__name__
    if kind == "Activation" and _activation_name(layer) == "softmax":
        return SOFTMAX
    for name, kinds in _FAMILIES.items():
        if kind in kinds:
            return name
    return OTHER


def _activation_name(layer) -> str:
    activation = layer.get_config().get("activation")
    if isinstance(activation, dict):  # a serialised custom activation
        activation = activation.get("config", {}).get("name") or activation.get("class_name")
    return str(activation or "linear")


def pair(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


def _size(pair: tuple[int, int]) -> str:
    return f"{pair[0]}×{pair[1]}"


def output_shape(layer: keras.layers.Layer) -> tuple[int, ...]:
    return tuple(int(size) if size is not None else 0 for size in layer.output.shape[1:])


def input_shape(layer: keras.layers.Layer) -> tuple[int, ...]:
    tensor = layer.input[0] if isinstance(layer.input, (list, tuple)) else layer.input
    return tuple(int(size) if size is not None else 0 for size in tensor.shape[1:])


def describe(layer: keras.layers.Layer) -> str:
    """One plain sentence (or two) on what `layer` does to its input at inference, from its config."""
    kind, config = type(layer).__name__, layer.get_config()
    fam = family(layer)
    if fam == INPUT:
        shape = output_shape(layer)
        if len(shape) == 3 and shape[-1] == 3:
            return f"The image: {shape[0]}×{shape[1]} pixels, each with 3 colour values (red, green, blue) from 0 to 255."
        return f"The input: {'×'.join(map(str, shape))} numbers."
    if fam == CONVOLUTION:
        return _describe_convolution(layer, kind, config)
    if fam == POOLING:
        pool = pair(config["pool_size"])
        strides = pair(config.get("strides") or config["pool_size"])
        how = "Keeps the largest value" if kind.startswith("Max") else "Averages the values"
        before, after = input_shape(layer), output_shape(layer)
        found = ": a feature found anywhere in the window survives" if kind.startswith("Max") else ""
        return (f"{how} of every {_size(pool)} window (step {strides[0]}), shrinking each map from {before[0]}×{before[1]} "
                f"to {after[0]}×{after[1]}{found}.")
    if fam == GLOBAL_POOLING:
        channels = output_shape(layer)[-1]
        if kind.startswith("GlobalMax"):
            return (f"Keeps the largest value of each channel's whole map: {channels} maps become {channels} numbers, one per "
                    "feature, saying how strongly it was found anywhere in the image.")
        return f"Averages each channel's whole map: {channels} maps become {channels} numbers, one per feature."
    if fam == SOFTMAX:
        return f"Softmax turns the {output_shape(layer)[-1]} scores into probabilities that add up to 100%."
    if fam == ACTIVATION:
        name = _activation_name(layer) if kind == "Activation" else kind.lower().replace("leakyrelu", "leaky_relu")
        words = _ACTIVATION_WORDS.get(name, f"applies {name} to every value")
        return f"{words[0].upper()}{words[1:]}."
    if fam == NORMALISATION:
        if kind == "BatchNormalization":
            scaled = config.get("scale", True)
            part = "channel" if len(output_shape(layer)) == 3 else "unit"
            return (f"At inference it subtracts from each {part} the mean it had in training and divides by its spread, then "
                    + ("scales and shifts it by learnt amounts" if scaled else "shifts it by a learnt amount")
                    + ", so the next layer sees values of a steady size.")
        return "Rescales the values to a steady size (subtracts their mean and divides by their spread), then scales and shifts them by learnt amounts."
    if fam == TRAINING_ONLY:
        if "rate" in config and not float(config["rate"]):
            return "Dropout with a rate of 0: it switches nothing off, in training or at inference; its output equals its input."
        if "rate" in config:
            return (f"In training it switches off {float(config['rate']):.0%} of its inputs at random, so the network cannot rely on "
                    "any one of them; it does nothing at inference: here its output equals its input.")
        return "Changes its input at random in training only; it does nothing at inference: here its output equals its input."
    if fam == DENSE:
        units, inputs = int(config["units"]), input_shape(layer)[-1]
        bias = ", plus a bias" if config.get("use_bias", True) else ""
        sentence = f"Each of its {units:,} units adds up all {inputs:,} inputs, each times its own learnt weight{bias}"
        activation = _activation_name(layer)
        if activation == "softmax":
            return sentence + f"; softmax then turns the {units} scores into probabilities that add up to 100%."
        if activation in _ACTIVATION_WORDS:
            return sentence + f"; then {_ACTIVATION_WORDS[activation]}."
        return sentence + ": one score per unit" + ("." if activation == "linear" else f", then {activation}.")
    if fam == RESHAPE:
        before, after = input_shape(layer), output_shape(layer)
        return f"Lays the {'×'.join(map(str, before))} values out as {'×'.join(f'{size:,}' for size in after)} numbers; nothing is computed."
    if fam == RESCALING:
        if kind == "Rescaling":
            scale, offset = config.get("scale", 1.0), config.get("offset", 0.0)
            scale = scale if isinstance(scale, (int, float)) else None
            offset_text = f" and adds {offset:g}" if isinstance(offset, (int, float)) and offset else ""
            if scale is not None and abs(scale - 1 / 255) < 1e-9 and not offset_text:
                return "Divides every pixel by 255, so colour values run from 0 to 1 instead of 0 to 255."
            if scale is not None:
                return f"Multiplies every value by {scale:.4g}{offset_text}: the same scores, on another scale."
            return "Multiplies every value by a fixed factor."
        return "Subtracts a fixed mean and divides by a fixed spread (set from the training data), per channel."
    if fam == MERGE:
        what = {"Add": "Adds its inputs value by value (a shortcut around the layers in between)",
                "Concatenate": "Stacks its inputs side by side"}.get(kind, f"Combines its inputs ({kind})")
        return f"{what}."
    return f"A {kind} layer."


def _describe_convolution(layer, kind: str, config: dict) -> str:
    kernel = pair(config["kernel_size"])
    strides = pair(config.get("strides", 1))
    channels_in = input_shape(layer)[-1]
    filters = config.get("filters") or output_shape(layer)[-1]
    padding = config.get("padding", "valid")
    step = f", {strides[0]} pixels at a step" if strides != (1, 1) else ""
    edge = ", keeping the map's size (zeros around the edge)" if padding == "same" and strides == (1, 1) else ""
    if kind == "DepthwiseConv2D":
        sentence = f"Slides one {_size(kernel)} filter over each of its {channels_in} channels separately{step}{edge}."
    else:
        sentence = (f"Slides {filters} filters of {_size(kernel)} pixels × {channels_in} channels over its input{step}{edge}: each output "
                    "channel is a map of where one filter's pattern appears.")
    if not layer.trainable:
        sentence += " Its filters are fixed, not learnt in training"
        if layer.name == WHITENING_LAYER:
            sentence += (": set from the training images before training, they whiten them (every output channel has the same "
                         "spread and none is correlated with another), which speeds up learning")
        sentence += "."
    activation = _activation_name(layer)
    if activation in _ACTIVATION_WORDS:
        sentence += f" Then {_ACTIVATION_WORDS[activation]}."
    elif activation != "linear":
        sentence += f" Then {activation}."
    return sentence


def info(layer: keras.layers.Layer) -> LayerInfo:
    return LayerInfo(name=layer.name, kind=type(layer).__name__, family=family(layer), output_shape=output_shape(layer),
                     sentence=describe(layer))


def _has_one_output(layer) -> bool:
    """Whether the layer has one output tensor (a layer used twice, or with several outputs, has none to show)."""
    try:
        return not isinstance(layer.output, (list, tuple, dict))
    except (AttributeError, ValueError):
        return False


def image_input(model: keras.Model):
    """The model's one input; raises ValueError for a model with several."""
    if len(model.inputs) != 1:
        raise ValueError(f"Model {model.name!r} takes {len(model.inputs)} inputs; only models with one image input can be shown.")
    return model.inputs[0]


class LayerWalk:
    """Every layer's output for one image (or a batch), from one Keras model built once from the saved model's layers."""

    def __init__(self, model: keras.Model):
        image_input(model)
        self.model = model
        shown = [layer for layer in model.layers if _has_one_output(layer)]
        self.layers: list[LayerInfo] = [info(layer) for layer in shown]
        self._inner = [layer for layer in shown if family(layer) != INPUT]
        self._outputs = keras.Model(model.inputs, [layer.output for layer in self._inner])

    def outputs(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's output for a batch of images (N x 32 x 32 x 3 uint8), by layer name, as float32."""
        values = self._outputs([np.asarray(images)], training=False)
        if not isinstance(values, (list, tuple)):
            values = [values]
        result = {layer.name: keras.ops.convert_to_numpy(keras.ops.cast(value, "float32")) for layer, value in zip(self._inner, values)}
        for layer in self.layers:
            if layer.family == INPUT:
                result[layer.name] = np.asarray(images, dtype=np.float32)
        return result

    def __call__(self, image: np.ndarray) -> list[Step]:
        """The path of one image (32 x 32 x 3 uint8) through every layer, first to last."""
        outputs = self.outputs(image[np.newaxis])
        return [Step(layer, outputs[layer.name][0]) for layer in self.layers]

    def layer(self, name: str) -> LayerInfo:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


def channel_order(maps: np.ndarray) -> np.ndarray:
    """Channel numbers of `maps` (height x width x channels), strongest first: by mean value over the map, ties by number."""
    strength = maps.reshape(-1, maps.shape[-1]).mean(axis=0)
    return np.argsort(-strength, kind="stable")


def require_spatial(layer: LayerInfo) -> None:
    """Raise NotSpatialError, saying what to pick instead, when `layer` has no feature maps."""
    if not layer.is_spatial:
        raise NotSpatialError(f"Layer {layer.name} has no spatial output (its output is {layer.shape_text} numbers, not maps), "
                              "so it has no feature maps and no receptive field: pick a convolution, pooling or activation layer.")


def spatial_layers(walk: LayerWalk) -> list[LayerInfo]:
    """The layers with feature maps that a person would pick: every spatial layer but the input."""
    return [layer for layer in walk.layers if layer.is_spatial and layer.family != INPUT]


def spatial_layer_names(model: keras.Model) -> list[str]:
    """The names of `spatial_layers` of a walk through `model`, in order, without building the walk."""
    return [layer.name for layer in model.layers if _has_one_output(layer) and info(layer).is_spatial and family(layer) != INPUT]


def first_filters(model: keras.Model) -> tuple[str, np.ndarray]:
    """(name, kernel height x width x 3 x filters) of the first convolution that reads the image's 3 colours directly.

    Raises ValueError for a model without one."""
    for layer in model.layers:
        if family(layer) == CONVOLUTION and type(layer).__name__ == "Conv2D":
            kernel = keras.ops.convert_to_numpy(keras.ops.cast(layer.kernel, "float32"))
            if kernel.ndim == 4 and kernel.shape[2] == 3:
                return layer.name, kernel
            break
    raise ValueError(f"Model {model.name!r} has no convolution reading the image's colours directly, so there are no colour filters to show.")
