"""Training throughput of the seed CNN: this library against the seed notebook's way.

- notebook: the seed notebook's recipe, `model.fit` on float32 NumPy arrays
  scaled by 1/255 (batch 64, Adam, no augmentation);
- library: `cifar_cnn.training.train` with the same network as the seed preset
  runs it: uint8 images through a tf.data pipeline with augmentation, batch 128,
  precision "auto" (bfloat16 where the CPU computes it natively, float32
  elsewhere; the JSON says which). Its images/s over the notebook's is `ratio`;
- library_batch_128_float32: the same in float32, where "auto" chose bfloat16;
- library_batch_64_*: the notebook's batch of 64 in float32, with and without augmentation.

Both run on the same images in one process, alternating for several rounds
since a shared machine's speed drifts. Images/s counts training batches of
the epochs after the first (which includes tracing); validation is excluded.
The last line is a JSON object with both figures and their `ratio`.

    python bench/throughput.py --data ../shared/data/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import cifar_cnn  # noqa: E402, F401  (before TensorFlow: it sets TensorFlow's CPU options for both contenders)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from live_overhead import TrainingTimer, images_per_s  # noqa: E402

from cifar_cnn.data import load_dataset  # noqa: E402
from cifar_cnn.models import seed_cnn  # noqa: E402
from cifar_cnn.training.precision import resolve_precision  # noqa: E402
from cifar_cnn.training.presets import build_config  # noqa: E402
from cifar_cnn.training import train  # noqa: E402


def notebook_fit(x_train: np.ndarray, y_train: np.ndarray, epochs: int, num_classes: int) -> float:
    """The seed notebook: float arrays in, the network without its built-in scaling."""
    keras.utils.set_random_seed(0)
    library_model = seed_cnn(num_classes)
    inputs = keras.Input((32, 32, 3), dtype="float32")
    x = inputs
    for layer in library_model.layers[2:]:  # skip the uint8 input and the Rescaling layer
        x = layer.__class__.from_config(layer.get_config())(x)
    model = keras.Model(inputs, x)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = TrainingTimer()
    model.fit(x_train.astype("float32") / 255, y_train, batch_size=64, epochs=epochs, callbacks=[timer], verbose=0)
    return images_per_s(timer, len(x_train))


LIBRARY_PRECISION = resolve_precision("auto")
LIBRARY_VARIANTS = {
    "library_batch_64_float32": dict(precision="float32"),
    "library_batch_64_no_augment": dict(precision="float32", augment=False),
    **({"library_batch_128_float32": dict(precision="float32", batch_size=128)} if LIBRARY_PRECISION != "float32" else {}),
    "library": dict(precision=LIBRARY_PRECISION, batch_size=128),
}


def library_train(dataset, subset: int, epochs: int, settings: dict, runs_dir: Path) -> float:
    timer = TrainingTimer()
    notebook_like = dict(arch="seed_cnn", epochs=epochs, batch_size=64, subset=subset, augment=True, validation="holdout",
                         holdout_fraction=0.01)
    config = build_config(**{**notebook_like, **settings})
    train(config, dataset, runs_dir=runs_dir, callbacks=[timer])
    return images_per_s(timer, int(subset * 0.99 + 0.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a local CIFAR-10 copy (see README)")
    parser.add_argument("--subset", type=int, default=10_000, help="training images per epoch (default 10000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measurement, the first not counted (default 3)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    args = parser.parse_args()

    dataset = load_dataset(args.data)
    order = np.random.default_rng(0).permutation(len(dataset.x_train))[: args.subset]
    x_train, y_train = dataset.x_train[order], dataset.y_train[order]
    figures = {"notebook": [], **{name: [] for name in LIBRARY_VARIANTS}}
    with tempfile.TemporaryDirectory() as runs_dir:
        for round_number in range(1, args.rounds + 1):
            figures["notebook"].append(notebook_fit(x_train, y_train, args.epochs, dataset.num_classes))
            for name, settings in LIBRARY_VARIANTS.items():
                figures[name].append(library_train(dataset, args.subset, args.epochs, settings, Path(runs_dir)))
            print(f"round {round_number}: " + ", ".join(f"{name} {values[-1]:.0f} images/s" for name, values in figures.items()), flush=True)
    medians = {name: statistics.median(values) for name, values in figures.items()}
    ratio = medians["library"] / medians["notebook"]
    print("median images/s: " + ", ".join(f"{name} {value:.0f}" for name, value in medians.items()) + f"; ratio {ratio:.3f}")
    print(json.dumps({**{f"{name}_images_per_s": round(value, 1) for name, value in medians.items()}, "ratio": round(ratio, 4),
                      "library_precision": LIBRARY_PRECISION, "rounds": args.rounds}))


if __name__ == "__main__":
    main()
