"""Read CIFAR-10's pickled batches without letting a pickle run code.

A pickle names the functions that rebuild its objects, and `pickle.load`
calls them: a tampered file can name `os.system`. This unpickler admits only
what the batches need (a dict of bytes, lists, numbers and one NumPy array)
and refuses anything else before it is called.
"""

from __future__ import annotations

import codecs
import importlib
import io
import pickle

import numpy as np

from cifar_cnn.data.dataset import DataError


def _numpy_core(module: str):
    """NumPy 2 moved `numpy.core` to `numpy._core`; pickles name either."""
    for name in (f"numpy._core.{module}", f"numpy.core.{module}"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(f"numpy has no {module} module")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Python 3 writes bytes into protocol-2 pickles as `_codecs.encode(text, "latin1")`; allow only that."""
    if encoding.lower().replace("-", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


def _empty_bytes(*arguments) -> bytes:
    """Python 3 writes an empty bytes object into a protocol-2 pickle as `bytes()` (an empty batch's image data)."""
    if arguments:
        raise pickle.UnpicklingError("bytes() with arguments")
    return b""


_multiarray = _numpy_core("multiarray")
_numeric = _numpy_core("numeric")

# (module, name) as written in the pickle -> what it may rebuild with. The official
# batches (Python 2 cPickle, protocol 2) use the first three; the rest cover the same
# dict re-pickled by Python 3 and NumPy 1 or 2 at any protocol.
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy.core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source} asks to run {module}.{name}, which a CIFAR-10 batch never needs: refused, "
                "nothing was run. The file is not an official CIFAR-10 batch; download it again from a trusted source."
            ) from None


def load_batch(data: bytes, source: str):
    """Unpickle one batch file's bytes, refusing anything but plain data. `source` names it in errors."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), source).load()
    except DataError:
        raise
    except Exception as error:  # a damaged pickle raises many kinds of error
        raise DataError(f"{source} is not a readable CIFAR-10 batch ({type(error).__name__}: {error}).") from None
