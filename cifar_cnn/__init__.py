"""cifar-cnn: train a Keras CNN on CIFAR-10 and explore what it learned.

The core modules (data, models, training, jobs, runs, evaluation, plots, cli)
import no Streamlit; the app's shared Streamlit glue lives in `cifar_cnn.ui`.
"""

__version__ = "0.1.0"
