"""cifar-cnn: the Overview page, the first the dashboard shows (`streamlit run streamlit_app.py` starts it)."""

import streamlit as st

import cifar_cnn.ui  # noqa: F401, I001 - first: on a fresh server it shows a notice while TensorFlow loads

from cifar_cnn import plots, run_labels
from cifar_cnn import format
from cifar_cnn.ui.sidebar import setup_page
from cifar_cnn.ui.text import plain, plain_list

context = setup_page("Overview")
st.title("Teach a computer to see: CIFAR-10")
st.markdown(
    """
This app trains a **convolutional neural network** (CNN) to sort small 32×32 photos into
10 classes, then shows what it learned and where it goes wrong.

1. **Dataset**: look at the pictures and how many there are of each class.
2. **Train**: pick settings, press **Train** and watch the loss fall and the accuracy rise, live.
3. **Runs**: compare what different settings did.
4. **Evaluate**: see which classes the model confuses, open the mistakes, and ask where it looked (Grad-CAM).
5. **Predict**: show it your own picture.
"""
)

st.subheader("Dataset")
if context.dataset is None:
    st.warning("No dataset loaded: choose a data source in the sidebar.")
else:
    dataset = context.dataset
    columns = st.columns(3)
    columns[0].metric("Training images", f"{len(dataset.x_train):,}")
    columns[1].metric("Test images", f"{len(dataset.x_test):,}")
    columns[2].metric("Classes", dataset.num_classes)
    st.caption(f"From {plain(dataset.source)}. Classes: {plain_list(dataset.class_names)}.")

st.subheader("Latest run")
finished = [run for run in context.runs if run.metrics]
if not finished:
    st.info("No finished run yet. Train one on the Train page.")
else:
    latest = finished[0]
    columns = st.columns(3)
    columns[0].metric("Train accuracy", format.percent(latest.metrics["train_accuracy"]))
    columns[1].metric("Test accuracy", format.percent(latest.metrics["test_accuracy"]))
    columns[2].metric("Epochs", latest.progress)
    st.caption(f"{plain(run_labels.describe(latest))} (run {plain(latest.run_id)})")
    if len(latest.history):
        left, right = st.columns(2)
        left.plotly_chart(plots.loss_figure(latest.history, latest.metrics))
        right.plotly_chart(plots.accuracy_figure(latest.history, latest.metrics))
        st.caption(plots.CURVES_HELP)
