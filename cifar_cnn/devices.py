"""The GPUs the Keras backend in use can train on, whichever backend that is.

TensorFlow, JAX and PyTorch each list their own devices; precision, the
distribution strategy and the live metrics' reading rate ask here instead.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: tuple[int, int]  # (8, 0) and up compute bfloat16 natively (NVIDIA Ampere on)


def _tensorflow_gpus() -> list[Gpu]:
    import tensorflow as tf

    found = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        found.append(Gpu(details.get("device_name", device.name), tuple(details.get("compute_capability", (0, 0)))))
    return found


def _jax_gpus() -> list[Gpu]:
    import jax

    found = []
    for device in jax.devices():
        if device.platform == "gpu":
            major, _, minor = str(getattr(device, "compute_capability", "0.0")).partition(".")
            found.append(Gpu(device.device_kind, (int(major or 0), int(minor or 0))))
    return found


def _torch_gpus() -> list[Gpu]:
    import torch

    return [Gpu(torch.cuda.get_device_name(index), tuple(torch.cuda.get_device_capability(index)))
            for index in range(torch.cuda.device_count())]


@functools.cache  # the hardware does not change while the app runs
def gpus() -> tuple[Gpu, ...]:
    """The GPUs Keras' backend sees (none for a backend without GPU support)."""
    listers = {"tensorflow": _tensorflow_gpus, "jax": _jax_gpus, "torch": _torch_gpus}
    lister = listers.get(keras.backend.backend())
    return tuple(lister()) if lister else ()


def describe() -> str:
    """The hardware training runs on, in words, for logs and benchmark figures."""
    names = [gpu.name for gpu in gpus()]
    where = ", ".join(names) if names else "CPU"
    return f"{where} (Keras {keras.__version__} on {keras.backend.backend()})"
