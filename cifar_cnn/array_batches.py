"""Training and evaluation batches from in-memory arrays, for Keras backends other than TensorFlow.

tf.data (`cifar_cnn.pipeline`) needs TensorFlow; Keras' JAX and PyTorch
backends do not, and the usual way to put JAX on a GPU (`pip install
"jax[cuda]"`) brings no TensorFlow. These `keras.utils.PyDataset`s give the
same batches from NumPy alone: reshuffled every epoch, each image cropped at
its own random offset and flipped half the time (or, with alternating flips,
the other way round from the last time it was drawn), reproducible from the
seed whatever order the loader's threads run in.

A crop is a slice, not a gather: a batch's images are grouped by their offset
(at most 25 groups for 2-pixel shifts) and each group is copied with one
slice, a few milliseconds for 1,024 images, far below a GPU step.
"""

from __future__ import annotations

import math

import keras
import numpy as np

# Threads that prepare batches ahead of the accelerator; each batch costs a few milliseconds of one core.
LOADER_WORKERS = 4


def crop_and_flip(images: np.ndarray, rows: np.ndarray, cols: np.ndarray, flip: np.ndarray, padding: int) -> np.ndarray:
    """Each image padded by `padding` zero pixels, cropped back to size at (`rows[i]`, `cols[i]`) and mirrored
    left to right where `flip[i]`."""
    count, height, width = images.shape[:3]
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    out = np.empty_like(images)
    for row in range(2 * padding + 1):
        for col in range(2 * padding + 1):
            for mirrored in (False, True):
                chosen = np.flatnonzero((rows == row) & (cols == col) & (flip == mirrored))
                if chosen.size:
                    window = padded[chosen, row : row + height, col : col + width]
                    out[chosen] = window[:, :, ::-1] if mirrored else window
    return out


def batches_per_epoch(image_count: int, batch_size: int, drop_remainder: bool) -> int:
    """Full batches only with `drop_remainder`, unless there are too few images for a single one."""
    if drop_remainder and image_count >= batch_size:
        return image_count // batch_size
    return math.ceil(image_count / batch_size)


class TrainingBatches(keras.utils.PyDataset):
    """Shuffled, augmented batches of (images, targets); one pass is one epoch."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, batch_size: int, *, augment: bool, seed: int,
                 crop_padding: int = 4, alternate_flips: bool = False, drop_remainder: bool = False,
                 workers: int = LOADER_WORKERS):
        """`drop_remainder`: leave out the images that would make a last, smaller batch (other images each
        epoch, since the order changes). XLA compiles a training step per batch shape: on a GPU that smaller
        batch cost a second compilation of 1.6 to 11 seconds."""
        super().__init__(workers=workers, use_multiprocessing=False)
        self.images, self.targets, self.batch_size = images, targets, batch_size
        self.drop_remainder = drop_remainder
        self.augment, self.seed, self.crop_padding = augment, seed, crop_padding
        self.epoch = 0
        self.order = self._order_for(0)
        # With alternating flips an image is drawn once per epoch: a coin of its own says whether the first epoch
        # mirrors it, and each later epoch does the opposite of the one before.
        self.first_flips = np.random.default_rng([seed, 1]).random(len(images)) < 0.5 if alternate_flips else None

    def _order_for(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.images))

    def __len__(self) -> int:
        return batches_per_epoch(len(self.images), self.batch_size, self.drop_remainder)

    def _flips(self, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.first_flips is None:
            return rng.random(len(indices)) < 0.5
        return self.first_flips[indices] ^ bool(self.epoch % 2)

    def __getitem__(self, index: int):
        indices = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = self.images[indices]
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index, 2])
            shifts = rng.integers(0, 2 * self.crop_padding + 1, size=(2, len(indices)))
            images = crop_and_flip(images, shifts[0], shifts[1], self._flips(indices, rng), self.crop_padding)
        return images, self.targets[indices]

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order_for(self.epoch)


class EvaluationBatches(keras.utils.PyDataset):
    """Images (and targets, if given) in order, in batches."""

    def __init__(self, images: np.ndarray, targets: np.ndarray | None = None, batch_size: int = 256):
        super().__init__()
        self.images, self.targets, self.batch_size = images, targets, batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index: int):
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return (self.images[window],) if self.targets is None else (self.images[window], self.targets[window])
