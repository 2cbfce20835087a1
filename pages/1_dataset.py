import numpy as np
import streamlit as st

import cifar_cnn.ui  # noqa: F401, I001 - first: on a fresh server it shows a notice while TensorFlow loads

from cifar_cnn import images, plots
from cifar_cnn.ui.sidebar import setup_page
from cifar_cnn.ui.text import plain

PAGE_SIZE = 48
SCALE = 3  # the 32x32 images enlarged 3x, shown at exactly 96 pixels (a caption wider than that would stretch them)

context = setup_page("Dataset")
st.title("Dataset")
dataset = context.dataset
if dataset is None:
    st.warning("No dataset loaded: choose a data source in the sidebar.")
    st.stop()

st.plotly_chart(
    plots.class_balance_figure(
        dataset.class_names,
        images.class_counts(dataset.y_train, dataset.num_classes),
        images.class_counts(dataset.y_test, dataset.num_classes),
    ),

)

st.subheader("Random training images per class")
left, right = st.columns([3, 1])
per_class = left.slider("Images per class", 1, 20, 10)
if right.button("Reshuffle", icon=":material/shuffle:"):
    st.session_state["sample_seed"] = int(np.random.default_rng().integers(1 << 31))
samples = images.sample_per_class(dataset.y_train, dataset.num_classes, per_class, st.session_state.get("sample_seed", 0))
for name, indices in zip(dataset.class_names, samples):
    st.markdown(f"**{plain(name)}**")
    st.image([images.enlarge(dataset.x_train[index], SCALE) for index in indices], caption=[plain(name)] * len(indices), width=32 * SCALE)

st.subheader("Browse a class")
left, middle, right = st.columns(3)
class_name = left.selectbox("Class", dataset.class_names)
split = middle.radio("Split", ["train", "test"], horizontal=True)
x, y = (dataset.x_train, dataset.y_train) if split == "train" else (dataset.x_test, dataset.y_test)
indices = np.flatnonzero(y == dataset.class_names.index(class_name))
pages = max(1, -(-len(indices) // PAGE_SIZE))
page = right.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1)
shown = indices[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
st.caption(f"{len(indices):,} {split} images of {plain(class_name)}; showing {len(shown)}, enlarged 3× without smoothing.")
st.image([images.enlarge(x[index], SCALE) for index in shown], caption=[f"\\#{index} · {plain(class_name)}" for index in shown],
         width=32 * SCALE)
