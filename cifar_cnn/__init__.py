"""cifar-cnn: train a Keras CNN on CIFAR-10 and explore what it learned.

The core modules (data, models, training, jobs, runs, evaluation, plots, cli)
import no Streamlit; the app's shared Streamlit glue lives in `cifar_cnn.ui`.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probes, CPU feature notes) hides useful output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
