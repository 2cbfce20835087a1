"""cifar-cnn: train a Keras CNN on CIFAR-10 and explore what it learned.

The core modules (data, models, training, jobs, runs, evaluation, plots, cli)
import no Streamlit; the app's shared Streamlit glue lives in `cifar_cnn.ui`.
"""

import os
import platform

# TensorFlow's C++ start-up chatter (CUDA probes, CPU feature notes) hides useful output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with AVX-512 extensions; on an
# AVX2-only CPU they train our networks 1.3 to 2 times faster (bench/RESULTS.md, machine B). The
# setting only counts if it comes before TensorFlow's import, so every entry point imports cifar_cnn first.
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
